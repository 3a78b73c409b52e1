"""The recipe space and how its scored candidates become one ensemble (no network is trained here)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_pipeline.auto import Scored, candidates, ensemble_backtest, ensemble_members, ensemble_recipes, fold_plan
from lstm_pipeline.config import AutoConfig, load_config
from lstm_pipeline.data_defaults import resolve


def monthly(points: int = 120) -> pd.DataFrame:
    months = pd.date_range("2010-01-31", periods=points, freq="ME")
    y = 100 + 10 * np.sin(2 * np.pi * np.arange(points) / 12) + np.arange(points)
    return pd.DataFrame({"unique_id": "s", "ds": months, "y": y})


def space(frame: pd.DataFrame, **auto: object) -> tuple[list, AutoConfig]:
    cfg = resolve(load_config(None, {"auto.enabled": True, "window.horizon": 6, **auto}), frame)
    return candidates(cfg, frame, fold_plan(frame, cfg)), cfg.auto


def scored(found: list, rng: np.random.Generator) -> list[Scored]:
    """Fake backtests: every candidate forecasts the same 4 rows, each with its own values."""
    rows = pd.DataFrame({"unique_id": "s", "ds": range(4), "cutoff": 0, "fold": 0, "y": 1.0})
    return [Scored(c, rows.assign(model=rng.normal(size=4)), mase=float(i), seconds=0.0) for i, c in enumerate(found)]


def test_every_candidate_has_its_own_seed_and_the_anchors_vary_fastest():
    found, _ = space(monthly())
    seeds = [c.recipe.train.seed for c in found]
    assert len(set(seeds)) == len(found)
    first_shapes = {c.settings["window.anchor"] for c in found[:6]}
    assert first_shapes == {"last", "trend", "season", "none"}  # a budget cut early keeps every shape


def test_by_default_every_candidate_joins_the_ensemble_and_its_backtest_is_their_median():
    found, auto = space(monthly())
    best = scored(found, np.random.default_rng(0))
    recipes = ensemble_recipes(best, auto)
    assert len(recipes) == len(found)
    assert [r.train.seed for r in recipes] == [s.candidate.recipe.train.seed for s in best]
    combined = ensemble_backtest(best, auto)
    expected = np.median(np.stack([s.cv["model"].to_numpy() for s in best]), axis=0)
    np.testing.assert_allclose(combined["model"].to_numpy(), expected)
    assert ensemble_members(best, auto) == f"the median of all {len(found)} candidates"


def test_top_k_keeps_the_k_best_with_their_seeds():
    found, auto = space(monthly(), **{"auto.top": 2, "auto.seeds": 3})
    best = scored(found, np.random.default_rng(1))
    recipes = ensemble_recipes(best, auto)
    assert len(recipes) == 6
    assert len({r.train.seed for r in recipes}) == 6
    expected = np.median(np.stack([s.cv["model"].to_numpy() for s in best[:2]]), axis=0)
    np.testing.assert_allclose(ensemble_backtest(best, auto)["model"].to_numpy(), expected)
    assert ensemble_members(best, auto).startswith("the median of the best 2, 3 seeds each: auto-anchor=")
