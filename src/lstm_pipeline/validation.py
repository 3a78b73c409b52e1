"""Checks that a long series frame honours the data contract before it reaches a tensor."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_pipeline.errors import DataValidationError

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
_SHOWN_ROWS = 5


def check_series(frame: pd.DataFrame, *, min_length: int) -> pd.DataFrame:
    """Raise DataValidationError listing every broken rule; return the frame unchanged if none is.

    Rules: required columns, at least one row, finite `y`, non-null `ds`, strictly increasing `ds`
    within each series, and at least `min_length` points per series.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(f"rule 'required columns': missing {missing}; got {list(frame.columns)}")
    if frame.empty:
        raise DataValidationError("rule 'at least one series': the frame has no rows")
    problems = [
        _rows("finite y", ~np.isfinite(frame["y"].to_numpy(dtype="float64")), frame),
        _rows("non-null ds", frame["ds"].isna().to_numpy(), frame),
        _rows("strictly increasing ds per series", _not_increasing(frame), frame),
        _short_series(frame, min_length),
    ]
    found = [p for p in problems if p]
    if found:
        raise DataValidationError("the series frame breaks the data contract:\n" + "\n".join(found))
    return frame


def _not_increasing(frame: pd.DataFrame) -> np.ndarray:
    previous = frame.groupby("unique_id", sort=False)["ds"].shift()
    return (previous.notna() & ~(frame["ds"] > previous)).to_numpy()


def _rows(rule: str, mask: np.ndarray, frame: pd.DataFrame) -> str:
    if not mask.any():
        return ""
    shown = frame.loc[mask, list(REQUIRED_COLUMNS)].head(_SHOWN_ROWS).to_string(index=False)
    return f"- rule '{rule}': {int(mask.sum())} row(s) break it, e.g.\n{shown}"


def _short_series(frame: pd.DataFrame, min_length: int) -> str:
    lengths = frame.groupby("unique_id", sort=True).size()
    short = lengths[lengths < min_length]
    if short.empty:
        return ""
    listed = ", ".join(f"{uid!r} has {n}" for uid, n in short.head(_SHOWN_ROWS).items())
    return f"- rule 'enough history': {len(short)} series shorter than {min_length} points ({listed})"
