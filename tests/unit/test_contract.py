"""Unit tests for lstm_pipeline.contract.check_series: every rule of the data contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.contract import check_series
from lstm_pipeline.errors import DataValidationError


def frame_of(rows: list[tuple[str, object, float]]) -> pd.DataFrame:
    uids, ds, y = zip(*rows, strict=True)
    return pd.DataFrame({"unique_id": list(uids), "ds": list(ds), "y": np.array(y, dtype="float64")})


def good_frame() -> pd.DataFrame:
    return frame_of([("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 3.0), ("b", 0, 4.0), ("b", 5, 5.0), ("b", 9, 6.0)])


def datetime_frame() -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=3, freq="D")
    return pd.DataFrame({"unique_id": "a", "ds": ds, "y": [1.0, 2.0, 3.0]})


def error_message(frame: pd.DataFrame, min_length: int = 1) -> str:
    with pytest.raises(DataValidationError) as info:
        check_series(frame, min_length=min_length)
    return str(info.value)


def test_good_frame_passes_unchanged():
    frame = good_frame()
    before = frame.copy()
    assert check_series(frame, min_length=3) is frame
    pd.testing.assert_frame_equal(frame, before)


def test_good_datetime_frame_passes():
    frame = datetime_frame()
    assert check_series(frame, min_length=3) is frame


def test_interleaved_series_that_are_each_increasing_pass():
    frame = frame_of([("a", 0, 1.0), ("b", 0, 1.0), ("a", 1, 1.0), ("b", 1, 1.0)])
    assert check_series(frame, min_length=2) is frame


def test_extra_columns_are_allowed():
    frame = good_frame().assign(note="x")
    assert check_series(frame, min_length=1) is frame


@pytest.mark.parametrize("dropped", ["unique_id", "ds", "y"])
def test_missing_column_is_named(dropped):
    message = error_message(good_frame().drop(columns=dropped))
    assert "required columns" in message
    assert repr(dropped) in message


def test_empty_frame():
    empty = pd.DataFrame({"unique_id": pd.Series([], dtype=str), "ds": [], "y": pd.Series([], dtype="float64")})
    assert "at least one series" in error_message(empty)


@pytest.mark.parametrize("position", [0, 1, 2], ids=["leading", "isolated", "trailing"])
def test_nan_y(position):
    frame = good_frame()
    frame.loc[position, "y"] = np.nan
    message = error_message(frame)
    assert "finite y" in message
    assert "1 row(s)" in message


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_infinite_y(bad):
    frame = good_frame()
    frame.loc[4, "y"] = bad
    message = error_message(frame)
    assert "finite y" in message
    assert "inf" in message


def test_several_nan_y_are_counted():
    frame = good_frame()
    frame.loc[[0, 3, 5], "y"] = np.nan
    assert "3 row(s)" in error_message(frame)


def test_nat_ds():
    frame = datetime_frame()
    frame.loc[1, "ds"] = pd.NaT
    assert "non-null ds" in error_message(frame)


def test_nan_integer_step_ds():
    frame = good_frame()
    frame["ds"] = frame["ds"].astype("float64")
    frame.loc[5, "ds"] = np.nan
    assert "non-null ds" in error_message(frame)


def test_duplicate_ds_within_a_series():
    frame = frame_of([("a", 0, 1.0), ("a", 1, 2.0), ("a", 1, 3.0)])
    assert "strictly increasing ds per series" in error_message(frame)


def test_same_ds_in_different_series_is_fine():
    frame = frame_of([("a", 0, 1.0), ("a", 1, 2.0), ("b", 0, 3.0), ("b", 1, 4.0)])
    assert check_series(frame, min_length=2) is frame


def test_unsorted_ds_within_a_series():
    frame = frame_of([("a", 0, 1.0), ("a", 2, 2.0), ("a", 1, 3.0), ("b", 0, 4.0)])
    message = error_message(frame)
    assert "strictly increasing ds per series" in message
    assert "1 row(s)" in message  # only the row that steps back


def test_unsorted_datetime_ds():
    frame = datetime_frame().iloc[[0, 2, 1]].reset_index(drop=True)
    assert "strictly increasing ds per series" in error_message(frame)


def test_interleaved_series_with_one_going_back_in_time():
    frame = frame_of([("a", 0, 1.0), ("b", 5, 1.0), ("a", 1, 1.0), ("b", 4, 1.0)])
    message = error_message(frame)
    assert "strictly increasing ds per series" in message
    assert "1 row(s)" in message


def test_short_series_is_named():
    frame = frame_of([("long", 0, 1.0), ("long", 1, 1.0), ("long", 2, 1.0), ("tiny", 0, 1.0)])
    message = error_message(frame, min_length=3)
    assert "enough history" in message
    assert "'tiny' has 1" in message
    assert "long" not in message.split("enough history")[1]


def test_min_length_is_inclusive():
    frame = frame_of([("a", 0, 1.0), ("a", 1, 1.0)])
    assert check_series(frame, min_length=2) is frame
    assert "enough history" in error_message(frame, min_length=3)


def test_several_broken_rules_are_listed_in_one_message():
    frame = frame_of([("a", 0, np.nan), ("a", 0, 1.0), ("a", 1, np.inf), ("b", 0, 1.0)])
    message = error_message(frame, min_length=2)
    for rule in ("finite y", "strictly increasing ds per series", "enough history"):
        assert rule in message
    assert "'b' has 1" in message


def test_the_history_rule_says_which_settings_add_up():
    from lstm_pipeline.config import load_config
    from lstm_pipeline.validation import history_needed

    cfg = load_config(None, {"window.lookback": 100, "window.horizon": 8, "window.val_size": 10})
    why = history_needed(cfg.window, "training", 128)
    assert why == "window.lookback 100 + window.horizon 8 + window.val_size 10 + window.test_size 10"
    assert "window.lookback" in history_needed(cfg.window, "forecast", 100)
    assert "backtest.windows" in history_needed(cfg.window, "backtest", 150)
