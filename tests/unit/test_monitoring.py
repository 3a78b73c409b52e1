"""Judging realised accuracy against a promise, and the drift test, on series whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.monitoring import Promise, drift, find_slots, judge


def test_a_version_is_degraded_only_past_the_tolerances():
    promise = Promise(1.0, "backtest_mase", 12, ("80",))
    within = {"realised_mase": 1.4, "realised_coverage_80": 0.7}
    assert judge(within, promise, mase_tolerance=0.5, coverage_tolerance=0.15) == []
    worse = {"realised_mase": 1.6, "realised_coverage_80": 0.6}
    reasons = judge(worse, promise, mase_tolerance=0.5, coverage_tolerance=0.15)
    assert len(reasons) == 2 and reasons[0].startswith("realised MASE 1.600 > 1.500") and "80% interval" in reasons[1]
    assert judge(worse, Promise(float("nan"), "", 12), mase_tolerance=0.5, coverage_tolerance=0.15) == []


def panel(y: np.ndarray, uid: str = "s") -> pd.DataFrame:
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2024-01-01", periods=len(y), freq="MS"), "y": y})


@pytest.mark.parametrize("seed", range(20))
def test_seasonal_trending_noise_does_not_drift_and_a_level_or_scale_change_does(seed):
    rng = np.random.default_rng(seed)
    t = np.arange(144)
    y = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 144)
    since = pd.Series({"s": pd.Timestamp("2024-01-01") + pd.DateOffset(months=119)})
    steady = drift(panel(y), since, season_length=12, alpha=0.001)
    assert not steady["drifted"].any(), steady
    shifted = drift(panel(np.where(t >= 120, y + 15, y)), since, season_length=12, alpha=0.001)
    assert shifted["drifted"].all() and shifted["level_p"].iloc[0] < 0.001
    noisier = drift(panel(np.where(t >= 120, y + rng.normal(0, 8, 144), y)), since, season_length=12, alpha=0.001)
    assert noisier["scale_p"].iloc[0] < 0.001


def test_slots_are_found_per_version_oldest_first(tmp_path):
    for version, day in [("1", "2025-01-02"), ("1", "2025-01-01"), ("2", "2025-01-03")]:
        folder = tmp_path / "m" / f"version={version}" / f"as_of={day}"
        folder.mkdir(parents=True)
        (folder / "forecasts.parquet").write_bytes(b"")
    assert [(s.version, s.as_of) for s in find_slots(tmp_path, "m")] == [
        ("1", "2025-01-01"),
        ("1", "2025-01-02"),
        ("2", "2025-01-03"),
    ]
    assert [s.as_of for s in find_slots(tmp_path, "m", "2")] == ["2025-01-03"]
