"""Time split, per-series scaling fit on the training part only, calendar covariates, and sliding windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from lstm_pipeline.config import WindowConfig
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
        params = np.array([self._params(str(uid)) for uid in uids], dtype="float64").reshape(-1, 2)
        seasonal = cycles[:, np.arange(scaled.shape[1]) % cycles.shape[1]]
        values = scaled * params[:, 1:2] + params[:, 0:1] + seasonal
        return np.expm1(values) if self.value_transform == "log" else values

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


@dataclass(frozen=True)
class Windows:
    """Supervised windows: `X[n, lookback, 1 + 2k]` (y, then k covariates' sin/cos), `y[n, horizon]`.

    The index says which series and cutoff each row is.
    """

    X: np.ndarray
    y: np.ndarray
    index: pd.DataFrame  # columns unique_id, cutoff (the ds of the last input value)
    levels: np.ndarray | None = (
        None  # float64[n, horizon]: each window's anchor (window.anchor), added back to forecasts
    )

    def __len__(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class WindowedData:
    """The three time-ordered splits and the scaler fit on the first."""

    train: Windows
    val: Windows
    test: Windows
    scaler: Scaler


def min_history(cfg: WindowConfig) -> int:
    """Points a series needs for one training window plus its validation and test parts."""
    return cfg.lookback + cfg.horizon + cfg.val_size + cfg.test_size


def make_windows(frame: pd.DataFrame, cfg: WindowConfig, *, season_length: int = 1) -> WindowedData:
    """Split every series by time, fit the scaler on the training parts and cut windows.

    A window belongs to the split that holds all of its targets; its inputs may reach back into
    earlier splits, which is what the model sees at forecast time too, so nothing leaks. With
    `cfg.deseasonalise`, the seasonal part (period `season_length`) is estimated on the training
    part only and projected over the rest.
    """
    if cfg.anchor == "mixed":
        raise ValueError("window.anchor 'mixed' names an ensemble's shapes: cut each member's (ensemble.seeded)")
    groups = {str(uid): g for uid, g in frame.groupby("unique_id", sort=True)}
    train_len = {uid: len(g) - cfg.val_size - cfg.test_size for uid, g in groups.items()}
    for uid, group in groups.items():
        _check_length(uid, len(group), train_len[uid], cfg)
    train_values = {uid: g["y"].to_numpy("float64")[: train_len[uid]] for uid, g in groups.items()}
    scaler = Scaler.fit(
        cfg.scaling,
        train_values,
        value_transform=cfg.transform,
        covariates=cfg.covariates,
        anchor=cfg.anchor,
        season_length=season_length if cfg.deseasonalise else 1,
        anchor_period=season_length if cfg.anchor == "season" else 1,
    )
    for uid, group in groups.items():
        _check_covariates_vary(uid, group["ds"], cfg.covariates)
    parts: dict[str, list[Windows]] = {"train": [], "val": [], "test": []}
    for uid, group in groups.items():
        for split, windows in _series_windows(uid, group, train_len[uid], cfg, scaler).items():
            parts[split].append(windows)
    data = WindowedData(**{split: _concat(w, cfg) for split, w in parts.items()}, scaler=scaler)
    for windows in (data.train, data.val, data.test):
        if not (np.isfinite(windows.X).all() and np.isfinite(windows.y).all()):
            raise DataValidationError("rule 'finite windows': a NaN or inf would reach the network (validate first)")
    return data


def _series_windows(
    uid: str, group: pd.DataFrame, train_len: int, cfg: WindowConfig, scaler: Scaler
) -> dict[str, Windows]:
    values, _ = scaler.adjust(uid, group["y"].to_numpy("float64"), fit_points=train_len)
    span = sliding_window_view(values, cfg.lookback + cfg.horizon)
    target_start = np.arange(len(span)) + cfg.lookback
    target_end = target_start + cfg.horizon - 1
    val_start, test_start = train_len, len(values) - cfg.test_size
    masks = {
        "train": target_end < val_start,
        "val": (target_start >= val_start) & (target_end < test_start),
        "test": target_start >= test_start,
    }
    ds = group["ds"].to_numpy()
    X = scaler.inputs(span[:, : cfg.lookback], sliding_window_view(ds, cfg.lookback)[: len(span)]).astype("float32")
    base = scaler.baseline(span[:, : cfg.lookback], cfg.horizon)
    levels = None if base is None else np.ascontiguousarray(base[1])
    y = (span[:, cfg.lookback :] if levels is None else span[:, cfg.lookback :] - levels).astype("float32")
    cutoffs = ds[target_start - 1]
    return {
        split: _windows(uid, X[m], y[m], cutoffs[m], None if levels is None else levels[m])
        for split, m in masks.items()
    }


def _check_covariates_vary(uid: str, ds: pd.Series, covariates: Sequence[str]) -> None:
    """Refuse a covariate that is the same at every timestamp (month on yearly data): it is noise."""
    features = calendar_features(ds, covariates)
    for position, name in enumerate(covariates):
        if np.ptp(features[:, 2 * position : 2 * position + 2], axis=0).max() <= 1e-9:
            raise DataValidationError(
                f"rule 'covariate varies': window.covariates {name!r} has one value at every timestamp of "
                f"series {uid!r} (its step is a whole number of {name} cycles); drop it"
            )


def _check_length(uid: str, length: int, train_len: int, cfg: WindowConfig) -> None:
    if train_len < cfg.lookback + cfg.horizon:
        raise DataValidationError(
            f"rule 'enough history': series {uid!r} has {length} points; it needs at least "
            f"{min_history(cfg)} (lookback + horizon + val_size + test_size)"
        )


def _windows(uid: str, X: np.ndarray, y: np.ndarray, cutoffs: np.ndarray, levels: np.ndarray | None) -> Windows:
    return Windows(X=X, y=y, index=pd.DataFrame({"unique_id": uid, "cutoff": cutoffs}), levels=levels)


def _concat(windows: list[Windows], cfg: WindowConfig) -> Windows:
    if not windows:
        empty = np.empty((0, cfg.lookback, 1 + 2 * len(cfg.covariates)), "float32")
        levels = None if cfg.anchor == "none" else np.empty((0, cfg.horizon), "float64")
        return Windows(
            empty, np.empty((0, cfg.horizon), "float32"), pd.DataFrame(columns=["unique_id", "cutoff"]), levels
        )
    return Windows(
        X=np.concatenate([w.X for w in windows]),
        y=np.concatenate([w.y for w in windows]),
        index=pd.concat([w.index for w in windows], ignore_index=True),
        levels=None if cfg.anchor == "none" else np.concatenate([w.levels for w in windows if w.levels is not None]),
    )
