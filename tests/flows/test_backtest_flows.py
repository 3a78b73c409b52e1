"""Backtests in the flows: the backtest flow's own run, and the train flow calibrating the model's intervals."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from flows.backtest import backtest
from flows.batch_forecast import batch_forecast
from flows.train import train
from lstm_pipeline.config import load_config
from tests.flows.test_flows import tiny

pytestmark = pytest.mark.flows

BACKTEST = {"backtest.windows": 4, "backtest.horizon": 3, "backtest.interval_levels": [80, 95]}


def test_backtest_flow_logs_one_run_with_step_metrics_tables_and_plot(pipeline_home):
    summary = backtest(config=load_config(None, tiny("bt-flow", **BACKTEST)))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["stage"] == "backtest"
    assert run.data.params["backtest.windows"] == "4"
    assert run.data.metrics["backtest_mase"] == pytest.approx(summary.metrics["backtest_mase"])
    assert [m.step for m in client.get_metric_history(summary.run_id, "backtest_mase_by_step")] == [1, 2, 3]
    assert [m.step for m in client.get_metric_history(summary.run_id, "backtest_mase_by_fold")] == [0, 1, 2, 3]
    paths = {a.path for folder in ("backtest", "plots") for a in client.list_artifacts(summary.run_id, folder)}
    assert paths == {
        "backtest/mase_per_series.csv", "backtest/errors.csv", "backtest/intervals.json", "plots/backtest_folds.png"
    }  # fmt: skip
    assert "95% interval" in run.data.tags["backtest.notes"]  # 4 errors per step: too few for 95%
    assert client.search_registered_models(filter_string="name = 'bt-flow'") == []


def test_train_with_a_backtest_forecasts_with_calibrated_intervals(pipeline_home):
    summary = train(config=load_config(None, tiny("bt-train", **BACKTEST)))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert "backtest_mase" in run.data.metrics and "backtest_seasonal_naive_mase" in run.data.metrics
    assert (
        "last 10 points of 1 series"
        in client.get_model_version("bt-train", summary.registered.version).tags["gate.window"]
    )

    written = pd.read_parquet(batch_forecast(model_name="bt-train", horizon=5).path)
    assert {"yhat_lower_80", "yhat_upper_80"} <= set(written.columns) and "yhat_lower_95" not in written.columns
    calibrated, beyond = written.iloc[:3], written.iloc[3:]
    assert (calibrated["yhat_lower_80"] < calibrated["yhat"]).all()
    assert (calibrated["yhat"] < calibrated["yhat_upper_80"]).all()
    assert beyond[["yhat_lower_80", "yhat_upper_80"]].isna().all().all()  # past the backtest horizon
    widths = (calibrated["yhat_upper_80"] - calibrated["yhat_lower_80"]).to_numpy()
    assert np.all(np.isfinite(widths))
