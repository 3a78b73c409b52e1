"""Unit tests for lstm_pipeline.windowing: time split, train-only scaling and sliding windows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_pipeline.config import WindowConfig
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.recipe import Scaler
from lstm_pipeline.windowing import make_windows, min_history


def series(uid: str, values, ds=None) -> pd.DataFrame:
    values = np.asarray(values, dtype="float64")
    ds = np.arange(len(values), dtype="int64") if ds is None else ds
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": values})


def config(lookback=3, horizon=2, val_size=2, test_size=3, scaling="standard") -> WindowConfig:
    return WindowConfig(
        lookback=lookback, horizon=horizon, val_size=val_size, test_size=test_size, scaling=scaling, anchor="none"
    )


def expected_counts(T: int, L: int, H: int, V: int, S: int) -> tuple[int, int, int]:
    return T - V - S - L - H + 1, (V - H + 1 if V > 0 else 0), S - H + 1


# --- counts, shapes, values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("T", "L", "H", "V", "S"),
    [(10, 3, 2, 2, 3), (20, 5, 1, 0, 1), (30, 4, 3, 6, 3), (12, 1, 1, 1, 1), (15, 2, 4, 4, 4)],
)
def test_window_counts_per_split(T, L, H, V, S):
    data = make_windows(series("a", np.arange(T)), config(L, H, V, S))
    assert (len(data.train), len(data.val), len(data.test)) == expected_counts(T, L, H, V, S)


def test_shapes_and_dtypes():
    data = make_windows(series("a", np.arange(10)), config(lookback=3, horizon=2, val_size=2, test_size=3))
    for windows, n in ((data.train, 1), (data.val, 1), (data.test, 2)):
        assert windows.X.shape == (n, 3, 1)
        assert windows.y.shape == (n, 2)
        assert windows.X.dtype == np.float32
        assert windows.y.dtype == np.float32
        assert list(windows.index.columns) == ["unique_id", "cutoff"]
        assert len(windows.index) == n


def test_window_values_are_the_scaled_raw_values_at_the_right_positions():
    # y = 1..10, T=10, L=3, H=2, V=2, S=3 -> training part is y[0:5] = 1..5: mean 3, population std sqrt(2).
    data = make_windows(series("a", np.arange(1, 11)), config(lookback=3, horizon=2, val_size=2, test_size=3))

    def scaled(*values):
        return (np.array(values) - 3.0) / np.sqrt(2.0)

    # Train: the only window with targets inside positions 0..4 has inputs y[0:3], targets y[3:5].
    np.testing.assert_allclose(data.train.X[0, :, 0], scaled(1, 2, 3), rtol=1e-6)
    np.testing.assert_allclose(data.train.y[0], scaled(4, 5), rtol=1e-6)
    # Val: targets exactly positions 5..6 (values 6, 7), inputs reach back into train.
    np.testing.assert_allclose(data.val.X[0, :, 0], scaled(3, 4, 5), rtol=1e-6)
    np.testing.assert_allclose(data.val.y[0], scaled(6, 7), rtol=1e-6)
    # Test: targets start at position 7 or later: (8, 9) and (9, 10).
    np.testing.assert_allclose(data.test.X[:, :, 0], [scaled(5, 6, 7), scaled(6, 7, 8)], rtol=1e-6)
    np.testing.assert_allclose(data.test.y, [scaled(8, 9), scaled(9, 10)], rtol=1e-6)


def test_cutoff_is_the_ds_of_the_last_input():
    ds = np.arange(100, 200, 10)  # 100, 110, ..., 190
    data = make_windows(series("a", np.arange(10), ds=ds), config(lookback=3, horizon=2, val_size=2, test_size=3))
    assert list(data.train.index["cutoff"]) == [120]  # last input is position 2
    assert list(data.val.index["cutoff"]) == [140]  # position 4
    assert list(data.test.index["cutoff"]) == [160, 170]  # positions 6 and 7
    assert set(data.train.index["unique_id"]) == {"a"}


def test_cutoff_keeps_datetime_ds():
    ds = pd.date_range("2024-01-01", periods=10, freq="D")
    data = make_windows(series("a", np.arange(10), ds=ds), config(lookback=3, horizon=2, val_size=2, test_size=3))
    assert list(data.test.index["cutoff"]) == [pd.Timestamp("2024-01-07"), pd.Timestamp("2024-01-08")]


def test_val_size_zero_gives_no_val_windows_with_the_right_shape():
    data = make_windows(series("a", np.arange(10)), config(lookback=3, horizon=2, val_size=0, test_size=2))
    assert len(data.val) == 0
    assert data.val.X.shape == (0, 3, 1)
    assert data.val.y.shape == (0, 2)
    assert len(data.train) == 10 - 2 - 3 - 2 + 1


# --- no leakage --------------------------------------------------------------------------------


def test_every_train_target_lies_before_the_validation_part():
    # With scaling "none" and y = position, each target value is its own index.
    T, V, S = 30, 5, 4
    data = make_windows(
        series("a", np.arange(T)), config(lookback=4, horizon=3, val_size=V, test_size=S, scaling="none")
    )
    assert data.train.y.max() < T - V - S
    assert data.val.y.min() >= T - V - S
    assert data.val.y.max() < T - S
    assert data.test.y.min() >= T - S


@pytest.mark.parametrize("scaling", ["standard", "minmax", "none"])
def test_changing_the_held_out_values_changes_neither_the_scaler_nor_the_train_windows(scaling):
    T, V, S = 20, 4, 4
    rng = np.random.default_rng(0)
    values = rng.normal(size=T)
    changed = values.copy()
    changed[T - V - S :] = rng.normal(100.0, 50.0, size=V + S)
    cfg = config(lookback=3, horizon=2, val_size=V, test_size=S, scaling=scaling)
    original, tampered = make_windows(series("a", values), cfg), make_windows(series("a", changed), cfg)
    assert original.scaler == tampered.scaler
    np.testing.assert_array_equal(original.train.X, tampered.train.X)
    np.testing.assert_array_equal(original.train.y, tampered.train.y)
    assert not np.array_equal(original.test.y, tampered.test.y)


# --- scaling -----------------------------------------------------------------------------------


def test_standard_scaler_uses_mean_and_population_std_of_the_training_part():
    # Training part 2, 4, 4, 4, 5, 5, 7, 9: mean 5, variance (9+1+1+1+0+0+4+16)/8 = 4, std 2.
    values = [2, 4, 4, 4, 5, 5, 7, 9, 1000, 1000, -1000, -1000]
    data = make_windows(series("a", values), config(lookback=2, horizon=1, val_size=2, test_size=2))
    assert data.scaler.loc["a"] == pytest.approx(5.0)
    assert data.scaler.scale["a"] == pytest.approx(2.0)
    np.testing.assert_allclose(data.train.X[0, :, 0], [(2 - 5) / 2, (4 - 5) / 2])


def test_minmax_scaler_uses_min_and_range_of_the_training_part():
    values = [3, 7, 5, 11, 4, 9, 100, -100]
    data = make_windows(series("a", values), config(lookback=2, horizon=1, val_size=1, test_size=1, scaling="minmax"))
    assert data.scaler.loc["a"] == pytest.approx(3.0)
    assert data.scaler.scale["a"] == pytest.approx(8.0)
    train_values = np.concatenate([data.train.X[:, :, 0].ravel(), data.train.y.ravel()])
    assert train_values.min() == pytest.approx(0.0)
    assert train_values.max() == pytest.approx(1.0)


def test_none_scaler_keeps_raw_values():
    values = [3.5, -1.0, 2.0, 8.0, 0.5, 4.0]
    data = make_windows(series("a", values), config(lookback=2, horizon=1, val_size=1, test_size=1, scaling="none"))
    assert (data.scaler.loc["a"], data.scaler.scale["a"]) == (0.0, 1.0)
    np.testing.assert_array_equal(data.train.X[0, :, 0], np.float32([3.5, -1.0]))
    np.testing.assert_array_equal(data.train.y[:, 0], np.float32([2.0, 8.0]))


@pytest.mark.parametrize("scaling", ["standard", "minmax"])
def test_constant_series_gets_scale_one_and_no_nan(scaling):
    data = make_windows(
        series("flat", np.full(12, 4.2)), config(lookback=3, horizon=1, val_size=2, test_size=2, scaling=scaling)
    )
    assert data.scaler.scale["flat"] == 1.0
    assert data.scaler.loc["flat"] == pytest.approx(4.2)
    for windows in (data.train, data.val, data.test):
        assert np.isfinite(windows.X).all()
        assert np.isfinite(windows.y).all()
    np.testing.assert_allclose(data.train.X, 0.0, atol=1e-6)


def test_scaler_inverse_undoes_transform_row_by_row():
    scaler = Scaler.fit("standard", {"a": np.array([1.0, 3.0]), "b": np.array([10.0, 20.0, 30.0])})
    raw = {"a": np.array([0.5, 2.0, -7.0]), "b": np.array([12.0, 40.0, 0.0])}
    scaled = np.stack(
        [scaler.transform("a", raw["a"]), scaler.transform("b", raw["b"]), scaler.transform("a", raw["b"])]
    )
    restored = scaler.inverse(np.array(["a", "b", "a"], dtype=object), scaled)
    np.testing.assert_allclose(restored, np.stack([raw["a"], raw["b"], raw["b"]]))


def test_scaler_transform_by_hand():
    scaler = Scaler.fit("standard", {"a": np.array([1.0, 3.0])})  # mean 2, population std 1
    np.testing.assert_allclose(scaler.transform("a", np.array([2.0, 5.0, -1.0])), [0.0, 3.0, -3.0])


def test_scaler_to_dict_from_dict_round_trip_through_json():
    scaler = Scaler.fit("minmax", {"a": np.array([1.0, 5.0]), "b": np.array([-2.0, -2.0])})
    state = json.loads(json.dumps(scaler.to_dict()))
    assert state == {"method": "minmax", "loc": {"a": 1.0, "b": -2.0}, "scale": {"a": 4.0, "b": 1.0}}
    assert Scaler.from_dict(state) == scaler


def test_unknown_series_is_a_validation_error():
    scaler = Scaler.fit("standard", {"a": np.array([1.0, 3.0])})
    with pytest.raises(DataValidationError, match="'zzz'"):
        scaler.transform("zzz", np.array([1.0]))
    with pytest.raises(DataValidationError, match="known series"):
        scaler.inverse(np.array(["a", "zzz"], dtype=object), np.zeros((2, 1)))


# --- several series ----------------------------------------------------------------------------


def two_series() -> pd.DataFrame:
    return pd.concat([series("b", np.arange(10) * 10.0), series("a", np.arange(12) + 100.0)], ignore_index=True)


def test_multi_series_counts_and_per_series_scalers():
    cfg = config(lookback=3, horizon=2, val_size=2, test_size=3)
    data = make_windows(two_series(), cfg)
    (a_train, a_val, a_test), (b_train, b_val, b_test) = (
        expected_counts(12, 3, 2, 2, 3),
        expected_counts(10, 3, 2, 2, 3),
    )
    assert len(data.train) == a_train + b_train
    assert len(data.val) == a_val + b_val
    assert len(data.test) == a_test + b_test
    assert list(data.train.index["unique_id"]) == ["a"] * a_train + ["b"] * b_train
    # a trains on 100..106 (mean 103), b on 0, 10, ..., 40 (mean 20).
    assert data.scaler.loc == pytest.approx({"a": 103.0, "b": 20.0})
    assert data.scaler.scale == pytest.approx({"a": 2.0, "b": np.sqrt(200.0)})


def test_interleaved_rows_give_the_same_windows_as_grouped_rows():
    grouped = two_series()
    interleaved = grouped.sort_values(["ds", "unique_id"], kind="stable", ignore_index=True)
    assert interleaved["unique_id"].iloc[0] != interleaved["unique_id"].iloc[1]
    cfg = config(lookback=3, horizon=2, val_size=2, test_size=3)
    first, second = make_windows(grouped, cfg), make_windows(interleaved, cfg)
    assert first.scaler == second.scaler
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(first, split).X, getattr(second, split).X)
        np.testing.assert_array_equal(getattr(first, split).y, getattr(second, split).y)
        pd.testing.assert_frame_equal(getattr(first, split).index, getattr(second, split).index)


# --- too short ---------------------------------------------------------------------------------


def test_min_history_is_lookback_plus_horizon_plus_held_out_parts():
    assert min_history(config(lookback=3, horizon=2, val_size=4, test_size=5)) == 14


def test_series_of_exactly_min_history_gives_one_window_per_split():
    cfg = config(lookback=3, horizon=2, val_size=2, test_size=2)
    data = make_windows(series("a", np.arange(min_history(cfg))), cfg)
    assert (len(data.train), len(data.val), len(data.test)) == (1, 1, 1)


@pytest.mark.parametrize("scaling", ["standard", "minmax", "none"])
@pytest.mark.parametrize("length", [8, 4, 3], ids=["one-short", "no-training-points", "shorter-than-held-out"])
def test_too_short_series_is_a_validation_error_naming_it(scaling, length):
    cfg = config(lookback=3, horizon=2, val_size=2, test_size=2, scaling=scaling)  # needs 9 points
    frame = pd.concat([series("long", np.arange(20)), series("short", np.arange(length))], ignore_index=True)
    with pytest.raises(DataValidationError, match=r"enough history.*'short'"):
        make_windows(frame, cfg)


# --- property test -----------------------------------------------------------------------------


@st.composite
def window_setups(draw):
    L = draw(st.integers(1, 6))
    H = draw(st.integers(1, 4))
    V = draw(st.one_of(st.just(0), st.integers(H, H + 4)))
    S = draw(st.integers(H, H + 4))
    T = L + H + V + S + draw(st.integers(0, 12))
    return T, L, H, V, S


@settings(deadline=None, max_examples=60)
@given(setup=window_setups())
def test_property_counts_and_no_train_target_in_the_held_out_part(setup):
    T, L, H, V, S = setup
    cfg = config(lookback=L, horizon=H, val_size=V, test_size=S, scaling="none")
    data = make_windows(series("a", np.arange(T)), cfg)  # each value is its own position
    assert (len(data.train), len(data.val), len(data.test)) == expected_counts(T, L, H, V, S)
    assert data.train.y.max() < T - V - S
    if V:
        assert data.val.y.min() >= T - V - S
        assert data.val.y.max() < T - S
    assert data.test.y.min() >= T - S
    # Inputs are the L positions right before the first target.
    for windows in (data.train, data.val, data.test):
        np.testing.assert_array_equal(windows.X[:, -1, 0] + 1, windows.y[:, 0])
        np.testing.assert_array_equal(windows.index["cutoff"].to_numpy(), windows.X[:, -1, 0])
