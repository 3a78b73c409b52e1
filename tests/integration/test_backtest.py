import numpy as np
import pytest

from lstm_pipeline.backtest import plan_folds, run_backtest, train_fold
from lstm_pipeline.config import load_config
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.sources import synthetic_panel
from tests.integration.conftest import TINY

pytestmark = pytest.mark.integration

BACKTEST = {
    **TINY,
    "train.epochs": 10,
    "window.lookback": 12,
    "window.val_size": 8,
    "window.test_size": 4,
    "evaluate.season_length": 24,
    "backtest.windows": 2,
    "backtest.horizon": 4,
}


def panel(noise: float = 0.2, n_series: int = 2, n_points: int = 120):
    return synthetic_panel(n_series=n_series, n_points=n_points, season_length=24, noise=noise, seed=3)


def test_fold_layout_and_refit_policy():
    cfg = load_config(None, {**BACKTEST, "backtest.windows": 5, "backtest.step": 2, "backtest.refit": 2})
    plan = plan_folds(cfg)
    assert plan.hidden == [12, 10, 8, 6, 4] and plan.horizon == 4
    assert plan.refit == [True, False, True, False, True]
    never = plan_folds(load_config(None, {**BACKTEST, "backtest.windows": 3, "backtest.refit": 0}))
    assert never.refit == [True, False, False]


@pytest.mark.parametrize(
    "recipe",
    [{}, {"window.deseasonalise": True, "window.anchor": "trend"}, {"window.anchor": "season", "train.ensemble": 2}],
)
def test_a_fold_never_sees_its_future(recipe):
    """Fold 0's forecasts must not move when everything after its origin changes (scaler and STL included)."""
    cfg = load_config(None, {**BACKTEST, **recipe})
    frame = panel()
    future = frame.groupby("unique_id").cumcount(ascending=False) < plan_folds(cfg).hidden[0]
    shifted = frame.assign(y=frame["y"].where(~future, frame["y"] * 50 + 1000))
    before, after = run_backtest(frame, cfg).errors, run_backtest(shifted, cfg).errors
    fold0 = before["fold"] == 0
    np.testing.assert_array_equal(before.loc[fold0, "model"], after.loc[fold0, "model"])
    assert before.loc[fold0, "y_scale"].tolist() == after.loc[fold0, "y_scale"].tolist()
    assert before.loc[fold0, "seasonal_naive"].tolist() == after.loc[fold0, "seasonal_naive"].tolist()
    # fold 1 trains on fold 0's (shifted) targets, so it must move: the check above has teeth
    assert not np.allclose(before.loc[~fold0, "model"], after.loc[~fold0, "model"])


def test_refit_never_trains_once_and_baselines_use_the_fold_history():
    cfg = load_config(None, {**BACKTEST, "backtest.windows": 3, "backtest.refit": 0})
    calls = []

    def counting(history, cfg):
        calls.append(len(history))
        return train_fold(history, cfg)

    frame = panel()
    result = run_backtest(frame, cfg, trainer=counting)
    assert calls == [2 * (120 - 12)]  # fold 0 only: both series without the 3 folds' 12 points
    errors = result.errors
    assert len(errors) == 2 * 3 * 4 and sorted(errors["step"].unique()) == [1, 2, 3, 4]
    for (uid, _), rows in errors.groupby(["unique_id", "fold"]):
        series = frame[frame["unique_id"] == uid].reset_index(drop=True)
        origin = int(np.flatnonzero(series["ds"] == rows["cutoff"].iloc[0])[0])
        assert (rows["naive"] == series["y"][origin]).all()
        assert rows["seasonal_naive"].tolist() == series["y"][origin - 23 : origin - 19].tolist()
        assert rows["y"].tolist() == series["y"][origin + 1 : origin + 5].tolist()
    m = result.metrics
    assert {"backtest_mase", "backtest_naive_mase", "backtest_seasonal_naive_mase", "backtest_smape"} <= set(m)
    assert list(result.by_step().index) == [1, 2, 3, 4] and list(result.by_fold().index) == [0, 1, 2]


def test_intervals_from_an_lstm_backtest_cover_about_their_level():
    """Known noise (sd 0.5) on 8 series x 4 folds: leave-one-fold-out coverage near the nominal 80%."""
    cfg = load_config(None, {**BACKTEST, "backtest.windows": 4, "backtest.interval_levels": [80]})
    result = run_backtest(panel(noise=0.5, n_series=8), cfg)
    assert set(result.quantiles) == {"80"} and len(result.quantiles["80"]) == 4
    assert 0.6 <= result.metrics["interval_coverage_80"] <= 0.95
    assert result.metrics["interval_width_80"] > 2 * 1.2816 * 0.5 * 0.8  # no narrower than the noise alone allows


def test_too_short_series_are_refused_before_any_training():
    cfg = load_config(None, {**BACKTEST, "backtest.windows": 40})
    with pytest.raises(DataValidationError, match="enough history"):
        run_backtest(panel(), cfg)
