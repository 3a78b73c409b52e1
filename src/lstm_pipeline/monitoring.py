"""Realised accuracy: the forecast slots written earlier, joined with the actuals that arrived since.

A slot (`forecasting.slot_path`) holds one model version's forecasts as of one date. Joined with
actuals, the slots of a version form the frame a cross-validation returns (`unique_id, ds,
cutoff, y, model`), the cutoff being each series' last actual before its first forecast, so they
are scored by the one scorer, `crossval.score`: MASE scaled by the history before each cutoff,
sMAPE on 0-200. Coverage counts the actuals inside each interval level the slot carries.
`judge` compares a version's figures with what it promised (its backtest MASE, else its test
MASE; each level's nominal coverage); `drift` tests the incoming data against the history before
the version's first forecast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_pipeline.config import MonitorConfig
from lstm_pipeline.errors import DataValidationError

_LOWER = re.compile(r"^yhat_lower_(.+)$")


@dataclass(frozen=True)
class Slot:
    """One forecast slot on disk: a model version's forecasts as of one date."""

    path: Path
    model_name: str
    version: str
    as_of: str


@dataclass(frozen=True)
class Promise:
    """What a version's training run said to expect: a MASE (and where it came from) and interval levels."""

    mase: float
    source: str  # "backtest_mase" or "test_mase"
    season_length: int  # the season its MASE is scaled with
    levels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """One version's realised accuracy, what it promised, and whether it fell past the tolerances."""

    model_name: str
    version: str
    points: int
    series: int
    metrics: dict[str, float]  # realised_mase, realised_smape, realised_coverage_<L>
    by_as_of: pd.DataFrame  # as_of, points, realised_mase, realised_smape, realised_coverage_<L>
    by_step: pd.DataFrame  # step, points, realised_mase
    by_series: pd.DataFrame  # unique_id, points, realised_mase
    promise: Promise
    reasons: list[str] = field(default_factory=list)  # why it is degraded; empty when it is not

    @property
    def degraded(self) -> bool:
        """True when realised accuracy or coverage fell past a tolerance."""
        return bool(self.reasons)


def find_slots(store_root: Path, model_name: str, version: str | None = None) -> list[Slot]:
    """The slots under `<store_root>/<model>/version=N/as_of=DATE/forecasts.parquet`, oldest first."""
    found = []
    for path in sorted((store_root / model_name).glob("version=*/as_of=*/forecasts.parquet")):
        slot_version = path.parent.parent.name.removeprefix("version=")
        if version is None or slot_version == str(version):
            found.append(Slot(path, model_name, slot_version, path.parent.name.removeprefix("as_of=")))
    return found


def realised(slots: list[Slot], actuals: pd.DataFrame) -> pd.DataFrame:
    """The slots' forecasts that actuals exist for: `unique_id, ds, cutoff, y, model, version, as_of, step`, bounds.

    `step` counts from 1 within each series of a slot; `cutoff` is the series' last actual before
    the slot's first forecast (the history the forecast could have seen).
    """
    actuals = actuals[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], kind="stable")
    frames = [_slot_rows(slot, actuals) for slot in slots]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=["unique_id", "ds", "cutoff", "y", "model", "version", "as_of", "step"])
    return pd.concat(frames, ignore_index=True)


def _slot_rows(slot: Slot, actuals: pd.DataFrame) -> pd.DataFrame:
    forecasts = pd.read_parquet(slot.path)
    forecasts["unique_id"] = forecasts["unique_id"].astype(str)
    forecasts = forecasts.sort_values(["unique_id", "ds"], kind="stable")
    forecasts["step"] = forecasts.groupby("unique_id").cumcount() + 1
    first = forecasts.groupby("unique_id")["ds"].min().rename("first_ds").reset_index()
    cutoffs = _last_before(actuals, first)
    bounds = [c for c in forecasts.columns if c.startswith(("yhat_lower_", "yhat_upper_"))]
    rows = forecasts[["unique_id", "ds", "yhat", "step", *bounds]].merge(actuals, on=["unique_id", "ds"])
    rows = rows.merge(cutoffs, on="unique_id").rename(columns={"yhat": "model"})
    return rows.assign(version=slot.version, as_of=slot.as_of)


def _last_before(actuals: pd.DataFrame, first: pd.DataFrame) -> pd.DataFrame:
    """`unique_id, cutoff`: each series' last actual before its first forecast (series without one left out)."""
    merged = actuals[["unique_id", "ds"]].merge(first, on="unique_id")
    before = merged[merged["ds"] < merged["first_ds"]]
    return before.groupby("unique_id")["ds"].max().rename("cutoff").reset_index()


def check_version(
    model_name: str, version: str, rows: pd.DataFrame, actuals: pd.DataFrame, promise: Promise, cfg: MonitorConfig
) -> Check:
    """Score one version's realised forecasts (`realised` rows of its slots) and judge them against its promise."""
    metrics, by_as_of, by_step, by_series = score_version(rows, actuals, promise.season_length)
    tolerances = {"mase_tolerance": cfg.mase_tolerance, "coverage_tolerance": cfg.coverage_tolerance}
    reasons = judge(metrics, promise, **tolerances) if len(rows) >= cfg.min_points else []
    series = int(rows["unique_id"].nunique())
    return Check(model_name, version, len(rows), series, metrics, by_as_of, by_step, by_series, promise, reasons)


