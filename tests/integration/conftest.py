from __future__ import annotations

import pytest

from lstm_pipeline.config import PipelineConfig, load_config
from lstm_pipeline.sources import load_series
from lstm_pipeline.windowing import make_windows

pytestmark = pytest.mark.integration

TINY = {
    "model.units": [8],
    "train.epochs": 30,
    "window.anchor": "none",  # windows cut directly from this config; mixed ensembles have their own tests
    "train.ensemble": 1,
    "train.epochs_per_check": 5,
    "train.early_stopping_patience": None,
    "train.learning_rate": 0.01,
}


def fit_and_log(frame, cfg: PipelineConfig):
    """Fit, score and refit the configured ensemble (the train flow's path) and log it as one MLflow run."""
    from lstm_pipeline.fitting import fit_and_evaluate, training_record
    from lstm_pipeline.tracking import begin_training_run, log_training_run

    fitted = fit_and_evaluate(frame, cfg)
    run = begin_training_run(cfg)
    return fitted, log_training_run(training_record(fitted, frame, cfg), run.run_id)


@pytest.fixture
def tiny_cfg() -> PipelineConfig:
    """The demo sine with a small network: trains in about a second."""
    return load_config(None, TINY)


@pytest.fixture
def sine_data(tiny_cfg: PipelineConfig):
    frame = load_series(tiny_cfg.source)
    return frame, make_windows(frame, tiny_cfg.window)
