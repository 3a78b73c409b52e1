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


def run_frequencies(ds: pd.Series, counts: np.ndarray) -> np.ndarray:
    """`series_frequency` of each run of `ds` (consecutive runs of `counts` rows), as an object array.

    Integer steps: the commonest positive difference of every run at once. Timestamps: one
    `series_frequency` call per distinct key, where the key holds all `pd.infer_freq` reads of
    such a run (`_datetime_keys`). Other dtypes: one call per run.
    """
    starts = np.cumsum(counts) - counts
    if isinstance(ds.dtype, np.dtype) and ds.dtype.kind in "iu":
        return _integer_frequencies(ds.to_numpy(), starts, counts)
    if isinstance(ds.dtype, pd.DatetimeTZDtype) or (isinstance(ds.dtype, np.dtype) and ds.dtype.kind == "M"):
        keys = _datetime_keys(ds, starts, counts)
    else:
        keys = np.arange(len(counts))[:, np.newaxis]
    first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)[1:]
    found = [series_frequency(ds.iloc[starts[r] : starts[r] + counts[r]]) for r in first]
    return np.array(found, dtype=object)[inverse.reshape(-1)]


def _integer_frequencies(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Each run's commonest positive step (the smallest of ties) as text, None without one."""
    run = np.repeat(np.arange(len(counts)), counts)
    steps, inside = np.diff(values), run[1:] == run[:-1]
    keep = inside & (steps > 0)
    has, modes = _run_modes(run[1:][keep], steps[keep], len(counts))
    distinct, inverse = np.unique(modes[has], return_inverse=True)  # text once per distinct step
    out = np.full(len(counts), None, dtype=object)
    out[has] = np.array([str(int(m)) for m in distinct], dtype=object)[inverse.reshape(-1)]
    return out


def _run_modes(run: np.ndarray, values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of `n` runs have values, and each one's commonest value (the smallest of ties)."""
    order = np.lexsort((values, run))
    run, values = run[order], values[order]
    new = np.flatnonzero(np.r_[True, (run[1:] != run[:-1]) | (values[1:] != values[:-1])])[: len(run)]
    counts = np.diff(np.r_[new, len(run)])
    run, values = run[new], values[new]
    best = np.lexsort((values, -counts, run))  # per run: the most frequent first, then the smallest
    first = best[np.r_[True, run[best][1:] != run[best][:-1]][: len(best)]]
    has, modes = np.zeros(n, dtype=bool), np.zeros(n, dtype=values.dtype)
    has[run[first]], modes[run[first]] = True, values[first]
    return has, modes


# Runs of timestamps whose inferred frequency is a function of a short key (pandas' _FrequencyInferer):
# one constant sub-day step (the step alone); one constant step of at most 25 days (with the weekday
# of the first point: no two month starts or ends lie that close, so only the daily or weekly rule can
# match); month starts or ends a constant number of months apart (with the first month: the monthly,
# quarterly or annual rule). Any other run is keyed by its timestamps themselves.
_TICK, _DAYS, _MONTHS, _EXACT = 0, 1, 2, 3
_PER_DAY = {"s": 86_400, "ms": 86_400 * 10**3, "us": 86_400 * 10**6, "ns": 86_400 * 10**9}  # units in a day


def _datetime_keys(ds: pd.Series, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """int64[n, 4]: a key per run; runs with equal keys have the same `series_frequency`."""
    i8 = np.asarray(ds.array.asi8, dtype="int64")  # UTC for tz-aware values
    keys = np.zeros((len(counts), 4), dtype="int64")
    keys[:, 0] = _EXACT
    tz = getattr(ds.dt, "tz", None)
    if tz is None or tz.utcoffset(None) == pd.Timedelta(0):  # local time is UTC: one set of steps
        _calendar_keys(keys, i8.view(f"M8[{ds.dt.unit}]"), starts, counts)
    exact = keys[:, 0] == _EXACT
    keys[exact, 1] = _identical_runs(i8, starts[exact], counts[exact])
    return keys


def _calendar_keys(keys: np.ndarray, dates: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> None:
    """Fill in the `_TICK`, `_DAYS` and `_MONTHS` keys (runs of at least three points)."""
    day = _PER_DAY[np.datetime_data(dates.dtype)[0]]
    i8 = dates.astype("int64")
    steps = _steps_within(i8, starts)
    low, high = _run_range(steps, starts)
    whole_days = _all(steps % day == 0, starts)
    enough, constant = counts >= 3, (low == high) & (low > 0)
    days = enough & constant & whole_days & (low <= 25 * day)
    _fill(keys, enough & constant & ~whole_days, _TICK, low)
    _fill(keys, days, _DAYS, low, (np.floor_divide(i8[starts], day) + 3) % 7)  # 1970-01-01 was a Thursday
    candidates = enough & ~days & (low > 0) & whole_days
    if candidates.any():
        _month_keys(keys, dates, starts, candidates)


def _month_keys(keys: np.ndarray, dates: np.ndarray, starts: np.ndarray, candidates: np.ndarray) -> None:
    """Month starts, or month ends, a constant number of months apart: keyed by it, the first month, which."""
    months = dates.astype("M8[M]")
    low, high = _run_range(_steps_within(months.astype("int64"), starts), starts)
    calendar_day = dates.astype("M8[D]")
    at_start = _all(calendar_day == months.astype("M8[D]"), starts)
    at_end = _all((calendar_day + 1).astype("M8[M]") != months, starts)
    monthly = candidates & (low == high) & (low >= 1) & (at_start | at_end)
    _fill(keys, monthly, _MONTHS, low, months.astype("int64")[starts] % 12, at_end.astype("int64"))


def _fill(keys: np.ndarray, rows: np.ndarray, kind: int, *columns: np.ndarray) -> None:
    keys[rows, 0] = kind
    for j, column in enumerate(columns, start=1):
        keys[rows, j] = column[rows]


def _all(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per run, whether every one of its `flags` is set."""
    return np.minimum.reduceat(flags.astype("int8"), starts) == 1


def _steps_within(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each point's step from the point before it; a run's first point repeats its second's step."""
    steps = np.empty_like(values)
    steps[1:] = np.diff(values)
    steps[starts] = steps[np.minimum(starts + 1, len(values) - 1)]  # a run's min and max stay the same
    return steps


def _run_range(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per run, the smallest and the largest of `values`."""
    return np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)


def _identical_runs(i8: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A number per run, equal for runs holding the same timestamps."""
    if not len(counts):
        return np.zeros(0, dtype="int64")
    width = int(counts.max())
    padded = np.full((len(counts), width + 1), np.iinfo("int64").min, dtype="int64")
    padded[:, 0] = counts
    column = np.arange(width)
    inside = column < counts[:, np.newaxis]
    padded[:, 1:][inside] = i8[(starts[:, np.newaxis] + column)[inside]]
    return np.unique(padded, axis=0, return_inverse=True)[1].reshape(-1)


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
