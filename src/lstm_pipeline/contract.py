"""The data contract of the long series frame, in plain pandas.

`check_series` is the fast guard used wherever data meets a tensor (windowing, the pyfunc).
`rule_columns` computes the time-series rules Great Expectations has no expectation for
(order, frequency, gaps, history length, known series) as one boolean column per rule, so the GX
suite in `validation.py` can check them and report their counts like any other expectation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from pandas.tseries.offsets import BaseOffset, Tick

from lstm_pipeline.errors import DataValidationError

REQUIRED_COLUMNS = ("unique_id", "ds", "y")
_SHOWN_ROWS = 5


def check_series(frame: pd.DataFrame, *, min_length: int, regular: bool = False) -> pd.DataFrame:
    """Raise DataValidationError listing every broken rule; return the frame unchanged if none is.

    Rules: required columns, at least one row, finite `y`, non-null `ds`, strictly increasing `ds`
    within each series, and at least `min_length` points per series; with `regular`, also no gaps
    and no step off each series' own grid (for models that see a series as equally spaced values).
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
    if regular and not any(problems):  # the grid rules assume increasing `ds`
        problems += _off_grid(frame)
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


def _off_grid(frame: pd.DataFrame) -> list[str]:
    rules = rule_columns(frame, min_length=0)
    return [
        _rows(ROW_RULES["ds_regular"], ~rules["ds_regular"].to_numpy(), frame),
        _rows(ROW_RULES["ds_no_gap"], ~rules["ds_no_gap"].to_numpy(), frame),
    ]


def _short_series(frame: pd.DataFrame, min_length: int) -> str:
    lengths = frame.groupby("unique_id", sort=True).size()
    short = lengths[lengths < min_length]
    if short.empty:
        return ""
    listed = ", ".join(f"{uid!r} has {n}" for uid, n in short.head(_SHOWN_ROWS).items())
    return f"- rule 'enough history': {len(short)} series shorter than {min_length} points ({listed})"


# Row-level rules computed here; True where the row honours the rule.
ROW_RULES = {
    "ds_increasing": "ds strictly increasing per series",
    "ds_regular": "regular frequency (ds on the series' grid)",
    "ds_no_gap": "no gaps (no missing timestamp before the row)",
    "enough_history": "enough history (at least {min_length} points per series{why})",
    "known_series": "known series (seen in training)",
    "model_frequency": "frequency as trained",
}


def series_frequency(ds: pd.Series) -> str | None:
    """The series' step as text: an integer step (`"1"`) or a pandas offset alias (`"h"`, `"MS"`).

    Inferred from the timestamps (robust to a few gaps: the commonest step wins); None below 2 points.
    """
    if len(ds) < 2:
        return None
    if pd.api.types.is_integer_dtype(ds):
        diffs = np.diff(ds.to_numpy())
        return str(int(pd.Series(diffs[diffs > 0]).mode().min())) if (diffs > 0).any() else None
    index = pd.DatetimeIndex(ds)
    if len(index) >= 3 and (freq := pd.infer_freq(index[:200])):
        return freq
    steps = pd.Series(index[1:] - index[:-1])
    positive = steps[steps > pd.Timedelta(0)]
    return to_offset(pd.Timedelta(positive.mode().min())).freqstr if len(positive) else None


