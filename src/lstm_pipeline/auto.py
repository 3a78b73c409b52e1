"""Automatic recipes: score a small space of recipes by rolling-origin backtest and ensemble them.

Every candidate is one network (its own seed) refit at each origin of a backtest on the history
it is given (`crossval.cross_validation`), so each is scored on points it never saw. By default
every candidate joins the ensemble (`auto.top` 0): on short series a ranking on one or two
origins is mostly noise, and the median of all the candidates beat the median of the best few
on every public series measured (BENCHMARKS.md). With `auto.top` k only the k best join. The
median of the chosen candidates' backtest forecasts is the ensemble's own backtest, which scores
it (its last origin is the test part) and calibrates its intervals; the ensemble is then refit
on the whole history.
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
from lstm_pipeline.ensemble import Recipe, fit_ensemble, shapes
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
    """The search space for `frame`: the window shape (`ensemble.shapes`), the value transform, the lookback.

    Log is tried only where every value is positive. The lookbacks are the chosen one and two
    horizons, cut to what the backtest can train on. The anchors vary fastest, so a budget that
    stops early still leaves every shape in the ensemble. Candidate i trains with seed `train.seed + i`.
    """
    horizon, season = cfg.window.horizon, cfg.evaluate.season_length
    longest = _longest_lookback(frame, cfg, hidden)
    lookbacks = sorted({min(cfg.window.lookback, longest), min(2 * horizon, longest)})
    transforms = ["none", "log"] if float(frame["y"].min()) > 0 else ["none"]
    found: list[Candidate] = []
    for lookback, transform, (anchor, deseasonalise) in itertools.product(lookbacks, transforms, shapes(season)):
        if anchor == "season" and lookback < season:
            continue
        settings: dict[str, object] = {
            "window.anchor": anchor,
            "window.deseasonalise": deseasonalise,
            "window.transform": transform,
            "window.lookback": lookback,
        }
        window = cfg.window.model_copy(update={key.split(".")[1]: value for key, value in settings.items()})
        train = cfg.train.model_copy(update={"ensemble": 1, "seed": cfg.train.seed + len(found)})
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
    (3 when every candidate joins) are scored whatever the budget.
    """
    hidden = fold_plan(frame, cfg)
    space = candidates(cfg, frame, hidden)
    began, scored = time.perf_counter(), list[Scored]()
    for candidate in space:
        over_budget = time.perf_counter() - began > cfg.auto.budget_seconds
        if over_budget and len(scored) >= (cfg.auto.top or 3):
            break
        try:
            scored.append(score_candidate(candidate, frame, hidden, cfg.evaluate.season_length))
        except DataValidationError:
            continue  # a lookback or transform this data cannot take (e.g. log of a value <= -1)
        report(scored[-1], len(scored), len(space))
    if not scored:
        raise DataValidationError("automatic selection: no candidate could be trained on this data")
    return sorted(scored, key=lambda s: (s.mase, s.candidate.index))


def ensemble_recipes(best: list[Scored], auto: AutoConfig) -> list[Recipe]:
    """The chosen candidates, each with `auto.seeds` networks: its own seed, then that plus 1000, 2000, ..."""
    recipes = []
    for scored in best[: auto.chosen(len(best))]:
        r = scored.candidate.recipe
        for k in range(auto.seeds):
            train = r.train.model_copy(update={"seed": r.train.seed + 1000 * k})
            recipes.append(Recipe(r.window, r.model, train, r.season_length))
    return recipes


def ensemble_members(best: list[Scored], auto: AutoConfig) -> str:
    """One line on what the ensemble holds, for the console."""
    n = auto.chosen(len(best))
    seeds = f", {auto.seeds} seeds each" if auto.seeds > 1 else ""
    if auto.top == 0:
        return f"the median of all {n} candidates{seeds}"
    return f"the median of the best {n}{seeds}: " + ", ".join(s.candidate.name for s in best[:n])


def ensemble_backtest(best: list[Scored], auto: AutoConfig) -> pd.DataFrame:
    """The chosen candidates' backtest forecasts combined by their median: the ensemble's own backtest."""
    chosen = [s.cv for s in best[: auto.chosen(len(best))]]
    combined = chosen[0].drop(columns="model")
    combined["model"] = np.median(np.stack([cv["model"].to_numpy("float64") for cv in chosen]), axis=0)
    return combined


def _longest_lookback(frame: pd.DataFrame, cfg: PipelineConfig, hidden: list[int]) -> int:
    """The longest lookback the oldest selection origin still trains `MIN_WINDOWS` windows on."""
    shortest = int(frame.groupby("unique_id").size().min())
    return max(2, shortest - hidden[0] - cfg.window.val_size - cfg.window.horizon - MIN_WINDOWS + 1)
