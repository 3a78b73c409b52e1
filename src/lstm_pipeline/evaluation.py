"""Test-set evaluation: load the saved network, forecast the test windows, score against baselines."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.forecasting import forecast_windows, predict_batched
from lstm_pipeline.metrics import score_forecasts, summarize
from lstm_pipeline.model import load_network
from lstm_pipeline.windowing import WindowedData


@dataclass(frozen=True)
class Evaluation:
    """Test forecasts per window, per-series scores, and the averaged metrics MLflow logs."""

    forecasts: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict[str, float]


def evaluate_saved_model(
    keras_path: str | Path, frame: pd.DataFrame, data: WindowedData, cfg: PipelineConfig
) -> Evaluation:
    """Score the network as saved on disk, so what is measured is exactly what gets logged."""
    network = load_network(keras_path)
    forecasts = forecast_windows(lambda X: predict_batched(network, X), data.test, data.scaler)
    held_out = cfg.window.val_size + cfg.window.test_size
    train_sizes = {str(uid): n - held_out for uid, n in frame.groupby("unique_id").size().items()}
    scores = score_forecasts(frame, forecasts, train_sizes=train_sizes, season_length=cfg.evaluate.season_length)
    return Evaluation(forecasts, scores, summarize(scores))
