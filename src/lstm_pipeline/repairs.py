"""Explicit, opt-in repairs of a series frame: sort, drop exact duplicates, fill short gaps.

Each repair applied is reported (what, how many rows) so the run log says what the data went
through; the digest MLflow records is the digest of the repaired frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_pipeline.config import RepairConfig
from lstm_pipeline.contract import frequencies


@dataclass(frozen=True)
class Repair:
    """One repair that changed the data."""

    name: str
    rows: int
    detail: str


def repair(frame: pd.DataFrame, cfg: RepairConfig, *, freq: str | None = None) -> tuple[pd.DataFrame, list[Repair]]:
    """Apply the repairs switched on in `cfg`; return the new frame and what was done."""
    done: list[Repair] = []
    if cfg.sort:
        done += _sorted_record(frame)
        frame = in_time_order(frame)
    if cfg.drop_duplicates:
        deduplicated = frame.drop_duplicates(ignore_index=True)
        if dropped := len(frame) - len(deduplicated):
            done.append(Repair("drop_duplicates", dropped, "exact duplicate rows dropped"))
        frame = deduplicated
    if cfg.fill_gaps:
        frame, filled = fill_gaps(frame, max_gap=cfg.max_gap, freq=freq)
        if filled:
            done.append(Repair("fill_gaps", filled, f"values interpolated in gaps of at most {cfg.max_gap} steps"))
    return frame, done


def fill_gaps(frame: pd.DataFrame, *, max_gap: int, freq: str | None = None) -> tuple[pd.DataFrame, int]:
    """Insert missing timestamps and interpolate `y` linearly across runs of at most `max_gap` steps.

    Missing values (NaN `y`) count as gaps too. Longer runs stay as they are, so validation still
    names them: a long hole is not something to invent data for.
    """
    parts, filled = [], 0
    freqs = frequencies(frame, freq)
    for uid, group in frame.groupby("unique_id", sort=True):
        step = freqs[str(uid)]
        if not (group["ds"].is_unique and group["ds"].is_monotonic_increasing):
            parts.append(group)  # out of order or duplicated: validation names it, nothing to fill
            continue
        full = group.set_index("ds")["y"]
        if step is not None:
            full = full.reindex(_grid(group["ds"], step))
        values = full.to_numpy("float64")
        fillable = _short_runs(np.isnan(values), max_gap)
        interpolated = full.interpolate(method="linear", limit_area="inside").to_numpy("float64")
        values = np.where(fillable, interpolated, values)
        filled += int(fillable.sum())
        kept = ~np.isnan(values) | full.index.isin(group["ds"])
        parts.append(pd.DataFrame({"unique_id": uid, "ds": full.index[kept], "y": values[kept]}))
    return pd.concat(parts, ignore_index=True) if parts else frame, filled


def in_time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows in (unique_id, ds) order, ties kept as they came."""
    return frame.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)


def _sorted_record(frame: pd.DataFrame) -> list[Repair]:
    order = frame.reset_index(drop=True).sort_values(["unique_id", "ds"], kind="stable").index.to_numpy()
    moved = int((order != np.arange(len(frame))).sum())
    return [Repair("sort", moved, "rows moved into (unique_id, ds) order")] if moved else []


def _grid(ds: pd.Series, step: str) -> pd.Index:
    if step.lstrip("-").isdigit():
        return pd.Index(np.arange(ds.min(), ds.max() + 1, int(step)), name="ds")
    return pd.date_range(ds.min(), ds.max(), freq=step, name="ds")


def _short_runs(missing: np.ndarray, max_gap: int) -> np.ndarray:
    """Mark the NaN runs of length <= max_gap that have a value on both sides."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], missing.astype(np.int8), [0]])))
    starts, ends = edges[::2], edges[1::2]  # each run is [start, end)
    inside = (starts > 0) & (ends < len(missing)) & (ends - starts <= max_gap)
    out = np.zeros(len(missing), dtype=bool)
    for start, end in zip(starts[inside], ends[inside], strict=True):
        out[start:end] = True
    return out