def score_version(
    rows: pd.DataFrame, actuals: pd.DataFrame, season_length: int
) -> tuple[dict[str, float], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Realised MASE, sMAPE (crossval.score), coverage per level, overall and per as-of date; MASE per step, series."""
    from lstm_pipeline.crossval import mase_scales, score

    scales = mase_scales(rows, actuals, season_length)
    scaled = rows.merge(scales, on=["unique_id", "cutoff"])
    scaled["error"] = (scaled["y"] - scaled["model"]).abs() / scaled["scale"]
    overall = _summary(score(rows, actuals, season_length=season_length, models=["model"]))
    overall |= _coverage(rows)
    by_as_of = [
        {"as_of": as_of, "points": len(part)}
        | _summary(score(part, actuals, season_length=season_length, models=["model"]))
        | _coverage(part)
        for as_of, part in rows.groupby("as_of", sort=True)
    ]
    return overall, pd.DataFrame(by_as_of), _mean_error(scaled, "step"), _mean_error(scaled, "unique_id")


def _summary(scores: pd.DataFrame) -> dict[str, float]:
    means = scores.groupby("metric")["value"].mean()
    return {"realised_mase": float(means.get("mase", np.nan)), "realised_smape": float(means.get("smape", np.nan))}


def _coverage(rows: pd.DataFrame) -> dict[str, float]:
    """Share of actuals inside each level's interval, over the steps that carry one."""
    found = {}
    for column in rows.columns:
        if match := _LOWER.match(column):
            level = match.group(1)
            lower, upper = rows[column], rows[f"yhat_upper_{level}"]
            has = lower.notna() & upper.notna()
            if has.any():
                inside = (rows["y"] >= lower) & (rows["y"] <= upper)
                found[f"realised_coverage_{level}"] = float(inside[has].mean())
    return found


def _mean_error(scaled: pd.DataFrame, by: str) -> pd.DataFrame:
    grouped = scaled.groupby(by, sort=True)["error"]
    return pd.DataFrame({"points": grouped.size(), "realised_mase": grouped.mean()}).reset_index()


def judge(scored: dict[str, float], promise: Promise, *, mase_tolerance: float, coverage_tolerance: float) -> list[str]:
    """Why a version is degraded: realised MASE above its promise by more than the tolerance, or coverage below."""
    reasons = []
    bar = promise.mase * (1 + mase_tolerance)
    if scored.get("realised_mase", np.nan) > bar:
        reasons.append(
            f"realised MASE {scored['realised_mase']:.3f} > {bar:.3f} ({promise.source} {promise.mase:.3f} "
            f"x (1 + {mase_tolerance:g}))"
        )
    for level in promise.levels:
        covered = scored.get(f"realised_coverage_{level}", np.nan)
        floor = float(level) / 100 - coverage_tolerance
        if covered < floor:
            reasons.append(f"{level}% interval coverage {covered:.2f} < {floor:.2f} (nominal {float(level) / 100:.2f})")
    return reasons


def drift(actuals: pd.DataFrame, since: pd.Series, season_length: int, alpha: float) -> pd.DataFrame:
    """Per series: whether the level or the scale of its seasonal differences changed after `since[uid]`.

    The seasonal difference `y_t - y_(t-m)` (the first difference without a season) takes out the
    season and turns a steady trend into a constant, so before and after should share a level and
    a spread. Level: Welch's t-test of the two means; scale: the Brown-Forsythe test (Levene's with
    the median). Either p-value below `alpha` flags the series; 3 values are needed on each side.
    On a trending seasonal series with noise (`tests/unit/test_monitoring.py`), alpha 0.001 flagged
    none of 300 steady draws and every level shift of half the season's amplitude.
    Returns `unique_id, before, after, level_p, scale_p, drifted`.
    """
    from scipy import stats

    lag = max(season_length, 1)
    rows = []
    for uid, group in actuals.sort_values(["unique_id", "ds"], kind="stable").groupby("unique_id", sort=True):
        if uid not in since.index:
            continue
        diffs = pd.Series(group["y"].to_numpy("float64")).diff(lag).to_numpy()
        after_mask = (group["ds"] > since[uid]).to_numpy()
        before, after = diffs[~after_mask][lag:], diffs[after_mask]
        before, after = before[np.isfinite(before)], after[np.isfinite(after)]
        level_p = scale_p = float("nan")
        if len(before) >= 3 and len(after) >= 3 and np.ptp(np.concatenate([before, after])) > 0:
            level_p = float(stats.ttest_ind(before, after, equal_var=False).pvalue)
            scale_p = float(stats.levene(before, after, center="median").pvalue)
        drifted = bool(level_p < alpha or scale_p < alpha)
        rows.append((str(uid), len(before), len(after), level_p, scale_p, drifted))
    return pd.DataFrame(rows, columns=["unique_id", "before", "after", "level_p", "scale_p", "drifted"])


def require_actuals(actuals: pd.DataFrame) -> pd.DataFrame:
    """The actuals as `unique_id` (str), `ds`, `y`; DataValidationError if a column is missing."""
    missing = [c for c in ("unique_id", "ds", "y") if c not in actuals.columns]
    if missing:
        raise DataValidationError(f"rule 'required columns': the actuals miss {missing}; got {list(actuals.columns)}")
    return actuals.assign(unique_id=actuals["unique_id"].astype(str))
