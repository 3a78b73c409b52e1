"""Automatic selection: score a small space of recipes by rolling-origin backtest, ensemble the best.

Every candidate is one network (one seed) refit at each origin of a backtest on the history it
is given (`crossval.cross_validation`), so candidates are ranked on points they never saw. The
`top` best form the ensemble, each with `seeds` networks; the median of the top candidates'
backtest forecasts is the ensemble's own backtest, which scores it (its last origin is the test
part) and calibrates its intervals. The ensemble is then refit on the whole history.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_pipeline.config import AutoConfig, PipelineConfig
from lstm_pipeline.crossval import cross_validation, origins
from lstm_pipeline.data_defaults import MIN_WINDOWS
from lstm_pipeline.ensemble import Recipe, fit_ensemble
from lstm_pipeline.errors import DataValidationError


@dataclass(frozen=True)
class Candidate:
    """One point of the search space: its name, the settings it changes, and the recipe they give."""

    index: int
    settings: dict[str, object]
    recipe: Recipe

    @property
    def name(self) -> str:
        """Short and readable, for logs and MLflow run names."""
        return "auto-" + "-".join(f"{k.split('.')[-1]}={v}" for k, v in self.settings.items())


@dataclass(frozen=True)
class Scored:
    """A candidate's backtest: its forecasts at every origin and its mean MASE there."""

    candidate: Candidate
    cv: pd.DataFrame
    mase: float
    seconds: float


def candidates(cfg: PipelineConfig, frame: pd.DataFrame, hidden: list[int]) -> list[Candidate]:
    """The search space for `frame`: the anchor and deseasonalisation, the value transform, the lookback.

    With a season: the last level or the trend of the deseasonalised series, the last level of the
    raw one, or its last season (a network that starts as seasonal naive); without one, the last
    level or the trend; and no anchor at all (the default recipe), with or without the season.
    Log is tried only where every value is positive. The lookbacks are the chosen one and two
    horizons, cut to what the backtest can train on.
    """
    horizon, season = cfg.window.horizon, cfg.evaluate.season_length
    longest = _longest_lookback(frame, cfg, hidden)
    lookbacks = sorted({min(cfg.window.lookback, longest), min(2 * horizon, longest)})
    shapes: list[tuple[str, bool]] = [("last", True), ("trend", True), ("last", False), ("season", False)]
    shapes += [("none", True), ("none", False)]  # no anchor: the level itself is information (a stationary cycle)
    if season < 2:
        shapes = [("last", False), ("trend", False), ("none", False)]
    transforms = ["none", "log"] if float(frame["y"].min()) > 0 else ["none"]
    found: list[Candidate] = []
    for (anchor, deseasonalise), transform, lookback in itertools.product(shapes, transforms, lookbacks):
        if anchor == "season" and lookback < season:
            continue
        settings: dict[str, object] = {
            "window.anchor": anchor,
            "window.deseasonalise": deseasonalise,
            "window.transform": transform,
            "window.lookback": lookback,
        }
        window = cfg.window.model_copy(update={key.split(".")[1]: value for key, value in settings.items()})
        train = cfg.train.model_copy(update={"ensemble": 1})
        found.append(Candidate(len(found), settings, Recipe(window, cfg.model, train, season)))
    return found


def fold_plan(frame: pd.DataFrame, cfg: PipelineConfig) -> list[int]:
    """Points hidden at each selection origin: up to `auto.windows` origins half a horizon apart.

    Fewer origins when more would leave the oldest one too little history to train a lookback of
    a season (or half a horizon) on `MIN_WINDOWS` windows.
    """
    horizon, season = cfg.window.horizon, cfg.evaluate.season_length
    step = max(1, math.ceil(horizon / 2))
    shortest = int(frame.groupby("unique_id").size().min())
    wanted = max(2, min(season, math.ceil(horizon / 2)))
    for windows in range(cfg.auto.windows, 0, -1):
        hidden = origins(windows=windows, horizon=horizon, step=step)
        room = shortest - hidden[0] - cfg.window.val_size - horizon - MIN_WINDOWS + 1
        if room >= wanted or (windows == 1 and room >= 2):
            return hidden
    raise DataValidationError(
        f"rule 'enough history': automatic selection needs at least {2 * horizon + MIN_WINDOWS + 1} points "
        f"per series to backtest {horizon} steps ahead; the shortest series has {shortest}. Lower --horizon"
    )


def score_candidate(candidate: Candidate, frame: pd.DataFrame, hidden: list[int], season_length: int) -> Scored:
    """Backtest one candidate (one network, refit at every origin) and its mean MASE."""
    from lstm_pipeline.crossval import score

    began = time.perf_counter()
    fit = lambda history: fit_ensemble(history, [candidate.recipe]).forecast  # noqa: E731
    cv = cross_validation(frame, fit, hidden=hidden, horizon=candidate.recipe.window.horizon)
    scores = score(cv, frame, season_length=season_length, models=["model"])
    mase = float(scores.loc[scores["metric"] == "mase", "value"].mean())
    return Scored(candidate, cv, mase if np.isfinite(mase) else float("inf"), time.perf_counter() - began)


def select(
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    *,
    report: Callable[[Scored, int, int], None] = lambda scored, done, total: None,
) -> list[Scored]:
    """Score candidates one after another until `auto.budget_seconds` runs out; best first.

    `report` is called after each candidate (for progress lines). At least `auto.top` candidates
    are scored whatever the budget.
    """
    hidden = fold_plan(frame, cfg)
    space = candidates(cfg, frame, hidden)
    began, scored = time.perf_counter(), list[Scored]()
    for candidate in space:
        over_budget = time.perf_counter() - began > cfg.auto.budget_seconds
        if over_budget and len(scored) >= cfg.auto.top:
            break
        try:
            scored.append(score_candidate(candidate, frame, hidden, cfg.evaluate.season_length))
        except DataValidationError:
            continue  # a lookback or transform this data cannot take (e.g. log of a value <= -1)
        report(scored[-1], len(scored), len(space))
    if not scored:
        raise DataValidationError("automatic selection: no candidate could be trained on this data")
    return sorted(scored, key=lambda s: (s.mase, s.candidate.index))


def ensemble_recipes(best: list[Scored], auto: AutoConfig, seed: int) -> list[Recipe]:
    """The top `auto.top` candidates, each with `auto.seeds` networks (seeds from `seed` on)."""
    recipes = []
    for rank, scored in enumerate(best[: auto.top]):
        for k in range(auto.seeds):
            train = scored.candidate.recipe.train.model_copy(update={"seed": seed + rank * auto.seeds + k})
            r = scored.candidate.recipe
            recipes.append(Recipe(r.window, r.model, train, r.season_length))
    return recipes


def ensemble_backtest(best: list[Scored], top: int) -> pd.DataFrame:
    """The top candidates' backtest forecasts combined by their median: the ensemble's own backtest."""
    chosen = [s.cv for s in best[:top]]
    combined = chosen[0].drop(columns="model")
    combined["model"] = np.median(np.stack([cv["model"].to_numpy("float64") for cv in chosen]), axis=0)
    return combined


def _longest_lookback(frame: pd.DataFrame, cfg: PipelineConfig, hidden: list[int]) -> int:
    """The longest lookback the oldest selection origin still trains `MIN_WINDOWS` windows on."""
    shortest = int(frame.groupby("unique_id").size().min())
    return max(2, shortest - hidden[0] - cfg.window.val_size - cfg.window.horizon - MIN_WINDOWS + 1)
