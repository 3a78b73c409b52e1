"""Time split, the recipe (`recipe.Scaler`) fit on the training part only, and sliding windows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from lstm_pipeline.config import WindowConfig
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.recipe import Scaler, calendar_features


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
