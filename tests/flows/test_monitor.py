"""The monitor flow on forecasts written earlier: realised accuracy, the MLflow run per check, a level shift flagged."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from flows.batch_forecast import batch_forecast
from flows.monitor import monitor
from flows.train import train
from lstm_pipeline.config import load_config

pytestmark = pytest.mark.flows

TINY = {
    "model.units": [8],
    "train.epochs": 20,
    "train.ensemble": 1,
    "train.epochs_per_check": 5,
    "train.learning_rate": 0.01,
    "promotion.max_vs_seasonal_naive": 1000,
    "evaluate.season_length": 7,
}
SLOTS = ["2025-05-31", "2025-06-07", "2025-06-14"]


def daily(days: int = 120) -> pd.DataFrame:
    """A weekly cycle with noise, 2025-03-02 to 2025-06-29."""
    t = np.arange(days)
    y = 10 + np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 0.2, days)
    return pd.DataFrame({"unique_id": "shop", "ds": pd.date_range("2025-03-02", periods=days, freq="D"), "y": y})


def expected_mase(slot: pd.DataFrame, actuals: pd.DataFrame, cutoff: str) -> float:
    """MASE of one slot of one series, written out: mean |error| over the seasonal-naive MAE before the cutoff."""
    past = actuals.loc[actuals["ds"] <= cutoff, "y"].to_numpy()
    joined = slot.merge(actuals, on=["unique_id", "ds"])
    return float(np.mean(np.abs(joined["y"] - joined["yhat"])) / np.mean(np.abs(past[7:] - past[:-7])))


def test_realised_accuracy_is_scored_logged_per_version_and_a_level_shift_is_flagged(pipeline_home, tmp_path):
    actuals = daily()
    actuals[actuals["ds"] <= SLOTS[0]].to_csv(tmp_path / "history.csv", index=False)
    actuals.to_csv(tmp_path / "actuals.csv", index=False)
    cfg = load_config(None, {**TINY, "tracking.experiment": "monitored", "tracking.model_name": "monitored"})
    train(config=cfg, data=str(tmp_path / "history.csv"))
    slots = [
        batch_forecast(model_name="monitored", data=str(tmp_path / "actuals.csv"), horizon=7, as_of=day).path
        for day in SLOTS
    ]

    summary = monitor(data=str(tmp_path / "actuals.csv"), config=cfg)
    (check,) = summary.checks
    assert (check.version, check.points, check.series) == ("1", 21, 1)
    assert list(check.by_as_of["as_of"]) == SLOTS and list(check.by_step["step"]) == list(range(1, 8))
    by_hand = [expected_mase(pd.read_parquet(path), actuals, day) for path, day in zip(slots, SLOTS, strict=True)]
    assert check.metrics["realised_mase"] == pytest.approx(np.mean(by_hand))
    assert list(check.by_as_of["realised_mase"]) == pytest.approx(by_hand)
    assert check.promise.source == "test_mase" and np.isfinite(check.promise.mase)

    run = mlflow.MlflowClient().get_run(summary.run_ids["1"])
    assert run.data.tags["monitor.model_version"] == "1" and run.data.tags["lstm_pipeline.kind"] == "monitoring"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, "realised_mase_by_as_of")
    assert [m.step for m in history] == [20250531, 20250607, 20250614]
    assert run.data.metrics["realised_mase"] == pytest.approx(check.metrics["realised_mase"])

    shifted = actuals.assign(y=np.where(actuals["ds"] > SLOTS[0], actuals["y"] + 5.0, actuals["y"]))
    shifted.to_csv(tmp_path / "shifted.csv", index=False)
    after = monitor(data=str(tmp_path / "shifted.csv"), config=cfg)
    assert summary.drifted == {"1": []} and after.drifted == {"1": ["shop"]}
    flagged = after.checks[0]
    assert flagged.degraded and "realised MASE" in flagged.reasons[0]
    assert flagged.metrics["realised_mase"] > 5 * check.metrics["realised_mase"]
