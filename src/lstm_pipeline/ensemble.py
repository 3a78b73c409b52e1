"""The one training path: an ensemble of LSTMs fit on a history, and its median forecast.

Every caller that trains (the train flow, the backtest's folds, automatic selection, sweep trials)
goes through `fit_ensemble`, so what is scored is what gets registered. A member is one network
with its own preprocessing; members differ by seed, by window shape (`window.anchor` "mixed",
the default) and, from automatic selection, by config.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstm_pipeline.config import ModelConfig, TrainConfig, WindowConfig
from lstm_pipeline.errors import TrainingDivergedError
from lstm_pipeline.forecasting import forecast, median_forecast, predict_batched
from lstm_pipeline.panel import Panel

if TYPE_CHECKING:
    import keras

    from lstm_pipeline.recipe import Scaler
    from lstm_pipeline.training import TrainingResult
    from lstm_pipeline.windowing import WindowedData


@dataclass(frozen=True)
class Recipe:
    """What a member is trained with: the sections of the config that shape one network."""

    window: WindowConfig
    model: ModelConfig
    train: TrainConfig
    season_length: int = 1


@dataclass(frozen=True)
class Member:
    """One trained network, the scaler fit with it, and how it was trained."""

    network: keras.Model
    scaler: Scaler
    recipe: Recipe
    training: TrainingResult

    def forecast(self, history: pd.DataFrame | Panel, horizon: int) -> pd.DataFrame:
        """`unique_id, ds, yhat` for `horizon` steps after each series in `history` (a frame or its `Panel`)."""
        return forecast(
            lambda X: predict_batched(self.network, X),
            history,
            lookback=self.recipe.window.lookback,
            model_horizon=self.recipe.window.horizon,
            horizon=horizon,
            scaler=self.scaler,
        )


@dataclass(frozen=True)
class Ensemble:
    """Members whose forecasts are combined by their median, step by step."""

    members: list[Member] = field(default_factory=list)

    def forecast(self, history: pd.DataFrame | Panel, horizon: int) -> pd.DataFrame:
        """The members' median forecast (`unique_id, ds, yhat`)."""
        panel = history if isinstance(history, Panel) else Panel(history)  # laid out once for every member
        return median_forecast([m.forecast(panel, horizon) for m in self.members])

    @property
    def lookback(self) -> int:
        """The longest history any member reads."""
        return max(m.recipe.window.lookback for m in self.members)

    def save(self, folder: Path) -> dict[str, str]:
        """Save every network as `.keras` in `folder`; return the pyfunc's artifact names -> paths."""
        paths = {}
        for i, member in enumerate(self.members):
            key = "keras_model" if i == 0 else f"keras_model_{i}"  # the pyfunc's `_network_key`
            paths[key] = str(folder / f"{key}.keras")
            member.network.save(paths[key])
        return paths


def shapes(season_length: int) -> list[tuple[str, bool]]:
    """The window shapes a mixed ensemble takes turns through: (anchor, deseasonalise) pairs.

    With a season: the last level and the trend line of the deseasonalised series, the last level
    and the last season of the raw one (an untrained network forecasts seasonal naive), and no
    anchor, with and without the season (the level is information when a series mean-reverts).
    Without a season: the last level, the trend line, no anchor. No single shape won on every
    public series; their median did (BENCHMARKS.md).
    """
    if season_length < 2:
        return [("last", False), ("trend", False), ("none", False)]
    return [("last", True), ("trend", True), ("last", False), ("season", False), ("none", True), ("none", False)]


def member_seeds(train: TrainConfig) -> list[int]:
    """The seeds of an ensemble of `train.ensemble` members: `train.seed`, `train.seed + 1`, ..."""
    return [train.seed + i for i in range(train.ensemble)]


def fit_ensemble(history: pd.DataFrame, recipes: list[Recipe]) -> Ensemble:
    """Fit one member per recipe on all of `history` (validated, sorted by `unique_id, ds`).

    Each member trains on the windows of `history` minus its last `window.val_size` points, which
    drive early stopping; the windows of recipes that share a window config are cut once. A member
    whose weights are not finite (the fit diverged) raises `TrainingDivergedError`.
    """
    from lstm_pipeline.windowing import make_windows

    cut: dict[tuple[str, int], WindowedData] = {}
    members = []
    for recipe in recipes:
        window = recipe.window.model_copy(update={"test_size": 0})  # the caller held out what it scores
        key = (window.model_dump_json(), recipe.season_length)
        if key not in cut:
            cut[key] = make_windows(history, window, season_length=recipe.season_length)
        members.append(_fit_member(cut[key], recipe))
    return Ensemble(members)


def seeded(recipe: Recipe) -> list[Recipe]:
    """`recipe` once per member of its ensemble (`train.ensemble`), seeds `train.seed`, `train.seed + 1`, ...

    With `window.anchor` "mixed", member i takes shape i of `shapes` (round and round), so the
    median combines networks that see their windows differently.
    """
    turns = shapes(recipe.season_length)
    recipes = []
    for i, seed in enumerate(member_seeds(recipe.train)):
        window = recipe.window
        if window.anchor == "mixed":
            anchor, deseasonalise = turns[i % len(turns)]
            window = window.model_copy(update={"anchor": anchor, "deseasonalise": deseasonalise})
        train = recipe.train.model_copy(update={"seed": seed, "ensemble": 1})
        recipes.append(Recipe(window, recipe.model, train, recipe.season_length))
    return recipes


def _fit_member(data: WindowedData, recipe: Recipe) -> Member:
    from lstm_pipeline.training import train_network

    network, result = train_network(data, recipe.window, recipe.model, recipe.train)
    if not all(np.isfinite(w).all() for w in network.get_weights()):
        raise TrainingDivergedError(
            f"the network trained with seed {recipe.train.seed} has non-finite weights (the fit diverged); "
            f"lower train.learning_rate ({recipe.train.learning_rate:g}) or change train.loss"
        )
    return Member(network, data.scaler, recipe, result)
