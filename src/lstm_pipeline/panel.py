"""The series of a long frame as index arrays, and what a forecast reads at the end of each.

One stable sort by `unique_id` lays the series out one after another (in the order
`groupby("unique_id", sort=True)` gives, each series' rows in frame order), so latest windows,
tails and per-series counts are fancy indexing and `np.bincount`, not a loop over series. Steps are
inferred once per distinct pattern of timestamps (`contract.run_frequencies`) and future
timestamps made once per distinct step, or per distinct (step, last timestamp) for calendar steps.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import Day, Tick

from lstm_pipeline.contract import run_frequencies

STEP_POINTS = 200  # a series' step is read from its latest 200 points
_NANOS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}  # per unit of a datetime64 column


class Panel:
    """A history frame (`unique_id, ds, y`) laid out series by series; built once, read by every member."""

    def __init__(self, history: pd.DataFrame) -> None:
        codes, keys = pd.factorize(history["unique_id"], sort=True)  # groupby(sort=True)'s groups, NaN left out
        rows = np.flatnonzero(codes >= 0)
        self.order = rows[np.argsort(codes[rows], kind="stable")]  # frame positions, series after series
        self.lengths = np.bincount(codes[rows], minlength=len(keys))
        self.ends = np.cumsum(self.lengths)  # where each series ends in `order`
        self.keys = keys  # as groupby gives them; `uids` as text
        self.uids = np.array(list(map(str, keys)), dtype=object)
        self.y = history["y"].to_numpy("float64")
        self.ds = history["ds"]
        self._memo: dict[Any, Any] = {}

    def __len__(self) -> int:
        return len(self.uids)

    def key(self, i: int) -> object:
        """Series `i`'s `unique_id` as `groupby` gives it (a Python int for an integer id)."""
        return self.keys[i : i + 1].tolist()[0]

    def latest(self, points: int) -> np.ndarray:
        """int64[n, points]: the frame positions of each series' last `points` rows (each has that many)."""
        return self.order[self.ends[:, np.newaxis] - points + np.arange(points)]

    def dates(self, rows: np.ndarray) -> np.ndarray:
        """`ds` at frame positions `rows`, as windows hold it (datetime64, int64, or Timestamps with a time zone)."""
        return self.ds.iloc[rows.reshape(-1)].to_numpy().reshape(rows.shape)

    def rows_of(self, i: int) -> np.ndarray:
        """The frame positions of series `i`, in frame order."""
        return self.order[self.ends[i] - self.lengths[i] : self.ends[i]]

    def per_series(self, mask: np.ndarray) -> np.ndarray:
        """How many of each series' rows `mask` (one bool per frame row) marks."""
        return np.bincount(np.repeat(np.arange(len(self)), self.lengths), mask[self.order], len(self)).astype(int)

    def memo(self, key: Any, compute: Callable[[], Any]) -> Any:
        """`compute()` once per key for this history (the seasonal parts members share)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @cached_property
    def steps(self) -> np.ndarray:
        """object[n]: each series' step (an integer step or an offset alias) in its latest points, else "1"."""
        counts = np.minimum(self.lengths, STEP_POINTS)
        starts = np.cumsum(counts) - counts
        within = np.arange(counts.sum()) - np.repeat(starts, counts)
        tail = self.order[np.repeat(self.ends - counts, counts) + within]
        found = run_frequencies(self.ds.iloc[tail], counts)
        return np.where(pd.isna(found), "1", found).astype(object)

    def future(self, horizon: int) -> np.ndarray:
        """[n, horizon]: the timestamps after each series' last `ds`, each series stepping by its own step."""
        last = self.order[self.ends - 1]
        distinct, which = np.unique(self.steps.astype(str), return_inverse=True)
        parts = [(which == j, _after(self.ds, last[which == j], step, horizon)) for j, step in enumerate(distinct)]
        out = np.empty((len(self), horizon), dtype=np.result_type(*[block.dtype for _, block in parts]))
        for rows, block in parts:
            out[rows] = block
        return out


def _after(ds: pd.Series, last: np.ndarray, step: str, horizon: int) -> np.ndarray:
    """[len(last), horizon]: the timestamps after the rows `last` of `ds`, `step` apart.

    Integer and fixed steps are arithmetic on all rows at once (what `date_range` does for them);
    calendar steps (months, weeks, business days) run `date_range` once per distinct last timestamp.
    """
    at = ds.iloc[last]
    values, ahead = at.to_numpy(), np.arange(1, horizon + 1)
    if step.lstrip("-").isdigit() and values.dtype.kind in "iu":
        return values[:, np.newaxis] + int(step) * ahead
    if (fixed := _fixed_step(step, values.dtype)) is not None:
        return values[:, np.newaxis] + fixed * ahead
    first, which = np.unique(pd.factorize(at)[0], return_index=True, return_inverse=True)[1:]
    blocks = np.stack([step_timestamps(at.iloc[i], step, horizon) for i in first])
    return blocks[which.reshape(-1)]


def _fixed_step(step: str, dtype: np.dtype) -> np.timedelta64 | None:
    """The step in the dtype's unit, for naive timestamps and a fixed-length step (hours, days); else None."""
    if dtype.kind != "M" or step.lstrip("-").isdigit():
        return None
    offset = to_offset(step)
    if not isinstance(offset, Tick | Day):
        return None
    unit = np.datetime_data(dtype)[0]
    nanos, per_unit = pd.Timedelta(offset).value, _NANOS[unit]  # type: ignore[arg-type]
    return None if nanos % per_unit else np.timedelta64(nanos // per_unit, unit)  # type: ignore[call-overload]


def step_timestamps(last: object, step: str, horizon: int) -> np.ndarray:
    """The `horizon` timestamps after `last`, `step` apart (an integer step or an offset alias)."""
    if step.lstrip("-").isdigit():
        return np.asarray(last) + int(step) * np.arange(1, horizon + 1)
    dates = pd.date_range(start=pd.Timestamp(last), periods=horizon + 1, freq=step)  # type: ignore[arg-type, call-overload]
    return np.asarray(dates[1:])
