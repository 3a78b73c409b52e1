"""Unit tests for lstm_pipeline.metrics: point metrics, naive baselines and per-series scoring."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.errors import ConfigError
from lstm_pipeline.metrics import (
    mae,
    mase,
    naive_forecast,
    rmse,
    score_forecasts,
    seasonal_naive_forecast,
    smape,
    summarize,
)


def arr(*values) -> np.ndarray:
    return np.array(values, dtype="float64")


# --- point metrics -----------------------------------------------------------------------------


def test_mae_by_hand():
    # |1-2| + |2-2| + |3-5| = 3 over 3 points.
    assert mae(arr(1, 2, 3), arr(2, 2, 5)) == pytest.approx(1.0)


def test_mae_on_a_2d_horizon_block_averages_every_cell():
    assert mae(arr(0, 0, 0, 0).reshape(2, 2), arr(1, -1, 2, 4).reshape(2, 2)) == pytest.approx(2.0)


def test_rmse_by_hand():
    # squared errors 1, 0, 4 -> mean 5/3.
    assert rmse(arr(1, 2, 3), arr(2, 2, 5)) == pytest.approx(math.sqrt(5 / 3))


def test_rmse_is_at_least_mae():
    y, yhat = arr(0, 0, 0, 0), arr(0, 0, 0, 4)
    assert rmse(y, yhat) == pytest.approx(2.0)
    assert mae(y, yhat) == pytest.approx(1.0)


def test_perfect_forecast_scores_zero():
    y = arr(1.5, -2, 0, 7)
    assert mae(y, y) == 0.0
    assert rmse(y, y) == 0.0
    assert smape(y, y) == 0.0


def test_smape_by_hand_in_percent():
    # |1-2|/(1+2) = 1/3, |2-2|/4 = 0, |3-5|/(3+5) = 1/4 -> 200 * mean = 200 * 7/36.
    assert smape(arr(1, 2, 3), arr(2, 2, 5)) == pytest.approx(200 * 7 / 36)


def test_smape_both_zero_counts_as_perfect():
    assert smape(arr(0, 0), arr(0, 0)) == 0.0
    # 0/0 -> 0 and |0-4|/(0+4) = 1 -> 200 * 1/2.
    assert smape(arr(0, 0), arr(0, 4)) == pytest.approx(100.0)


def test_smape_is_bounded_by_200():
    assert smape(arr(0, 5, -3), arr(7, 0, 3)) == pytest.approx(200.0)


def test_mase_by_hand():
    insample = arr(1, 3, 2, 5)
    # season 1: |3-1|, |2-3|, |5-2| -> mean 2; the forecast's MAE is 1.
    assert mase(arr(1, 2, 3), arr(2, 2, 5), insample, season_length=1) == pytest.approx(0.5)
    # season 2: |2-1|, |5-3| -> mean 1.5.
    assert mase(arr(1, 2, 3), arr(2, 2, 5), insample, season_length=2) == pytest.approx(1 / 1.5)


def test_mase_of_a_flat_insample_is_nan_not_inf():
    assert math.isnan(mase(arr(1), arr(2), arr(3, 3, 3), season_length=1))


# --- baselines ---------------------------------------------------------------------------------


def test_naive_forecast_repeats_the_value_at_each_cutoff():
    history = arr(10, 11, 12, 13)
    np.testing.assert_array_equal(naive_forecast(history, np.array([1, 3]), horizon=2), [[11, 11], [13, 13]])


def test_seasonal_naive_within_one_season():
    history = arr(0, 1, 2, 3, 4, 5)
    # cutoff at position 5, season 3: targets 6, 7, 8 copy positions 3, 4, 5.
    np.testing.assert_array_equal(seasonal_naive_forecast(history, np.array([5]), 3, 3), [[3, 4, 5]])


def test_seasonal_naive_horizon_longer_than_the_season_repeats_the_last_season():
    history = arr(0, 10, 20, 30, 40, 50, 60)
    forecast = seasonal_naive_forecast(history, np.array([5, 6]), horizon=7, season_length=3)
    np.testing.assert_array_equal(forecast[0], [30, 40, 50, 30, 40, 50, 30])
    np.testing.assert_array_equal(forecast[1], [40, 50, 60, 40, 50, 60, 40])


def test_seasonal_naive_with_season_one_is_naive():
    history = arr(4, 8, 15, 16, 23, 42)
    cutoffs = np.array([2, 5])
    np.testing.assert_array_equal(seasonal_naive_forecast(history, cutoffs, 4, 1), naive_forecast(history, cutoffs, 4))


# --- score_forecasts + summarize ---------------------------------------------------------------


def panel() -> pd.DataFrame:
    # Both series alternate low/high (season 2) on a rising line for 6 training points, then jump
    # in the 2 test points, so a scale computed on the whole history would differ from the in-sample one.
    a = arr(0, 10, 1, 11, 2, 12, 5, 15)
    b = 2 * a
    return pd.DataFrame(
        {
            "unique_id": ["a"] * 8 + ["b"] * 8,
            "ds": np.tile(np.arange(8), 2),
            "y": np.concatenate([a, b]),
        }
    )


def forecasts_frame(rows: list[tuple[str, int, list[float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "unique_id": [r[0] for r in rows],
            "cutoff": [r[1] for r in rows],
            "yhat": [np.array(r[2], dtype="float64") for r in rows],
        }
    )


TRAIN_SIZES = {"a": 6, "b": 6}


def score_table(scores: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    return {(u, m, k): v for u, m, k, v in scores.itertuples(index=False, name=None)}


def test_score_forecasts_values_by_hand():
    # One test window per series, cutoff at ds 5: actuals a = (5, 15), b = (10, 30).
    # In-sample seasonal-naive MAE (season 2) of a's 0,10,1,11,2,12 is 1; of b's it is 2.
    forecasts = forecasts_frame([("a", 5, [6, 15]), ("b", 5, [10, 30])])
    scores = score_forecasts(panel(), forecasts, train_sizes=TRAIN_SIZES, season_length=2)
    assert list(scores.columns) == ["unique_id", "model", "metric", "value"]
    assert len(scores) == 2 * 3 * 4  # series x models x metrics
    table = score_table(scores)
    # Model: a errs by (1, 0), b is perfect.
    assert table["a", "model", "mae"] == pytest.approx(0.5)
    assert table["a", "model", "rmse"] == pytest.approx(math.sqrt(0.5))
    assert table["a", "model", "mase"] == pytest.approx(0.5)
    assert table["a", "model", "smape"] == pytest.approx(100 * (1 / 11))
    assert table["b", "model", "mae"] == 0.0
    # Naive repeats 12 (a) and 24 (b): errors (7, 3) and (14, 6).
    assert table["a", "naive", "mae"] == pytest.approx(5.0)
    assert table["a", "naive", "rmse"] == pytest.approx(math.sqrt((49 + 9) / 2))
    assert table["a", "naive", "mase"] == pytest.approx(5.0)
    assert table["a", "naive", "smape"] == pytest.approx(100 * (7 / 17 + 3 / 27))
    assert table["b", "naive", "mae"] == pytest.approx(10.0)
    assert table["b", "naive", "mase"] == pytest.approx(5.0)
    # Seasonal naive copies positions 4, 5: a -> (2, 12), errors (3, 3); b -> (4, 24), errors (6, 6).
    assert table["a", "seasonal_naive", "mae"] == pytest.approx(3.0)
    assert table["a", "seasonal_naive", "mase"] == pytest.approx(3.0)
    assert table["b", "seasonal_naive", "mae"] == pytest.approx(6.0)
    assert table["b", "seasonal_naive", "mase"] == pytest.approx(3.0)


def test_summarize_averages_over_series_with_mlflow_names():
    forecasts = forecasts_frame([("a", 5, [6, 15]), ("b", 5, [10, 30])])
    metrics = summarize(score_forecasts(panel(), forecasts, train_sizes=TRAIN_SIZES, season_length=2))
    expected_names = {
        f"test_{prefix}{metric}"
        for prefix in ("", "naive_", "seasonal_naive_")
        for metric in ("mae", "rmse", "smape", "mase")
    }
    assert set(metrics) == expected_names
    assert metrics["test_mae"] == pytest.approx((0.5 + 0.0) / 2)
    assert metrics["test_mase"] == pytest.approx((0.5 + 0.0) / 2)
    assert metrics["test_naive_mae"] == pytest.approx((5.0 + 10.0) / 2)
    assert metrics["test_naive_mase"] == pytest.approx(5.0)
    assert metrics["test_seasonal_naive_mae"] == pytest.approx((3.0 + 6.0) / 2)
    assert metrics["test_seasonal_naive_mase"] == pytest.approx(3.0)
    assert all(isinstance(v, float) for v in metrics.values())


def test_perfect_model_has_zero_error_on_several_windows():
    frame = panel()
    y = dict(zip(zip(frame["unique_id"], frame["ds"], strict=True), frame["y"], strict=True))
    rows = [(uid, c, [y[uid, c + 1], y[uid, c + 2]]) for uid in ("a", "b") for c in (4, 5)]
    metrics = summarize(score_forecasts(frame, forecasts_frame(rows), train_sizes=TRAIN_SIZES, season_length=2))
    assert metrics["test_mae"] == 0.0
    assert metrics["test_rmse"] == 0.0
    assert metrics["test_smape"] == 0.0
    assert metrics["test_mase"] == 0.0
    assert metrics["test_naive_mae"] > 0


def test_scores_on_datetime_ds():
    frame = panel()
    frame["ds"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["ds"], unit="D")
    forecasts = forecasts_frame([("a", 0, [6, 15])]).assign(cutoff=[pd.Timestamp("2024-01-06")])
    table = score_table(score_forecasts(frame, forecasts, train_sizes=TRAIN_SIZES, season_length=2))
    assert table["a", "model", "mae"] == pytest.approx(0.5)
    assert table["a", "naive", "mae"] == pytest.approx(5.0)


def test_series_without_forecasts_are_skipped():
    forecasts = forecasts_frame([("b", 5, [10, 30])])
    scores = score_forecasts(panel(), forecasts, train_sizes=TRAIN_SIZES, season_length=2)
    assert set(scores["unique_id"]) == {"b"}


def test_season_longer_than_the_training_part_is_a_config_error():
    forecasts = forecasts_frame([("a", 5, [4, 13])])
    with pytest.raises(ConfigError, match="season_length"):
        score_forecasts(panel(), forecasts, train_sizes=TRAIN_SIZES, season_length=6)


def test_season_longer_than_the_history_before_a_cutoff_is_a_config_error():
    # Training part is long enough (6 > 4) but cutoff position 2 has only 3 points behind it.
    forecasts = forecasts_frame([("a", 2, [1, 11])])
    with pytest.raises(ConfigError, match="season_length"):
        score_forecasts(panel(), forecasts, train_sizes=TRAIN_SIZES, season_length=4)
