"""Calendar covariates, log transform, STL deseasonalisation and an anchor: the pyfunc forecasts as in process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.config import load_config
from tests.integration.conftest import TINY, fit_and_log
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
    "window.deseasonalise": True,
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
    fitted, logged = fit_and_log(frame, cfg)
    network = fitted.ensemble.members[0].network
    assert network.input_shape == (None, 12, 3)  # y, sin(month), cos(month)
    # 7 steps: three model calls of 3, the last two fed back with the months they forecast.
    expected = fitted.ensemble.forecast(frame, 7)
    assert expected["yhat"].gt(0).all()  # expm1 of the network's log-scale output
    predict_in_fresh_process(logged.model_uri, frame, tmp_path)
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert list(got["ds"].iloc[:7]) == list(pd.date_range("2016-01-01", periods=7, freq="MS"))
    pd.testing.assert_frame_equal(got[["unique_id", "ds", "yhat"]], expected, rtol=1e-6, check_dtype=False)
