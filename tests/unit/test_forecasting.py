"""Unit tests for lstm_pipeline.forecasting with numpy fakes in place of a Keras model."""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.forecasting import forecast, write_forecasts
from lstm_pipeline.recipe import Scaler


class RecordingPredict:
    """A fake model: `step(X)` gives the (n, horizon) block; every call's input is kept."""

    def __init__(self, horizon: int, step):
        self.horizon, self.step, self.calls = horizon, step, []

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.calls.append(X.copy())
        return self.step(X)


def repeat_last(horizon: int) -> RecordingPredict:
    return RecordingPredict(horizon, lambda X: np.repeat(X[:, -1, :], horizon, axis=1))


def last_plus_step(horizon: int) -> RecordingPredict:
    """Predicts last + 1, last + 2, ... (in scaled units), so recursion is visible in the output."""
    return RecordingPredict(horizon, lambda X: X[:, -1, :] + np.arange(1, horizon + 1))


def constant(horizon: int, value: float) -> RecordingPredict:
    return RecordingPredict(horizon, lambda X: np.full((len(X), horizon), value))


def history(uid: str, values, ds) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(values, dtype="float64")})


def no_scaling(*uids: str) -> Scaler:
    return Scaler.fit("none", {uid: np.zeros(1) for uid in uids})


# --- forecast: calendar and layout -------------------------------------------------------------


def test_integer_steps_continue_with_the_series_step():
    frame = history("a", [1, 2, 3, 4], ds=[10, 12, 14, 16])
    predict = repeat_last(3)
    result = forecast(predict, frame, lookback=2, model_horizon=3, horizon=3, scaler=no_scaling("a"))
    assert list(result.columns) == ["unique_id", "ds", "yhat"]
    assert list(result["unique_id"]) == ["a"] * 3
    assert list(result["ds"]) == [18, 20, 22]
    assert list(result["yhat"]) == [4.0, 4.0, 4.0]


def test_daily_and_hourly_series_continue_their_own_frequency():
    daily = history("day", [1, 2, 3, 4, 5], ds=pd.date_range("2024-01-28", periods=5, freq="D"))
    hourly = history("hour", [5, 6, 7, 8, 9], ds=pd.date_range("2024-03-01 20:00", periods=5, freq="h"))
    frame = pd.concat([hourly, daily], ignore_index=True)
    result = forecast(repeat_last(2), frame, lookback=3, model_horizon=2, horizon=2, scaler=no_scaling("day", "hour"))
    assert len(result) == 2 * 2  # one row per series per step
    day, hour = result[result["unique_id"] == "day"], result[result["unique_id"] == "hour"]
    assert list(day["ds"]) == [pd.Timestamp("2024-02-02"), pd.Timestamp("2024-02-03")]
    assert list(hour["ds"]) == [pd.Timestamp("2024-03-02 01:00"), pd.Timestamp("2024-03-02 02:00")]
    assert list(day["yhat"]) == [5.0, 5.0]
    assert list(hour["yhat"]) == [9.0, 9.0]
    assert pd.api.types.is_datetime64_any_dtype(result["ds"])


def test_month_start_series_follow_the_calendar_not_the_last_gap():
    frame = history("m", [1, 2, 3], ds=pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]))
    result = forecast(repeat_last(2), frame, lookback=2, model_horizon=2, horizon=2, scaler=no_scaling("m"))
    assert list(result["ds"]) == [pd.Timestamp("2024-04-01"), pd.Timestamp("2024-05-01")]


