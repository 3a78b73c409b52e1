"""Unit tests for calendar covariates and the log transform: encoding, windows, recursive forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.config import WindowConfig, load_config
from lstm_pipeline.errors import ConfigError, DataValidationError
from lstm_pipeline.forecasting import forecast
from lstm_pipeline.recipe import Scaler, calendar_features
from lstm_pipeline.windowing import make_windows

QUARTER = 2 * np.pi / 4  # a quarter of a cycle: sin 1, cos 0


def monthly(uid: str, n: int, start: str = "2020-01-01", values=None) -> pd.DataFrame:
    y = np.arange(1.0, n + 1) if values is None else np.asarray(values, dtype="float64")
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range(start, periods=n, freq="MS"), "y": y})


def window(covariates=(), transform="none", lookback=3, horizon=1) -> WindowConfig:
    return WindowConfig(
        lookback=lookback,
        horizon=horizon,
        val_size=2,
        test_size=2,
        covariates=list(covariates),
        transform=transform,
        anchor="none",
    )


# --- encoding ----------------------------------------------------------------------------------


def test_encoding_values_at_known_dates():
    # 2024-01-01 is a Monday; 2024-04-04 06:00 is a Thursday, a quarter of the way through the day.
    ds = pd.to_datetime(["2024-01-01 00:00", "2024-04-04 06:00", "2024-12-31 00:00"])
    got = calendar_features(ds, ["month", "dayofweek", "hour", "dayofyear"])
    assert got.shape == (3, 8)
    np.testing.assert_allclose(got[0], [0, 1, 0, 1, 0, 1, 0, 1], atol=1e-12)
    month, weekday, hour = 3 / 12, 3 / 7, 6 / 24
    expected_april = [np.sin(2 * np.pi * month), np.cos(2 * np.pi * month), np.sin(2 * np.pi * weekday)]
    np.testing.assert_allclose(got[1, :3], expected_april, atol=1e-12)
    np.testing.assert_allclose(got[1, 4:6], [np.sin(2 * np.pi * hour), np.cos(2 * np.pi * hour)], atol=1e-12)
    np.testing.assert_allclose(got[1, 0:2], [1.0, 0.0], atol=1e-12)  # April: a quarter of the year
    # December sits next to January on the circle, not eleven units away.
    january, december = calendar_features(pd.to_datetime(["2024-01-01", "2024-12-01"]), ["month"])
    assert np.hypot(*(january - december)) == pytest.approx(2 * np.sin(np.pi / 12))


def test_timezone_aware_dates_encode_their_wall_clock():
    ds = pd.Series(pd.date_range("2024-01-01 06:00", periods=2, freq="h", tz="UTC")).to_numpy()
    np.testing.assert_allclose(calendar_features(ds, ["hour"])[0], [1.0, 0.0], atol=1e-12)


def test_integer_steps_cannot_carry_calendar_covariates():
    with pytest.raises(DataValidationError, match="covariates need dates"):
        calendar_features(np.arange(5), ["month"])
    frame = monthly("a", 20).assign(ds=np.arange(20))
    with pytest.raises(DataValidationError, match="covariates need dates"):
        make_windows(frame, window(["month"]))


@pytest.mark.parametrize(
    ("freq", "covariate"), [("YS", "month"), ("W-MON", "dayofweek"), ("D", "hour"), ("YS", "dayofyear")]
)
def test_a_covariate_without_a_cycle_at_that_frequency_is_refused(freq, covariate):
    frame = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2000-01-01", periods=20, freq=freq), "y": 1.0})
    with pytest.raises(DataValidationError, match=f"covariate varies.*'{covariate}'.*'a'"):
        make_windows(frame, window([covariate]))


def test_config_refuses_unknown_and_repeated_covariates():
    with pytest.raises(ConfigError, match=r"window\.covariates"):
        load_config(None, {"window.covariates": ["weekofyear"]})
    with pytest.raises(ConfigError, match="twice"):
        load_config(None, {"window.covariates": ["month", "month"]})
    with pytest.raises(ConfigError, match=r"window\.transform"):
        load_config(None, {"window.transform": "sqrt"})
    assert load_config(None, {"window.covariates": ["month", "hour"]}).window.covariates == ["month", "hour"]


# --- windows -----------------------------------------------------------------------------------


def test_windows_carry_y_then_sin_cos_of_each_input_timestamp():
    frame = pd.concat([monthly("a", 20), monthly("b", 20, start="2021-06-01")], ignore_index=True)
    plain = make_windows(frame, window())
    data = make_windows(frame, window(["month", "dayofyear"]))
    for with_cov, without in ((data.train, plain.train), (data.val, plain.val), (data.test, plain.test)):
        assert with_cov.X.shape == (*without.X.shape[:2], 5)
        np.testing.assert_array_equal(with_cov.X[:, :, :1], without.X)  # y channel unchanged
        np.testing.assert_array_equal(with_cov.y, without.y)  # the target stays the scaled y
    # First training window of b: inputs 2021-06, 07, 08 -> month phases 5/12, 6/12, 7/12.
    first_b = int(np.flatnonzero(data.train.index["unique_id"] == "b")[0])
    angles = 2 * np.pi * np.array([5, 6, 7]) / 12
    np.testing.assert_allclose(data.train.X[first_b, :, 1], np.sin(angles), atol=1e-6)
    np.testing.assert_allclose(data.train.X[first_b, :, 2], np.cos(angles), atol=1e-6)
    assert data.train.index["cutoff"].iloc[first_b] == pd.Timestamp("2021-08-01")


def test_empty_split_has_the_covariate_channels_too():
    cfg = WindowConfig(lookback=3, horizon=1, val_size=0, test_size=2, covariates=["month"], anchor="none")
    data = make_windows(monthly("a", 12), cfg)
    assert data.val.X.shape == (0, 3, 3)


# --- log transform -----------------------------------------------------------------------------


def test_log_transform_scales_log1p_and_inverts_exactly():
    frame = monthly("a", 20, values=np.geomspace(100, 600, 20))
    data = make_windows(frame, window(transform="log"))
    train = np.log1p(frame["y"].to_numpy()[:16])
    assert data.scaler.loc["a"] == pytest.approx(train.mean())
    assert data.scaler.scale["a"] == pytest.approx(train.std())
    np.testing.assert_allclose(data.train.X[0, :, 0], (train[:3] - train.mean()) / train.std(), rtol=1e-6)
    raw = frame["y"].to_numpy()[None, :]
    np.testing.assert_allclose(data.scaler.inverse(np.array(["a"]), data.scaler.transform("a", raw)), raw)


def test_log_transform_needs_values_above_minus_one():
    frame = monthly("a", 20, values=np.r_[np.ones(19), -1.0])
    with pytest.raises(DataValidationError, match=r"log transform needs y > -1.*'a' has 1 values"):
        make_windows(frame, window(transform="log"))


def test_scaler_state_round_trips_and_stays_as_before_without_options():
    plain = Scaler.fit("standard", {"a": np.arange(5.0)})
    assert set(plain.to_dict()) == {"method", "loc", "scale"}  # models logged before still load
    rich = Scaler.fit(
        "minmax", {"a": np.arange(5.0)}, value_transform="log", covariates=["month", "hour"], anchor="mean"
    )
    assert Scaler.from_dict(rich.to_dict()) == rich
    assert Scaler.from_dict(plain.to_dict()) == plain


# --- anchor: windows measured from their own level --------------------------------------------


def test_anchored_windows_are_the_plain_ones_minus_each_windows_level():
    frame = monthly("a", 30, values=np.geomspace(100, 600, 30))
    plain = make_windows(frame, window(horizon=2))
    for anchor, level in (("last", plain.train.X[:, -1, 0]), ("mean", plain.train.X[:, :, 0].mean(axis=1))):
        data = make_windows(frame, window(horizon=2).model_copy(update={"anchor": anchor}))
        assert data.train.levels is not None and data.train.levels.shape == (len(data.train), 2)
        np.testing.assert_allclose(data.train.levels, np.repeat(level[:, None], 2, axis=1), atol=1e-6)
        np.testing.assert_allclose(data.train.X[:, :, 0], plain.train.X[:, :, 0] - level[:, None], atol=1e-6)
        np.testing.assert_allclose(data.train.y, plain.train.y - level[:, None], atol=1e-6)
    assert plain.train.levels is None


def test_forecasts_add_each_windows_level_back():
    # Recursive: a model that predicts "no change from the level" repeats the mean of the window.
    scaler = Scaler.fit("none", {"a": np.zeros(1)}, anchor="mean")
    out = forecast(
        lambda X: np.zeros((len(X), 1)), monthly("a", 4), lookback=2, model_horizon=1, horizon=3, scaler=scaler
    )
    np.testing.assert_allclose(out["yhat"], [3.5, 3.75, 3.625])


# --- forecasting -------------------------------------------------------------------------------


class Recorder:
    """A fake one-step model that predicts the last scaled y plus one and keeps every input."""

    def __init__(self) -> None:
        self.calls: list[np.ndarray] = []

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.calls.append(X.copy())
        return X[:, -1, :1] + 1.0


def test_recursive_forecast_feeds_back_the_covariates_of_the_future_dates():
    history = pd.concat([monthly("a", 6, start="2023-07-01"), monthly("b", 6, start="2024-01-01")], ignore_index=True)
    scaler = Scaler.fit("none", {"a": np.zeros(1), "b": np.zeros(1)}, covariates=["month"])
    predict = Recorder()
    out = forecast(predict, history, lookback=3, model_horizon=1, horizon=4, scaler=scaler)
    assert [X.shape for X in predict.calls] == [(2, 3, 3)] * 4
    # a ends 2023-12: its forecasts are for 2024-01..04; b ends 2024-06: 2024-07..10.
    assert list(out["ds"]) == [
        *pd.date_range("2024-01-01", periods=4, freq="MS"),
        *pd.date_range("2024-07-01", periods=4, freq="MS"),
    ]
    for call, X in enumerate(predict.calls):
        # The last input step of call k is the step forecast by call k-1 (or the last observation).
        last_month = {"a": np.array([12, 1, 2, 3]), "b": np.array([6, 7, 8, 9])}
        for row, uid in enumerate(("a", "b")):
            angle = 2 * np.pi * (last_month[uid][call] - 1) / 12
            np.testing.assert_allclose(X[row, -1, 1:], [np.sin(angle), np.cos(angle)], atol=1e-6)
    np.testing.assert_allclose(out["yhat"], [7, 8, 9, 10, 7, 8, 9, 10])  # recursion on y still works


def test_block_forecast_dates_shift_by_whole_blocks():
    history = monthly("a", 5, start="2024-01-01")
    scaler = Scaler.fit("none", {"a": np.zeros(1)}, covariates=["month"])
    seen: list[np.ndarray] = []

    def two_steps(X: np.ndarray) -> np.ndarray:
        seen.append(X.copy())
        return np.repeat(X[:, -1, :1], 2, axis=1)

    forecast(two_steps, history, lookback=3, model_horizon=2, horizon=5, scaler=scaler)
    assert len(seen) == 3  # 2 + 2 + 2 >= 5
    months = [np.rint(np.mod(np.arctan2(X[0, :, 1], X[0, :, 2]) / (2 * np.pi) * 12, 12)).astype(int) + 1 for X in seen]
    assert [list(m) for m in months] == [[3, 4, 5], [5, 6, 7], [7, 8, 9]]


def test_forecast_with_covariates_refuses_integer_history():
    history = monthly("a", 5).assign(ds=np.arange(5))
    scaler = Scaler.fit("none", {"a": np.zeros(1)}, covariates=["month"])
    with pytest.raises(DataValidationError, match="covariates need dates"):
        forecast(Recorder(), history, lookback=3, model_horizon=1, horizon=2, scaler=scaler)


def test_log_forecasts_come_back_in_raw_units():
    history = monthly("a", 5, values=[9.0, 99.0, 999.0, 9.0, 99.0])
    scaler = Scaler.fit("none", {"a": np.zeros(1)}, value_transform="log")
    out = forecast(lambda X: X[:, -1, :1], history, lookback=3, model_horizon=1, horizon=2, scaler=scaler)
    np.testing.assert_allclose(out["yhat"], [99.0, 99.0])
