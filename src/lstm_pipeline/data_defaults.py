"""Settings the data decides: season, horizon, held-out parts, lookback and anchor, unless the config sets them.

A setting counts as set when the YAML file or an override names it (pydantic's `model_fields_set`);
everything else is derived from the series' frequency and length, and `describe` says what was
chosen in one line.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig, SourceConfig
from lstm_pipeline.seasonality import calendar_defaults

# Fewest training windows a fit should see; below it the lookback shrinks, then validation goes.
MIN_WINDOWS = 12
INTEGER_STEP_HORIZON = 10  # integer steps have no calendar to suggest one
SINE_PERIOD = 63  # the seed sine, sin(x / 10): 2 * pi * 10 steps
# A series whose straight line explains more than this share of its variance trends (R squared).
# Measured before the test part: AirPassengers 0.76, austres 0.99; woolyrnq 0.37, wineind 0.06, the sine 0.00.
TRENDING = 0.6


def resolve(cfg: PipelineConfig, frame: pd.DataFrame) -> PipelineConfig:
    """`cfg` with every unset data-dependent setting derived from `frame` (all of them set afterwards).

    A frame with no rows leaves `cfg` as it is: the data contract's "at least one series" says why.
    """
    if frame.empty:
        return cfg
    freq = _common_frequency(frame)
    calendar = calendar_defaults(freq)
    w, window_set = cfg.window, cfg.window.model_fields_set
    season = cfg.evaluate.season_length
    if "season_length" not in cfg.evaluate.model_fields_set:
        season = calendar[0] if calendar else _known_season(cfg.source)
    horizon = w.horizon if "horizon" in window_set else (calendar[1] if calendar else INTEGER_STEP_HORIZON)
    shortest = int(frame.groupby("unique_id").size().min())
    test = horizon if cfg.auto.enabled or "test_size" not in window_set else w.test_size
    lookback = w.lookback if "lookback" in window_set else max(math.ceil(1.25 * horizon), min(season, 2 * horizon), 2)
    val = w.val_size if "val_size" in window_set else _validation_size(shortest - test, lookback, horizon)
    if "lookback" not in window_set:
        lookback = _fitting_lookback(shortest - test - val, lookback, horizon)
    anchor = w.anchor if "anchor" in window_set else _anchor(lookback, season, _trend_share(frame, test))
    window = w.model_copy(
        update={"horizon": horizon, "test_size": test, "val_size": val, "lookback": lookback, "anchor": anchor}
    )
    updates: dict[str, object] = {
        "window": window,
        "evaluate": cfg.evaluate.model_copy(update={"season_length": season}),
    }
    if val == 0 and "early_stopping_patience" not in cfg.train.model_fields_set:
        updates["train"] = cfg.train.model_copy(update={"early_stopping_patience": None})
    resolved = cfg.model_copy(update=updates)
    return PipelineConfig.model_validate(resolved.model_dump())  # re-checks consistency of the whole


def describe(cfg: PipelineConfig, frame: pd.DataFrame) -> str:
    """One line: what the data implied and what was chosen."""
    w = cfg.window
    freq = _common_frequency(frame) or "unknown"
    return (
        f"frequency {freq}, season {cfg.evaluate.season_length}, horizon {w.horizon}, "
        f"lookback {w.lookback}, anchor {w.anchor}, validation {w.val_size}, test {w.test_size} points per series"
    )


def _anchor(lookback: int, season: int, trend_share: float) -> str:
    """Mixed shapes when a window spans a season, or when the series trends; no anchor otherwise.

    A window shorter than the season sees part of a cycle: its last level and its slope are the
    season's phase rather than the series' level (the demo sine: a lookback of 20, a season of 63).
    Unanchored windows, though, cannot reach levels the network never saw, which a trending series
    leaves behind (AirPassengers with a lookback of 10: MASE 1.82 unanchored, 0.92 mixed).
    """
    return "mixed" if lookback >= season or trend_share > TRENDING else "none"


def _trend_share(frame: pd.DataFrame, test: int) -> float:
    """The share of variance a straight line explains before the test part, median over the series."""
    shares = []
    for _, y in frame.sort_values(["unique_id", "ds"], kind="stable").groupby("unique_id", sort=False)["y"]:
        values = y.to_numpy("float64")[: max(len(y) - test, 0)]
        values = values[np.isfinite(values)]
        if len(values) < 3 or values.std() == 0:
            shares.append(0.0)
            continue
        shares.append(float(np.corrcoef(np.arange(len(values)), values)[0, 1] ** 2))
    return float(np.median(shares)) if shares else 0.0


def _validation_size(before_test: int, lookback: int, horizon: int) -> int:
    """One horizon of validation when the rest still gives `MIN_WINDOWS` training windows, else none."""
    return horizon if before_test - horizon - lookback - horizon + 1 >= MIN_WINDOWS else 0


def _fitting_lookback(train_points: int, lookback: int, horizon: int) -> int:
    """Shorten the lookback until the training part gives `MIN_WINDOWS` windows (never below 2).

    Data too short even for that is left to the data contract's "enough history" rule, which
    reports it with the sizes that add up.
    """
    return max(2, min(lookback, train_points - horizon - MIN_WINDOWS + 1))


def _common_frequency(frame: pd.DataFrame) -> str | None:
    from lstm_pipeline.contract import frequencies

    found = Counter(f for f in frequencies(frame).values() if f)
    return found.most_common(1)[0][0] if found else None


def _known_season(source: SourceConfig) -> int:
    """The season a generated source was built with; 1 (none) for a file with integer steps."""
    if source.kind == "sine":
        return SINE_PERIOD
    if source.kind == "synthetic":
        return source.season_length
    return 1