def test_two_point_datetime_history_uses_the_last_gap():
    frame = history("a", [1, 2], ds=pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:15"]))
    result = forecast(repeat_last(2), frame, lookback=2, model_horizon=2, horizon=2, scaler=no_scaling("a"))
    assert list(result["ds"]) == [pd.Timestamp("2024-01-01 00:30"), pd.Timestamp("2024-01-01 00:45")]


def test_irregular_datetime_history_uses_the_commonest_step():
    # Steps of 10, 15 and 10 minutes: pandas infers no frequency, so the commonest step continues.
    ds = pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:10", "2024-01-01 00:25", "2024-01-01 00:35"])
    frame = history("a", [1, 2, 3, 4], ds=ds)
    result = forecast(repeat_last(2), frame, lookback=2, model_horizon=2, horizon=2, scaler=no_scaling("a"))
    assert list(result["ds"]) == [pd.Timestamp("2024-01-01 00:45"), pd.Timestamp("2024-01-01 00:55")]


def test_values_are_inverse_scaled_per_series():
    # a trains on 0, 2 (mean 1, std 1); b on 10, 30 (mean 20, std 10). The model outputs scaled 0.5.
    scaler = Scaler.fit("standard", {"a": np.array([0.0, 2.0]), "b": np.array([10.0, 30.0])})
    frame = pd.concat([history("b", [10, 20, 30], ds=[0, 1, 2]), history("a", [0, 1, 2], ds=[0, 1, 2])])
    result = forecast(constant(2, 0.5), frame, lookback=2, model_horizon=2, horizon=2, scaler=scaler)
    assert list(result["unique_id"]) == ["a", "a", "b", "b"]
    np.testing.assert_allclose(result["yhat"], [1.5, 1.5, 25.0, 25.0])


def test_the_model_sees_the_last_lookback_values_scaled_as_float32():
    scaler = Scaler.fit("standard", {"a": np.array([0.0, 2.0])})  # mean 1, std 1
    predict = repeat_last(1)
    forecast(
        predict, history("a", [9, 4, 6, 8], ds=[0, 1, 2, 3]), lookback=3, model_horizon=1, horizon=1, scaler=scaler
    )
    (X,) = predict.calls
    assert X.dtype == np.float32
    assert X.shape == (1, 3, 1)
    np.testing.assert_allclose(X[0, :, 0], [3.0, 5.0, 7.0])


# --- forecast: recursion -----------------------------------------------------------------------


@pytest.mark.parametrize(("model_horizon", "horizon"), [(1, 1), (2, 5), (3, 6), (4, 3), (1, 4)])
def test_recursion_calls_the_model_once_per_block_with_all_series(model_horizon, horizon):
    frame = pd.concat([history(u, np.arange(6), ds=np.arange(6)) for u in ("a", "b", "c")])
    predict = repeat_last(model_horizon)
    result = forecast(
        predict, frame, lookback=4, model_horizon=model_horizon, horizon=horizon, scaler=no_scaling("a", "b", "c")
    )
    assert len(predict.calls) == math.ceil(horizon / model_horizon)
    assert all(X.shape == (3, 4, 1) for X in predict.calls)
    assert len(result) == 3 * horizon
    assert (result.groupby("unique_id").size() == horizon).all()


def test_recursion_feeds_forecasts_back_as_inputs():
    # No scaling; the fake predicts last+1, last+2. Blocks: (11, 12), then from 12: (13, 14), then (15, 16).
    frame = history("a", [8, 9, 10], ds=[0, 1, 2])
    predict = last_plus_step(2)
    result = forecast(predict, frame, lookback=3, model_horizon=2, horizon=5, scaler=no_scaling("a"))
    assert list(result["yhat"]) == [11.0, 12.0, 13.0, 14.0, 15.0]
    assert list(result["ds"]) == [3, 4, 5, 6, 7]
    np.testing.assert_array_equal(predict.calls[1][0, :, 0], [10, 11, 12])
    np.testing.assert_array_equal(predict.calls[2][0, :, 0], [12, 13, 14])


def test_recursion_with_scaling_steps_in_scaled_units():
    # std scaler of [0, 4]: mean 2, std 2. Last value 6 -> scaled 2; +1 per step in scaled units = +2 raw.
    scaler = Scaler.fit("standard", {"a": np.array([0.0, 4.0])})
    frame = history("a", [2, 4, 6], ds=[0, 1, 2])
    result = forecast(last_plus_step(1), frame, lookback=2, model_horizon=1, horizon=3, scaler=scaler)
    np.testing.assert_allclose(result["yhat"], [8.0, 10.0, 12.0])


def test_model_wider_than_lookback_still_recurses():
    frame = history("a", [1, 2], ds=[0, 1])
    predict = last_plus_step(3)
    result = forecast(predict, frame, lookback=2, model_horizon=3, horizon=6, scaler=no_scaling("a"))
    assert list(result["yhat"]) == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    np.testing.assert_array_equal(predict.calls[1][0, :, 0], [4, 5])


# --- forecast: errors --------------------------------------------------------------------------


def test_history_shorter_than_lookback_is_a_validation_error():
    frame = pd.concat([history("ok", np.arange(5), ds=np.arange(5)), history("tiny", [1, 2], ds=[0, 1])])
    predict = repeat_last(1)
    with pytest.raises(DataValidationError, match=r"enough history.*'tiny'"):
        forecast(predict, frame, lookback=3, model_horizon=1, horizon=1, scaler=no_scaling("ok", "tiny"))
    assert predict.calls == []


def test_single_point_history_is_a_validation_error_even_with_lookback_one():
    with pytest.raises(DataValidationError, match="enough history"):
        forecast(
            repeat_last(1), history("a", [1], ds=[0]), lookback=1, model_horizon=1, horizon=1, scaler=no_scaling("a")
        )


def test_unknown_series_is_a_validation_error():
    with pytest.raises(DataValidationError, match="'new'"):
        forecast(
            repeat_last(1),
            history("new", [1, 2, 3], ds=[0, 1, 2]),
            lookback=2,
            model_horizon=1,
            horizon=1,
            scaler=no_scaling("a"),
        )


# --- write_forecasts ---------------------------------------------------------------------------


def sample_forecasts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": ["a", "a", "b"],
            "ds": pd.date_range("2024-01-01", periods=3, freq="D"),
            "yhat": [1.5, 2.5, -3.0],
        }
    )


