"""The preprocessing recipe a model carries: value transform, seasonal part, scaling, anchors, calendar channels.

What the registered pyfunc needs to turn raw history into network inputs and outputs back into
values; it imports no configuration, so a served model loads without the training code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.seasonality import project_cycle, seasonal_component

_TINY = 1e-12
# Length of each calendar cycle and the phase (0 <= phase < length) of a timestamp within it.
CALENDAR_CYCLES: dict[str, tuple[float, Callable[[pd.DatetimeIndex], np.ndarray]]] = {
    "month": (12.0, lambda ds: np.asarray(ds.month - 1, "float64")),
    "dayofweek": (7.0, lambda ds: np.asarray(ds.dayofweek, "float64")),
    "hour": (24.0, lambda ds: np.asarray(ds.hour + ds.minute / 60, "float64")),
    "dayofyear": (365.25, lambda ds: np.asarray(ds.dayofyear - 1, "float64")),
}


def calendar_features(ds: Any, covariates: Sequence[str]) -> np.ndarray:
    """`sin, cos` of each covariate's phase at every timestamp: `float64[len(ds), 2 * len(covariates)]`.

    A cycle as two channels keeps December next to January, which one number (12 vs 1) would not.
    """
    flat = pd.Series(np.asarray(ds).reshape(-1))
    if not covariates:
        return np.empty((len(flat), 0), "float64")
    if not pd.api.types.is_datetime64_any_dtype(flat):
        raise DataValidationError(
            f"rule 'covariates need dates': window.covariates {list(covariates)} are calendar features, "
            f"but ds holds {flat.dtype} values, not timestamps (drop the covariates or give dates)"
        )
    index = pd.DatetimeIndex(flat)
    channels = []
    for name in covariates:
        length, phase = CALENDAR_CYCLES[name]
        angle = 2 * np.pi * phase(index) / length
        channels += [np.sin(angle), np.cos(angle)]
    return np.stack(channels, axis=1)


@dataclass(frozen=True)
class Scaler:
    """Everything that turns raw history into model inputs, per series, fit on training points only.

    `y` becomes `(f(y) - s - loc) / scale`: `f` is log1p when `value_transform` is "log" (else the
    identity), `s` the seasonal part when `season_length` > 1 (STL on the history given, projected
    forward by its last cycle; `seasonality.py`). With an `anchor`, each window's inputs and
    targets are then measured from a baseline of its own inputs (their last value, their mean, or
    the least-squares line through them, extended over the horizon, or their last season
    repeated: `anchor_period` steps), so a trend never pushes
    inputs outside the range seen in training and a network that outputs 0 forecasts that baseline;
    each calendar covariate adds a sin and a cos channel beside y. Stored with the model, so
    forecasts build exactly the inputs training did.
    """

    method: str
    loc: dict[str, float]
    scale: dict[str, float]
    value_transform: str = "none"
    covariates: tuple[str, ...] = ()
    anchor: str = "none"
    season_length: int = 1
    anchor_period: int = 1  # the season the "season" anchor repeats

    @classmethod
    def fit(
        cls,
        method: str,
        train_values: dict[str, np.ndarray],
        *,
        value_transform: str = "none",
        covariates: Sequence[str] = (),
        anchor: str = "none",
        season_length: int = 1,
        anchor_period: int = 1,
    ) -> Scaler:
        """Fit one (loc, scale) per series on its deseasonalised values; a constant series gets scale 1."""
        loc, scale = {}, {}
        for uid, raw in train_values.items():
            values = _forward(value_transform, uid, raw)
            values = values - seasonal_component(values, season_length)[0]
            if method == "standard":
                center, spread = float(np.mean(values)), float(np.std(values))
            elif method == "minmax":
                center, spread = float(np.min(values)), float(np.ptp(values))
            else:
                center, spread = 0.0, 1.0
            loc[uid], scale[uid] = center, spread if spread > _TINY else 1.0
        return cls(method, loc, scale, value_transform, tuple(covariates), anchor, season_length, anchor_period)

    def adjust(self, uid: str, values: np.ndarray, *, fit_points: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Scaled, deseasonalised `values` of series `uid`, and the seasonal cycle that follows them.

        The seasonal part is estimated on the first `fit_points` values (default: all of them) and
        projected over the rest, so points after them never shape it.
        """
        loc, scale = self._params(uid)
        z = _forward(self.value_transform, uid, values)
        fit_points = len(z) if fit_points is None else fit_points
        seasonal, cycle = seasonal_component(z[:fit_points], self.season_length)
        ahead = len(z) - fit_points
        if ahead:
            seasonal = np.concatenate([seasonal, project_cycle(cycle, ahead)])
            cycle = np.roll(cycle, -ahead)
        return (z - seasonal - loc) / scale, cycle

    def restore(self, uids: np.ndarray, scaled: np.ndarray, cycles: np.ndarray) -> np.ndarray:
        """Undo `adjust` for forecasts `[n, h]`: row i belongs to `uids[i]`, whose seasonal cycle is `cycles[i]`."""
        loc, scale = self.params(uids)
        seasonal = cycles[:, np.arange(scaled.shape[1]) % cycles.shape[1]]
        values = scaled * scale[:, np.newaxis] + loc[:, np.newaxis] + seasonal
        return np.expm1(values) if self.value_transform == "log" else values

    def knows(self, uids: np.ndarray) -> np.ndarray:
        """bool[n]: whether each series of `uids` was in the training data."""
        return self._positions(uids) >= 0

    def params(self, uids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`loc` and `scale` of every series of `uids` as arrays; the first unknown one raises as in `adjust`."""
        positions = self._positions(uids)
        if (positions < 0).any():
            self._params(str(uids[int(np.argmax(positions < 0))]))
        loc = np.fromiter(self.loc.values(), dtype="float64", count=len(self.loc))
        scale = np.fromiter(map(self.scale.__getitem__, self.loc), dtype="float64", count=len(self.loc))
        return loc[positions], scale[positions]

    def out_of_domain(self, values: np.ndarray) -> np.ndarray:
        """bool: the values the value transform refuses (<= -1 for log1p)."""
        return values <= -1 if self.value_transform == "log" else np.zeros(np.shape(values), dtype=bool)

    def forward(self, values: np.ndarray) -> np.ndarray:
        """The value transform of values already checked with `out_of_domain`."""
        return np.log1p(values) if self.value_transform == "log" else values

    def transform(self, uid: str, values: np.ndarray) -> np.ndarray:
        """Scale (and deseasonalise) raw values of series `uid`: `adjust` without the cycle."""
        return self.adjust(uid, values)[0]

    def inverse(self, uids: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """Undo the scaling row by row (no seasonal part): row i of `scaled` belongs to series `uids[i]`."""
        return self.restore(uids, scaled, np.zeros((len(uids), 1)))

    def baseline(self, scaled: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The anchor of windows `[n, lookback]`: its value at each input and at each of `horizon` steps ahead.

        Returns `([n, lookback], [n, horizon])`; inputs and targets are measured from it. None without an anchor.
        """
        if self.anchor in ("last", "mean"):
            level = scaled[:, -1:] if self.anchor == "last" else scaled.mean(axis=1, keepdims=True)
            return np.broadcast_to(level, scaled.shape), np.broadcast_to(level, (len(scaled), horizon))
        if self.anchor == "season" and 2 <= self.anchor_period <= scaled.shape[1]:
            # the last season of inputs, repeated: an untrained network forecasts seasonal naive
            lookback, m = scaled.shape[1], self.anchor_period
            inputs_at = (lookback - m) + (np.arange(lookback) - (lookback - m)) % m
            return scaled[:, inputs_at], scaled[:, (lookback - m) + np.arange(horizon) % m]
        if self.anchor in ("trend", "season"):  # a season longer than the lookback falls back to the trend
            lookback = scaled.shape[1]
            centred = np.arange(lookback) - (lookback - 1) / 2
            slope = (scaled - scaled.mean(axis=1, keepdims=True)) @ centred[:, np.newaxis] / (centred @ centred)
            end = scaled.mean(axis=1, keepdims=True) + slope * (lookback - 1) / 2  # the line at the last input
            return end + slope * (np.arange(lookback) - (lookback - 1)), end + slope * np.arange(1, horizon + 1)
        return None

    def inputs(self, scaled: np.ndarray, ds: np.ndarray) -> np.ndarray:
        """Model inputs `[n, lookback, 1 + 2k]` from scaled windows `[n, lookback]` and their timestamps."""
        base = self.baseline(scaled, 1)
        X = (scaled if base is None else scaled - base[0])[:, :, np.newaxis]
        if not self.covariates:
            return X
        features = calendar_features(ds, self.covariates).reshape(*scaled.shape, -1)
        return np.concatenate([X, features], axis=2)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state, stored beside the model (the optional keys only when they are set)."""
        state: dict[str, Any] = {"method": self.method, "loc": self.loc, "scale": self.scale}
        if self.value_transform != "none":
            state["transform"] = self.value_transform
        if self.covariates:
            state["covariates"] = list(self.covariates)
        if self.anchor != "none":
            state["anchor"] = self.anchor
        if self.season_length > 1:
            state["season_length"] = self.season_length
        if self.anchor_period > 1:
            state["anchor_period"] = self.anchor_period
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Scaler:
        """Rebuild a scaler from `to_dict` output."""
        return cls(
            state["method"],
            dict(state["loc"]),
            dict(state["scale"]),
            state.get("transform", "none"),
            tuple(state.get("covariates", ())),
            state.get("anchor", "none"),
            int(state.get("season_length", 1)),
            int(state.get("anchor_period", 1)),
        )

    def _positions(self, uids: np.ndarray) -> np.ndarray:
        """Where each series of `uids` (as text) is among the known ones; -1 for an unknown one."""
        return pd.Index(list(self.loc)).get_indexer(pd.Index(list(map(str, uids))))

    def _params(self, uid: str) -> tuple[float, float]:
        if uid not in self.loc:
            raise DataValidationError(
                f"rule 'known series': {uid!r} was not in the training data; the model knows {sorted(self.loc)[:10]}"
            )
        return self.loc[uid], self.scale[uid]


def _forward(value_transform: str, uid: str, values: np.ndarray) -> np.ndarray:
    """Apply the value transform; log1p needs every value above -1."""
    if value_transform != "log":
        return values
    if (bad := int(np.sum(values <= -1))) > 0:
        raise DataValidationError(
            f"rule 'log transform needs y > -1': series {uid!r} has {bad} values <= -1 (set window.transform=none)"
        )
    return np.log1p(values)