def rule_columns(
    frame: pd.DataFrame,
    *,
    min_length: int,
    freq: str | None = None,
    model_freq: dict[str, str] | None = None,
    known_series: set[str] | None = None,
) -> pd.DataFrame:
    """One boolean column per row rule (see ROW_RULES), aligned with `frame`'s index.

    `freq` fixes the frequency instead of inferring it per series; `model_freq` and
    `known_series` add the forecast-time rules against what the model was trained on.
    """
    rules = pd.DataFrame(index=frame.index)
    groups = frame.groupby("unique_id", sort=False)["ds"]
    previous = groups.shift()
    rules["ds_increasing"] = (previous.isna() | (frame["ds"] > previous)).to_numpy()
    freqs = {str(uid): freq or series_frequency(ds.sort_values()) for uid, ds in groups}
    # Gaps and the grid are properties of the timestamps, not of the file's order: judge each row
    # against the one before it in time, so rows out of order break only "increasing".
    on_grid, one_step = _grid_flags(frame, _previous_in_time(frame), freqs)
    rules["ds_regular"], rules["ds_no_gap"] = on_grid, one_step
    rules["enough_history"] = (groups.transform("size") >= min_length).to_numpy()
    ids = frame["unique_id"].astype(str)
    if known_series is not None:
        rules["known_series"] = ids.isin(known_series).to_numpy()
    if model_freq is not None:
        unknown = ~ids.isin(list(model_freq))  # judged by "known series" instead
        rules["model_frequency"] = ((ids.map(freqs) == ids.map(model_freq)) | unknown).to_numpy()
    return rules


def _previous_in_time(frame: pd.DataFrame) -> pd.Series:
    """Each row's preceding timestamp within its series in time order, aligned with the frame's rows."""
    positions = frame.reset_index(drop=True)
    ordered = positions.sort_values(["unique_id", "ds"], kind="stable")
    previous = ordered.groupby("unique_id", sort=False)["ds"].shift().sort_index()
    return previous.set_axis(frame.index)


def frequencies(frame: pd.DataFrame, freq: str | None = None) -> dict[str, str | None]:
    """The frequency of every series (configured or inferred)."""
    groups = frame.groupby("unique_id", sort=True)["ds"]
    return {str(uid): freq or series_frequency(ds.sort_values()) for uid, ds in groups}


def _grid_flags(
    frame: pd.DataFrame, previous: pd.Series, freqs: dict[str, str | None]
) -> tuple[np.ndarray, np.ndarray]:
    """Flag per row whether the step from the previous row is a whole number of periods, and exactly one."""
    on_grid = np.ones(len(frame), dtype=bool)
    one_step = np.ones(len(frame), dtype=bool)
    positions = pd.RangeIndex(len(frame))
    for uid, rows in frame.groupby("unique_id", sort=False).indices.items():
        has_previous = previous.iloc[rows].notna().to_numpy()
        step = freqs.get(str(uid))
        if step is None or not has_previous.any():
            continue
        rows = positions[rows][has_previous]
        periods = _periods_between(frame["ds"].iloc[rows], previous.iloc[rows], step)
        backwards = periods <= 0  # a repeated or earlier ds breaks "increasing", not the grid rules
        on_grid[rows] = backwards | np.isclose(periods, np.round(periods))
        one_step[rows] = backwards | np.isclose(periods, 1.0)
    return on_grid, one_step


def _periods_between(ds: pd.Series, previous: pd.Series, step: str) -> np.ndarray:
    """How many `step`s lie between each previous timestamp and the current one."""
    if step.lstrip("-").isdigit():
        return (ds.to_numpy("int64") - previous.to_numpy("int64")) / int(step)
    offset = to_offset(step)
    if isinstance(offset, Tick):
        return (ds - previous).to_numpy("timedelta64[ns]").astype("int64") / offset.nanos
    # Calendar steps (months, weeks, business days): count periods, and require ds on the grid.
    period_step = _period_alias(offset)
    count = (
        ds.dt.to_period(period_step).astype("int64") - previous.dt.to_period(period_step).astype("int64")
    ).to_numpy()
    on_offset = np.array([offset.is_on_offset(ts) for ts in ds], dtype=bool)
    return np.where(on_offset, count / max(offset.n, 1), np.nan)


def _period_alias(offset: BaseOffset) -> str:
    name = offset.name if hasattr(offset, "name") else offset.freqstr
    return {"MS": "M", "ME": "M", "QS": "Q", "QE": "Q", "YS": "Y", "YE": "Y", "BMS": "M", "BME": "M"}.get(
        name.split("-")[0], name
    )
