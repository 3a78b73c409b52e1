"""Seasonal decomposition per series (STL) and the calendar facts derived from a frequency.

The seasonal part is estimated from the history it is given and nothing after it, then projected
forward (and backward, for older points) by repeating its cycle, so a forecast from raw history
removes and adds back exactly what training did.
"""

from __future__ import annotations

import numpy as np

# STL on a few thousand points costs ~0.6 s; the newest seasons are what the projection repeats.
MAX_STL_SEASONS = 12


def seasonal_component(values: np.ndarray, season_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The seasonal part of `values` at every position, and the last full cycle for the future.

    Below two seasons (or `season_length` 1) the seasonal part is zero. STL runs on the newest
    `MAX_STL_SEASONS` seasons at most; older positions repeat the first estimated cycle.
    """
    n, m = len(values), season_length
    if m < 2 or n < 2 * m:
        return np.zeros(n), np.zeros(max(m, 1))
    from statsmodels.tsa.seasonal import STL

    tail = min(n, MAX_STL_SEASONS * m)
    fitted = np.asarray(STL(values[n - tail :], period=m, robust=True).fit().seasonal, "float64")
    older = n - tail
    first_cycle = fitted[:m]
    # position p < older takes the value a whole number of seasons after it: (p - older) mod m
    back = first_cycle[(np.arange(older) - older) % m]
    return np.concatenate([back, fitted]), fitted[-m:]


def project_cycle(cycle: np.ndarray, steps: int) -> np.ndarray:
    """Repeat a seasonal cycle over the next `steps` positions (step k takes cycle[(k - 1) mod m])."""
    return cycle[np.arange(steps) % len(cycle)]


# Frequency (pandas alias, without an anchor or a multiple) -> (season length, default horizon).
# Horizons follow the M4 competition's per frequency; sub-daily ones forecast a day.
_CALENDAR = {
    "Y": (1, 6),
    "A": (1, 6),
    "Q": (4, 8),
    "M": (12, 18),
    "W": (52, 13),
    "D": (7, 14),
    "B": (5, 10),
    "C": (5, 10),  # custom business days
    "h": (24, 48),
    "H": (24, 48),
}
_SUB_HOURLY = {"min": 60, "T": 60, "s": 3600, "S": 3600}


def calendar_defaults(freq: str | None) -> tuple[int, int] | None:
    """(season length, horizon) for a frequency alias such as "MS", "QS-OCT", "30min"; None if unknown.

    Integer steps have no calendar: None.
    """
    if not freq or freq.lstrip("-").isdigit():
        return None
    from pandas.tseries.frequencies import to_offset

    try:
        offset = to_offset(freq)
    except ValueError:
        return None
    base = offset.name.split("-")[0]
    # Business month, quarter and year ends or starts ("BME", "BQS", "BYE") keep their calendar period.
    business = base[1:].rstrip("SE") if base[:1] in ("B", "C") and base[1:2] in ("M", "Q", "Y", "A") else base
    for prefix in (base, base.rstrip("SE"), business, base[:1]):
        if prefix in _CALENDAR:
            season, horizon = _CALENDAR[prefix]
            return (season, horizon) if offset.n == 1 else (max(1, season // offset.n), horizon)
    if base in _SUB_HOURLY:
        per_hour = max(_SUB_HOURLY[base] // max(offset.n, 1), 1)
        season = 24 * per_hour if 24 * per_hour <= 96 else per_hour  # a day, or an hour when a day is long
        return season, season
    return None
