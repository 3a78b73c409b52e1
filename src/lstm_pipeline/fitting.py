"""Fit, evaluate, refit: what every training run does, whether the train flow or a sweep trial asks.

The ensemble is fit on the history without its test part and scored there (`evaluation.py`);
then the same recipes are refit on the whole history, so the registered networks have seen the
newest points. What is registered is what was scored, trained once more with more data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.ensemble import Ensemble, Recipe, fit_ensemble, seeded
from lstm_pipeline.errors import TrainingDivergedError
from lstm_pipeline.evaluation import Evaluation, evaluate_holdout

if TYPE_CHECKING:
    from lstm_pipeline.auto import Scored
    from lstm_pipeline.backtest import BacktestResult
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.tracking import TrainingRecord


@dataclass(frozen=True)
class Fitted:
    """The held-out evaluation and the ensemble refit on everything (the one to register)."""

    evaluation: Evaluation
    ensemble: Ensemble


def recipes_for(cfg: PipelineConfig) -> list[Recipe]:
    """The configured recipe once per ensemble member (seeds `train.seed`, `train.seed + 1`, ...)."""
    return seeded(Recipe(cfg.window, cfg.model, cfg.train, cfg.evaluate.season_length))


def fit_and_evaluate(frame: pd.DataFrame, cfg: PipelineConfig, recipes: Sequence[Recipe] | None = None) -> Fitted:
    """Score `recipes` (default: the config's) on the test part, then refit them on all of `frame`."""
    chosen = list(recipes or recipes_for(cfg))
    evaluation = evaluate_holdout(
        frame, lambda history: fit_ensemble(history, chosen).forecast, cfg.window, cfg.evaluate
    )
    if not np.isfinite(evaluation.cv["model"].to_numpy("float64")).all():
        raise TrainingDivergedError(
            "the held-out forecasts hold NaN or inf (an overflow past the log?); nothing is logged"
        )
    return Fitted(evaluation, fit_ensemble(frame, chosen))


@dataclass(frozen=True)
class AutoFitted:
    """Automatic selection's outcome: the fit ensemble, every candidate's backtest, the ensemble's own."""

    fitted: Fitted
    candidates: list[Scored]
    backtest: BacktestResult


def auto_fit(
    frame: pd.DataFrame, cfg: PipelineConfig, *, report: Callable[[Scored, int, int], None] | None = None
) -> AutoFitted:
    """Score the recipe space by backtest (`auto.py`), ensemble the chosen, refit it on all of `frame`.

    The test metrics are the ensemble backtest's last origin (the last `window.horizon` points).
    With every candidate in the ensemble (`auto.top` 0) nothing was chosen on them, so they are as
    held out as a plain train's; with `auto.top` k the ranking has seen them.
    """
    from lstm_pipeline.auto import ensemble_backtest, ensemble_recipes, select
    from lstm_pipeline.backtest import BacktestResult, summarize_backtest, with_scales
    from lstm_pipeline.crossval import add_baselines
    from lstm_pipeline.evaluation import score_columns
    from lstm_pipeline.intervals import conformal_quantiles

    best = select(frame, cfg, report=report or (lambda *_: None))
    e = cfg.evaluate
    cv = add_baselines(ensemble_backtest(best, cfg.auto), frame, season_length=e.season_length, classic=e.classic)
    last = cv[cv["fold"] == cv["fold"].max()].reset_index(drop=True)
    evaluation = score_columns(last, frame, e, prefix="test")
    errors = with_scales(cv, frame, e.season_length)
    quantiles, notes = conformal_quantiles(errors, cfg.backtest.interval_levels)
    backtest = BacktestResult(errors, summarize_backtest(errors, frame, cfg), quantiles, notes)
    ensemble = fit_ensemble(frame, ensemble_recipes(best, cfg.auto))
    return AutoFitted(Fitted(evaluation, ensemble), best, backtest)


def training_record(
    fitted: Fitted,
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    *,
    repairs: Sequence[Repair] = (),
    report: Path | None = None,
    backtested: BacktestResult | None = None,
) -> TrainingRecord:
    """What the run logs, with its plots: the loss of the first member and the held-out forecasts."""
    from lstm_pipeline import plots
    from lstm_pipeline.tracking import TrainingRecord

    figures = {
        "loss": plots.loss_curve(fitted.ensemble.members[0].training),
        "forecast_vs_actual": plots.forecast_vs_actual(frame, fitted.evaluation.cv),
    }
    return TrainingRecord(
        cfg=cfg,
        frame=frame,
        source=cfg.source.path or cfg.source.kind,
        ensemble=fitted.ensemble,
        evaluation=fitted.evaluation,
        figures=figures,
        repairs=repairs,
        attachments={"validation": report} if report else None,
        intervals=backtested.quantiles if backtested else None,
    )
