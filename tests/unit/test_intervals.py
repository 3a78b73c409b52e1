import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.intervals import (
    add_intervals,
    conformal_quantile,
    conformal_quantiles,
    interval_coverage,
    needed_scores,
)


def test_the_quantile_is_the_finite_sample_rank():
    scores = np.arange(1.0, 10.0)  # n = 9
    assert conformal_quantile(scores, 80) == 8.0  # rank ceil(10 * 0.8) = 8
    assert conformal_quantile(scores, 50) == 5.0
    assert conformal_quantile(scores, 95) is None  # rank 10 > 9: no finite quantile
    assert needed_scores(95) == 19 and needed_scores(80) == 4 and needed_scores(90) == 9


def test_coverage_of_gaussian_noise_is_near_nominal():
    rng = np.random.default_rng(0)
    calibration = np.abs(rng.normal(0, 2.0, 2000))
    fresh = np.abs(rng.normal(0, 2.0, 50_000))
    for level in (80, 95):
        q = conformal_quantile(calibration, level)
        assert q is not None
        assert abs(np.mean(fresh <= q) - level / 100) < 0.02


def errors_frame(folds: int, series: int, steps: int, noise: float, seed: int = 0) -> pd.DataFrame:
    """Backtest errors of a forecaster that knows the mean: y - model is pure N(0, noise * y_scale)."""
    rng = np.random.default_rng(seed)
    rows = []
    for fold in range(folds):
        for s in range(series):
            y_scale = 1.0 + s
            for step in range(1, steps + 1):
                model = 10.0 * y_scale
                rows.append((f"s{s}", fold, step, model + rng.normal(0, noise * y_scale), model, y_scale))
    return pd.DataFrame(rows, columns=["unique_id", "fold", "step", "y", "model", "y_scale"])


def test_quantiles_per_step_in_units_of_each_series_scale():
    errors = errors_frame(folds=10, series=20, steps=3, noise=0.5)
    quantiles, notes = conformal_quantiles(errors, [80, 95])
    assert notes == []
    assert set(quantiles) == {"80", "95"} and all(len(q) == 3 for q in quantiles.values())
    # |N(0, 0.5)| has its 80% quantile at 0.5 * 1.2816 and its 95% at 0.5 * 1.96
    assert np.allclose(quantiles["80"], 0.5 * 1.2816, atol=0.08)
    assert np.allclose(quantiles["95"], 0.5 * 1.96, atol=0.15)
    coverage, width = interval_coverage(errors, 80)
    assert abs(coverage - 0.8) < 0.05
    assert width == pytest.approx(2 * 0.5 * 1.2816 * np.mean(errors["y_scale"]), rel=0.1)


def test_a_level_without_enough_errors_is_left_out_with_a_note():
    errors = errors_frame(folds=4, series=1, steps=2, noise=1.0)
    quantiles, notes = conformal_quantiles(errors, [80, 95])
    assert set(quantiles) == {"80"}
    assert "19 backtest errors per step, there are 4" in notes[0]
    assert interval_coverage(errors, 80) is None  # 3 other folds: one too few for leave-one-out at 80%
    assert interval_coverage(errors_frame(folds=5, series=1, steps=2, noise=1.0), 80) is not None


def test_bounds_are_ordered_scaled_per_series_and_nan_beyond_the_calibrated_steps():
    forecasts = pd.DataFrame({"unique_id": ["a"] * 3 + ["b"] * 3, "ds": [1, 2, 3] * 2, "yhat": [5.0] * 6})
    out = add_intervals(forecasts, {"80": [1.0, 2.0], "95": [2.0, 3.0]}, {"a": 1.0, "b": 10.0})
    assert list(out.columns) == [
        "unique_id", "ds", "yhat", "yhat_lower_80", "yhat_upper_80", "yhat_lower_95", "yhat_upper_95"
    ]  # fmt: skip
    assert list(out["yhat_upper_80"][:2]) == [6.0, 7.0] and list(out["yhat_upper_80"][3:5]) == [15.0, 25.0]
    finite = out.dropna()
    assert len(finite) == 4 and out[["yhat_lower_80", "yhat_upper_95"]].iloc[[2, 5]].isna().all().all()
    assert (finite["yhat_lower_95"] <= finite["yhat_lower_80"]).all()
    assert (finite["yhat_lower_80"] <= finite["yhat"]).all() and (finite["yhat"] <= finite["yhat_upper_80"]).all()
    assert (finite["yhat_upper_80"] <= finite["yhat_upper_95"]).all()
    assert add_intervals(forecasts, {}, {}) is forecasts
