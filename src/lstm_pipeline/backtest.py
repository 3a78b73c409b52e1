"""Rolling-origin backtests: at each origin, fit on the past only, forecast ahead, score against baselines.

Fold `i` hides the last `horizon + (windows - 1 - i) * step` points of every series. The network
and the scaler of a fold are fit on what is left (minus its validation part), so a fold never sees
its own future. The scored errors also give split-conformal intervals (`intervals.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.crossval import Forecaster, add_baselines, cross_validation, origins, score, summarize
from lstm_pipeline.errors import ConfigError, DataValidationError
from lstm_pipeline.intervals import conformal_quantiles, interval_coverage
from lstm_pipeline.windowing import min_history

BASELINES = ("naive", "seasonal_naive")


@dataclass(frozen=True)
class FoldPlan:
    """Where the folds are: points hidden per fold (oldest origin first), horizon, and which folds refit."""

    hidden: list[int]
    horizon: int
    refit: list[bool]


# (history, config) -> a forecaster trained on that history only.
Trainer = Callable[[pd.DataFrame, PipelineConfig], Forecaster]


@dataclass(frozen=True)
class BacktestResult:
    """Every scored point, the summary metrics, and the conformal quantiles per horizon step.

    `errors` is the cross-validation frame (`crossval.cross_validation`, baselines included) with
    `step` and `scale` (the in-sample seasonal-naive MAE of the history before the point's cutoff,
    MASE's denominator and the unit of the conformal scores, kept as `y_scale`).
    """

    errors: pd.DataFrame
    metrics: dict[str, float]
    quantiles: dict[str, list[float]]
    notes: list[str]

    def by_step(self) -> pd.DataFrame:
        """Mean scaled error per horizon step for the model and each baseline (MASE per step)."""
        return _scaled(self.errors).groupby("step")[["model", *BASELINES]].mean()

    def by_series(self) -> pd.DataFrame:
        """MASE per series for the model and each baseline."""
        return _scaled(self.errors).groupby("unique_id")[["model", *BASELINES]].mean()

    def by_fold(self) -> pd.DataFrame:
        """MASE per fold for the model and each baseline."""
        return _scaled(self.errors).groupby("fold")[["model", *BASELINES]].mean()


def plan_folds(cfg: PipelineConfig) -> FoldPlan:
    """The fold layout `cfg.backtest` asks for."""
    b = cfg.backtest
    if b.windows < 1:
        raise ConfigError("backtest.windows must be at least 1 to run a backtest")
    horizon = b.horizon or cfg.window.horizon
    refit = [i == 0 or (b.refit > 0 and i % b.refit == 0) for i in range(b.windows)]
    return FoldPlan(origins(windows=b.windows, horizon=horizon, step=b.step), horizon, refit)


def run_backtest(frame: pd.DataFrame, cfg: PipelineConfig, trainer: Trainer | None = None) -> BacktestResult:
    """Backtest the configured LSTM ensemble on `frame` (validated, sorted by `unique_id, ds`)."""
    plan = plan_folds(cfg)
    check_history(frame, cfg, plan)
    train = trainer or train_fold
    cv = cross_validation(
        frame, lambda history: train(history, cfg), hidden=plan.hidden, horizon=plan.horizon, refit=plan.refit
    )
    errors = with_scales(
        add_baselines(cv, frame, season_length=cfg.evaluate.season_length), frame, cfg.evaluate.season_length
    )
    quantiles, notes = conformal_quantiles(errors, cfg.backtest.interval_levels)
    return BacktestResult(errors, summarize_backtest(errors, frame, cfg), quantiles, notes)


def train_fold(history: pd.DataFrame, cfg: PipelineConfig) -> Forecaster:
    """Fit the configured ensemble on `history` (its validation part from `window.val_size`)."""
    from lstm_pipeline.ensemble import Recipe, fit_ensemble, seeded

    recipe = Recipe(cfg.window, cfg.model, cfg.train, cfg.evaluate.season_length)
    return fit_ensemble(history, seeded(recipe)).forecast


def with_scales(cv: pd.DataFrame, frame: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Add `step` (1..horizon after each cutoff) and the MASE scale of each cutoff's history as `scale`/`y_scale`."""
    from lstm_pipeline.crossval import mase_scales

    scales = mase_scales(cv, frame, season_length)
    out = cv.merge(scales, on=["unique_id", "cutoff"], how="left")
    out["step"] = out.groupby(["unique_id", "cutoff"]).cumcount() + 1
    out["y_scale"] = out["scale"]
    return out


def summarize_backtest(errors: pd.DataFrame, frame: pd.DataFrame, cfg: PipelineConfig) -> dict[str, float]:
    """MLflow metrics: `backtest_mase` (model) and per baseline, MAE, sMAPE, interval coverage and width."""
    models = ["model", *BASELINES]
    metrics = summarize(
        score(errors, frame, season_length=cfg.evaluate.season_length, models=models), prefix="backtest"
    )
    for level in cfg.backtest.interval_levels:
        if (measured := interval_coverage(errors, level)) is not None:
            coverage, width = measured
            metrics[f"interval_coverage_{level:g}"] = coverage
            metrics[f"interval_width_{level:g}"] = width
    return metrics


def _scaled(errors: pd.DataFrame) -> pd.DataFrame:
    """Absolute errors over MASE's denominator, per point, with the grouping columns kept."""
    scaled = errors[["unique_id", "fold", "step"]].copy()
    for name in ("model", *BASELINES):
        scaled[name] = np.abs(errors["y"] - errors[name]) / errors["scale"]
    return scaled


def backtest_min_length(cfg: PipelineConfig, plan: FoldPlan) -> int:
    """Points per series fold 0 needs: its training windows and validation part, and a season before its origin."""
    train_part = min_history(cfg.window.model_copy(update={"test_size": 0})) + plan.hidden[0]
    return max(train_part, cfg.evaluate.season_length + plan.hidden[0] + 1)


def check_history(frame: pd.DataFrame, cfg: PipelineConfig, plan: FoldPlan) -> None:
    """Fold 0 must leave every series enough points to train (windows + validation) and to score MASE."""
    need = backtest_min_length(cfg, plan)
    sizes = frame.groupby("unique_id").size()
    if not (short := sizes[sizes < need]).empty:
        w = cfg.window
        raise DataValidationError(
            f"rule 'enough history': the backtest needs {need} points per series (lookback {w.lookback} + "
            f"horizon {w.horizon} + val_size {w.val_size} + {plan.hidden[0]} hidden by "
            f"{len(plan.hidden)} folds); too short: { ({str(k): int(v) for k, v in short.head(5).items()}) }. "
            f"Lower backtest.windows or backtest.horizon"
        )
