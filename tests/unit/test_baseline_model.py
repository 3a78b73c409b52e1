"""The fallback pyfunc: statsforecast's own forecasts, the LSTM pyfunc's timestamps, columns and input errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.pyfunc.model import PythonModelContext

from lstm_pipeline.baseline_model import ClassicForecaster
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.forecasting import forecast
from lstm_pipeline.pyfunc_model import LstmForecaster
from lstm_pipeline.recipe import Scaler

SEASON = 7


def two_series(seed: int = 0) -> pd.DataFrame:
    """Daily series of different lengths and starts: weekly seasonality plus noise."""
    rng = np.random.default_rng(seed)

    def one(uid: str, start: str, n: int) -> pd.DataFrame:
        t = np.arange(n)
        y = 10 + 3 * np.sin(2 * np.pi * t / SEASON) + rng.normal(0, 0.5, n)
        return pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=n, freq="D"), "y": y})

    return pd.concat([one("a", "2024-01-01", 60), one("b", "2024-02-10", 45)], ignore_index=True)


def baseline(tmp_path, method: str, levels: list[float] | None = None, horizon: int = 5) -> ClassicForecaster:
    """The pyfunc as MLflow loads it: `load_context` on its JSON state."""
    state = {"method": method, "season_length": SEASON, "horizon": horizon, "min_history": SEASON + 1}
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps({**state, "interval_levels": levels or []}), encoding="utf-8")
    model = ClassicForecaster()
    model.load_context(PythonModelContext(artifacts={"baseline": str(path)}, model_config={}))
    return model


def statsforecast_own(frame: pd.DataFrame, model: object, horizon: int, levels: list[float] | None = None):
    from statsforecast import StatsForecast

    return StatsForecast(models=[model], freq="D").forecast(df=frame, h=horizon, level=levels)


def lstm_timestamps(frame: pd.DataFrame, horizon: int) -> np.ndarray:
    """The `ds` the LSTM forecasts make for the same history (any network: only the timestamps count)."""
    scaler = Scaler.fit("none", {uid: np.zeros(1) for uid in frame["unique_id"].unique()})
    zeros = forecast(
        lambda X: np.zeros((len(X), horizon)), frame, lookback=2, model_horizon=horizon, horizon=horizon, scaler=scaler
    )
    return zeros["ds"].to_numpy()


@pytest.mark.parametrize("method", ["seasonal_naive", "AutoETS", "AutoTheta"])
def test_forecasts_are_statsforecasts_own_with_the_lstm_timestamps(tmp_path, method):
    from statsforecast import models

    frame = two_series()
    sf_model = models.SeasonalNaive(SEASON) if method == "seasonal_naive" else getattr(models, method)(SEASON)
    expected = statsforecast_own(frame, sf_model, 12)
    got = baseline(tmp_path, method).predict(None, frame.sample(frac=1, random_state=1), params={"horizon": 12})
    assert list(got.columns) == ["unique_id", "ds", "yhat"]
    assert got["unique_id"].tolist() == ["a"] * 12 + ["b"] * 12
    np.testing.assert_allclose(got["yhat"], expected[sf_model.alias], rtol=1e-6)
    np.testing.assert_array_equal(got["ds"].to_numpy(), lstm_timestamps(frame, 12))
    np.testing.assert_array_equal(got["ds"].to_numpy(), expected["ds"].to_numpy())


def test_seasonal_naive_repeats_the_last_season_as_the_evaluation_column_does(tmp_path):
    frame = two_series()
    got = baseline(tmp_path, "seasonal_naive").predict(None, frame, params={"horizon": 9})
    last_week = frame[frame["unique_id"] == "a"]["y"].to_numpy()[-SEASON:]
    np.testing.assert_allclose(got["yhat"][:9], np.concatenate([last_week, last_week[:2]]))


def test_intervals_are_statsforecasts_under_the_lstm_column_names(tmp_path):
    from statsforecast.models import AutoETS

    frame = two_series()
    got = baseline(tmp_path, "AutoETS", levels=[80.0, 95.0]).predict(None, frame, params=None)
    assert list(got.columns) == [
        "unique_id",
        "ds",
        "yhat",
        "yhat_lower_80",
        "yhat_upper_80",
        "yhat_lower_95",
        "yhat_upper_95",
    ]
    assert len(got) == 10  # the stored horizon, 5 steps for 2 series
    expected = statsforecast_own(frame, AutoETS(season_length=SEASON), 5, levels=[80.0, 95.0])
    np.testing.assert_allclose(got["yhat_lower_95"], expected["AutoETS-lo-95.0"], rtol=1e-6)
    np.testing.assert_allclose(got["yhat_upper_80"], expected["AutoETS-hi-80.0"], rtol=1e-6)


def test_integer_steps_continue_with_integer_ds(tmp_path):
    frame = two_series().assign(ds=lambda f: f.groupby("unique_id").cumcount())
    got = baseline(tmp_path, "AutoETS").predict(None, frame, params={"horizon": 3})
    assert got["ds"].tolist() == [60, 61, 62, 45, 46, 47]
    assert np.isfinite(got["yhat"]).all()


def test_too_short_a_history_is_the_lstm_pyfuncs_validation_error(tmp_path):
    short = two_series().groupby("unique_id").head(SEASON).reset_index(drop=True)
    lstm = LstmForecaster()
    lstm.lookback = SEASON + 1  # what load_context reads from the state; the check comes before any network
    with pytest.raises(DataValidationError, match="rule 'enough history'") as from_lstm:
        lstm.predict(None, short)
    with pytest.raises(DataValidationError, match="rule 'enough history'") as from_baseline:
        baseline(tmp_path, "AutoETS").predict(None, short)
    assert type(from_baseline.value) is type(from_lstm.value)


def test_a_series_with_a_gap_is_a_validation_error(tmp_path):
    frame = two_series()
    gapped = frame.drop(index=[20, 21]).reset_index(drop=True)  # two days missing in series a
    with pytest.raises(DataValidationError, match="no gaps") as raised:
        baseline(tmp_path, "seasonal_naive").predict(None, gapped)
    assert "2024-01-23" in str(raised.value)  # the row after the gap is shown


def test_a_horizon_out_of_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="horizon must be between 1 and"):
        baseline(tmp_path, "AutoETS").predict(None, two_series(), params={"horizon": 10**6})
