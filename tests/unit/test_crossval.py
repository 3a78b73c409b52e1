"""The one cross-validation: origins, the frame it returns, the baselines beside it, the scorer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.crossval import (
    add_baselines,
    cross_validation,
    drop_last,
    mase_scales,
    origins,
    score,
    summarize,
)
from lstm_pipeline.errors import ConfigError


def panel() -> pd.DataFrame:
    """Two integer-step series: `a` = 1..10, `b` = 10, 20, ..., 100."""
    a = pd.DataFrame({"unique_id": "a", "ds": np.arange(10), "y": np.arange(1.0, 11.0)})
    b = pd.DataFrame({"unique_id": "b", "ds": np.arange(10), "y": np.arange(10.0, 101.0, 10.0)})
    return pd.concat([a, b], ignore_index=True)


def last_value(history: pd.DataFrame):
    """A fit that records the history it saw and forecasts its last value (a naive forecaster)."""
    seen.append(history.groupby("unique_id").size().to_dict())

    def forecaster(h: pd.DataFrame, horizon: int) -> pd.DataFrame:
        last = h.groupby("unique_id").tail(1)
        return pd.DataFrame(
            {
                "unique_id": np.repeat(last["unique_id"].to_numpy(), horizon),
                "ds": (last["ds"].to_numpy()[:, None] + np.arange(1, horizon + 1)).reshape(-1),
                "yhat": np.repeat(last["y"].to_numpy(), horizon),
            }
        )

    return forecaster


seen: list[dict[str, int]] = []


def test_origins_hide_one_horizon_then_a_step_more_each():
    assert origins(windows=3, horizon=4) == [12, 8, 4]
    assert origins(windows=3, horizon=4, step=1) == [6, 5, 4]


def test_cross_validation_fits_on_the_past_only_and_returns_the_statsforecast_frame():
    seen.clear()
    cv = cross_validation(panel(), last_value, hidden=[4, 2], horizon=2, refit=[True, True])
    assert list(cv.columns) == ["unique_id", "ds", "cutoff", "fold", "y", "model"]
    assert seen == [{"a": 6, "b": 6}, {"a": 8, "b": 8}]  # each fit saw only the history before its origin
    a = cv[cv["unique_id"] == "a"]
    assert a["cutoff"].tolist() == [5, 5, 7, 7] and a["ds"].tolist() == [6, 7, 8, 9]
    assert a["y"].tolist() == [7.0, 8.0, 9.0, 10.0] and a["model"].tolist() == [6.0, 6.0, 8.0, 8.0]


def test_no_refit_reuses_the_first_fit():
    seen.clear()
    cross_validation(panel(), last_value, hidden=[4, 2], horizon=2, refit=[True, False])
    assert len(seen) == 1


def test_baselines_come_from_each_cutoffs_history():
    frame = panel()
    cv = add_baselines(cross_validation(frame, last_value, hidden=[3], horizon=3), frame, season_length=2)
    a = cv[cv["unique_id"] == "a"]
    assert a["naive"].tolist() == [7.0, 7.0, 7.0]  # the last value before the cutoff (ds 6)
    assert a["seasonal_naive"].tolist() == [6.0, 7.0, 6.0]  # one (or two) seasons of 2 back


def test_scores_by_hand():
    frame = panel()
    cv = cross_validation(frame, last_value, hidden=[2], horizon=2)
    scores = score(cv, frame, season_length=1, models=["model"]).set_index(["unique_id", "metric"])["value"]
    # series a: history 1..8, forecast 8 for 9 and 10 -> errors 1, 2; in-sample naive MAE 1
    assert scores[("a", "mae")] == pytest.approx(1.5)
    assert scores[("a", "rmse")] == pytest.approx(np.sqrt(2.5))
    assert scores[("a", "mase")] == pytest.approx(1.5)
    assert scores[("a", "mape")] == pytest.approx(100 * (1 / 9 + 2 / 10) / 2)
    assert scores[("a", "smape")] == pytest.approx(100 * (1 / 17 + 2 / 18))  # 200 * mean(|e| / (|y| + |yhat|))
    assert scores[("b", "mase")] == pytest.approx(1.5)  # scale-free: b is a times 10
    metrics = summarize(score(cv, frame, season_length=1, models=["model"]), prefix="test")
    assert metrics["test_mase"] == pytest.approx(1.5)


def test_mase_scale_is_each_cutoffs_own_history():
    """Multiplying every point after the first cutoff leaves that origin's MASE scale as it was."""
    frame = panel()
    later = frame.assign(y=frame["y"].where(frame["ds"] <= 5, frame["y"] * 100))
    scales = [
        mase_scales(cross_validation(data, last_value, hidden=[4, 2], horizon=2), data, 1).set_index(
            ["unique_id", "cutoff"]
        )["scale"]
        for data in (frame, later)
    ]
    assert scales[0][("a", 5)] == scales[1][("a", 5)] == 1.0
    assert scales[0][("a", 7)] != scales[1][("a", 7)]  # the second origin's history did change


def test_mape_is_left_out_for_a_series_with_a_non_positive_value():
    frame = panel()
    frame.loc[0, "y"] = -1.0
    cv = cross_validation(frame, last_value, hidden=[2], horizon=2)
    mape = score(cv, frame, season_length=1, models=["model"]).query("metric == 'mape'")
    assert mape["unique_id"].tolist() == ["b"]


def test_a_season_longer_than_the_history_is_a_config_error():
    frame = panel()
    cv = cross_validation(frame, last_value, hidden=[2], horizon=2)
    with pytest.raises(ConfigError, match="season_length"):
        score(cv, frame, season_length=12, models=["model"])


def test_drop_last_hides_points_per_series():
    assert drop_last(panel(), 3).groupby("unique_id").size().tolist() == [7, 7]
