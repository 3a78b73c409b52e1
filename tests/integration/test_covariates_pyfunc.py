"""A model trained with calendar covariates, log transform and anchor: its pyfunc forecasts as in process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.config import load_config
from lstm_pipeline.evaluation import evaluate_saved_model
from lstm_pipeline.forecasting import forecast, predict_batched
from lstm_pipeline.model import load_network
from lstm_pipeline.tracking import log_training_run
from lstm_pipeline.training import train_and_save
from lstm_pipeline.windowing import make_windows
from tests.integration.conftest import TINY
from tests.integration.test_pyfunc import predict_in_fresh_process

pytestmark = pytest.mark.integration

OPTIONS = {
    **TINY,
    "window.lookback": 12,
    "window.horizon": 3,
    "window.val_size": 12,
    "window.test_size": 12,
    "window.covariates": ["month"],
    "window.transform": "log",
    "window.anchor": "mean",
    "evaluate.season_length": 12,
    "tracking.experiment": "covariates-roundtrip",
}


def monthly_panel() -> pd.DataFrame:
    """Two positive monthly series with a yearly cycle and growth, like airline passengers."""
    ds = pd.date_range("2010-01-01", periods=72, freq="MS")
    season = np.sin(2 * np.pi * (ds.month.to_numpy() - 1) / 12)
    frames = [
        pd.DataFrame({"unique_id": uid, "ds": ds, "y": level * np.exp(0.01 * np.arange(72) + 0.2 * season)})
        for uid, level in (("north", 100.0), ("south", 300.0))
    ]
    return pd.concat(frames, ignore_index=True)


def test_covariate_model_forecasts_the_same_through_its_pyfunc_in_a_fresh_process(tmp_path, pipeline_home):
    cfg = load_config(None, OPTIONS)
    frame = monthly_panel()
    data = make_windows(frame, cfg.window)
    keras_path = tmp_path / "model.keras"
    training = train_and_save(data, cfg, keras_path)
    network = load_network(keras_path)
    assert network.input_shape == (None, 12, 3)  # y, sin(month), cos(month)
    logged = log_training_run(
        cfg=cfg,
        frame=frame,
        source="monthly",
        training=training,
        evaluation=evaluate_saved_model(keras_path, frame, data, cfg),
        figures={},
        keras_path=str(keras_path),
        scaler=data.scaler,
    )
    # 7 steps: three model calls of 3, the last two fed back with the months they forecast.
    expected = forecast(
        lambda X: predict_batched(network, X), frame, lookback=12, model_horizon=3, horizon=7, scaler=data.scaler
    )
    assert expected["yhat"].gt(0).all()  # expm1 of the network's log-scale output
    predict_in_fresh_process(logged.model_uri, frame, tmp_path)
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert list(got["ds"].iloc[:7]) == list(pd.date_range("2016-01-01", periods=7, freq="MS"))
    pd.testing.assert_frame_equal(got[["unique_id", "ds", "yhat"]], expected, rtol=1e-6, check_dtype=False)
