"""Time split, per-series scaling fit on the training part only, and vectorised sliding windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from lstm_pipeline.config import WindowConfig
from lstm_pipeline.errors import DataValidationError

_TINY = 1e-12


@dataclass(frozen=True)
class Scaler:
    """Per-series affine scaling `(y - loc) / scale`, fit on training points only."""

    method: str
    loc: dict[str, float]
    scale: dict[str, float]

    @classmethod
    def fit(cls, method: str, train_values: dict[str, np.ndarray]) -> Scaler:
        """Fit one (loc, scale) per series; a constant series gets scale 1 instead of 0."""
        loc, scale = {}, {}
        for uid, values in train_values.items():
            if method == "standard":
                center, spread = float(np.mean(values)), float(np.std(values))
            elif method == "minmax":
                center, spread = float(np.min(values)), float(np.ptp(values))
            else:
                center, spread = 0.0, 1.0
            loc[uid], scale[uid] = center, spread if spread > _TINY else 1.0
        return cls(method, loc, scale)

    def transform(self, uid: str, values: np.ndarray) -> np.ndarray:
        """Scale raw values of series `uid`."""
        loc, scale = self._params(uid)
        return (values - loc) / scale

    def inverse(self, uids: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """Undo the scaling row by row: row i of `scaled` belongs to series `uids[i]`."""
        params = np.array([self._params(str(uid)) for uid in uids], dtype="float64").reshape(-1, 2)
        return scaled * params[:, 1:2] + params[:, 0:1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state, stored beside the model."""
        return {"method": self.method, "loc": self.loc, "scale": self.scale}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Scaler:
        """Rebuild a scaler from `to_dict` output."""
        return cls(state["method"], dict(state["loc"]), dict(state["scale"]))

    def _params(self, uid: str) -> tuple[float, float]:
        if uid not in self.loc:
            raise DataValidationError(
                f"rule 'known series': {uid!r} was not in the training data; the model knows {sorted(self.loc)[:10]}"
            )
        return self.loc[uid], self.scale[uid]


@dataclass(frozen=True)
class Windows:
    """Supervised windows: `X[n, lookback, 1]`, `y[n, horizon]` and which series/cutoff each row is."""

    X: np.ndarray
    y: np.ndarray
    index: pd.DataFrame  # columns unique_id, cutoff (the ds of the last input value)

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


def make_windows(frame: pd.DataFrame, cfg: WindowConfig) -> WindowedData:
    """Split every series by time, fit the scaler on the training parts and cut windows.

    A window belongs to the split that holds all of its targets; its inputs may reach back into
    earlier splits, which is what the model sees at forecast time too, so nothing leaks.
    """
    groups = {str(uid): g for uid, g in frame.groupby("unique_id", sort=True)}
    train_len = {uid: len(g) - cfg.val_size - cfg.test_size for uid, g in groups.items()}
    for uid, group in groups.items():
        _check_length(uid, len(group), train_len[uid], cfg)
    scaler = Scaler.fit(cfg.scaling, {uid: g["y"].to_numpy("float64")[: train_len[uid]] for uid, g in groups.items()})
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
    values = scaler.transform(uid, group["y"].to_numpy("float64"))
    span = sliding_window_view(values, cfg.lookback + cfg.horizon)
    target_start = np.arange(len(span)) + cfg.lookback
    target_end = target_start + cfg.horizon - 1
    val_start, test_start = train_len, len(values) - cfg.test_size
    masks = {
        "train": target_end < val_start,
        "val": (target_start >= val_start) & (target_end < test_start),
        "test": target_start >= test_start,
    }
    cutoffs = group["ds"].to_numpy()[target_start - 1]
    return {split: _windows(uid, span[m], cutoffs[m], cfg.lookback) for split, m in masks.items()}


def _check_length(uid: str, length: int, train_len: int, cfg: WindowConfig) -> None:
    if train_len < cfg.lookback + cfg.horizon:
        raise DataValidationError(
            f"rule 'enough history': series {uid!r} has {length} points; it needs at least "
            f"{min_history(cfg)} (lookback + horizon + val_size + test_size)"
        )


def _windows(uid: str, span: np.ndarray, cutoffs: np.ndarray, lookback: int) -> Windows:
    index = pd.DataFrame({"unique_id": uid, "cutoff": cutoffs})
    X = span[:, :lookback, np.newaxis].astype("float32")
    return Windows(X=X, y=span[:, lookback:].astype("float32"), index=index)


def _concat(windows: list[Windows], cfg: WindowConfig) -> Windows:
    if not windows:
        empty = np.empty((0, cfg.lookback, 1), "float32")
        return Windows(empty, np.empty((0, cfg.horizon), "float32"), pd.DataFrame(columns=["unique_id", "cutoff"]))
    return Windows(
        X=np.concatenate([w.X for w in windows]),
        y=np.concatenate([w.y for w in windows]),
        index=pd.concat([w.index for w in windows], ignore_index=True),
    )