def test_write_forecasts_reads_back_equal_and_creates_folders(tmp_path):
    target = tmp_path / "deep" / "er" / "forecasts.parquet"
    frame = sample_forecasts()
    written = write_forecasts(frame, target)
    assert written == target
    pd.testing.assert_frame_equal(pd.read_parquet(target), frame, check_dtype=False)
    assert list(target.parent.iterdir()) == [target]  # no temporary file left behind


def test_write_forecasts_overwrites_the_target(tmp_path):
    target = tmp_path / "forecasts.parquet"
    write_forecasts(sample_forecasts(), target)
    newer = sample_forecasts().assign(yhat=[7.0, 8.0, 9.0])
    write_forecasts(newer, target)
    pd.testing.assert_frame_equal(pd.read_parquet(target), newer, check_dtype=False)
    assert list(tmp_path.iterdir()) == [target]


def test_write_forecasts_replaces_the_target_with_a_rename_from_the_same_folder(tmp_path, monkeypatch):
    target = tmp_path / "forecasts.parquet"
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_forecasts(sample_forecasts(), target)
    ((src, dst),) = renames
    assert os.path.dirname(src) == str(tmp_path)
    assert src != dst
    assert dst == str(target)


def test_unconvertible_column_leaves_no_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "forecasts.parquet"
    bad = sample_forecasts().assign(yhat=[object(), object(), object()])
    with pytest.raises(Exception, match="yhat"):
        write_forecasts(bad, target)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_existing_target_unchanged(tmp_path):
    target = tmp_path / "forecasts.parquet"
    write_forecasts(sample_forecasts(), target)
    before = target.read_bytes()
    with pytest.raises(Exception, match="yhat"):
        write_forecasts(sample_forecasts().assign(yhat=[1, "two", 3.0]), target)
    assert target.read_bytes() == before
    assert list(tmp_path.iterdir()) == [target]


def test_interrupted_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "forecasts.parquet"
    write_forecasts(sample_forecasts(), target)
    before = target.read_bytes()

    def crash_half_way(self, path, **kwargs):
        with open(path, "wb") as handle:
            handle.write(b"PAR1 half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash_half_way)
    with pytest.raises(KeyboardInterrupt):
        write_forecasts(sample_forecasts(), target)
    assert target.read_bytes() == before
    assert list(tmp_path.iterdir()) == [target]


def test_written_file_gets_the_same_permissions_as_a_plain_write(tmp_path):
    plain = tmp_path / "plain.parquet"
    sample_forecasts().to_parquet(plain, index=False)
    atomic = write_forecasts(sample_forecasts(), tmp_path / "atomic.parquet")
    assert oct(atomic.stat().st_mode & 0o777) == oct(plain.stat().st_mode & 0o777)


def test_non_finite_forecasts_are_refused_before_anything_is_written():
    from lstm_pipeline.errors import TrainingDivergedError
    from lstm_pipeline.forecasting import check_finite_forecasts

    good = pd.DataFrame({"unique_id": ["a", "b"], "ds": [1, 1], "yhat": [1.0, 2.0], "yhat_lower_80": [np.nan] * 2})
    assert check_finite_forecasts(good, "m v1") is good  # NaN intervals past the calibrated horizon are fine
    for bad in (np.nan, np.inf):
        with pytest.raises(TrainingDivergedError, match=r"m v1 forecast 1 NaN or infinite value\(s\) \(series \['b'\]"):
            check_finite_forecasts(good.assign(yhat=[1.0, bad]), "m v1")
