from __future__ import annotations

import pytest

from lstm_pipeline.config import PipelineConfig, load_config
from lstm_pipeline.sources import load_series
from lstm_pipeline.windowing import make_windows

pytestmark = pytest.mark.integration

TINY = {
    "model.units": [8],
    "train.epochs": 30,
    "train.epochs_per_check": 5,
    "train.early_stopping_patience": None,
    "train.learning_rate": 0.01,
}


@pytest.fixture
def tiny_cfg() -> PipelineConfig:
    """The demo sine with a small network: trains in about a second."""
    return load_config(None, TINY)


@pytest.fixture
def sine_data(tiny_cfg: PipelineConfig):
    frame = load_series(tiny_cfg.source)
    return frame, make_windows(frame, tiny_cfg.window)
