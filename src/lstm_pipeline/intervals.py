"""Split-conformal prediction intervals per horizon step, from backtest errors.

A point's conformity score is `|y - yhat| / y_scale` (its series' scaler scale), so series of
different sizes share one set of scores per step. The interval at level L for step h is
`yhat ± q_h * y_scale`, with `q_h` the ceil((n + 1) L)-th smallest of the n scores of step h:
the finite-sample rule that gives coverage of at least L when errors are exchangeable.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def level_key(level: float) -> str:
    """How a level is named in columns, metrics and JSON: 80 -> "80", 97.5 -> "97.5"."""
    return f"{level:g}"


def needed_scores(level: float) -> int:
    """Fewest scores per step for which the conformal quantile at `level` percent is finite."""
    return math.ceil(level / (100 - level) - 1e-9)


def conformal_quantile(scores: np.ndarray, level: float) -> float | None:
    """The finite-sample conformal quantile of `scores` at `level` percent; None if too few scores."""
    rank = math.ceil((len(scores) + 1) * level / 100 - 1e-9)
    if rank > len(scores) or len(scores) == 0:
        return None
    return float(np.sort(scores)[rank - 1])


def conformal_quantiles(errors: pd.DataFrame, levels: list[float]) -> tuple[dict[str, list[float]], list[str]]:
    """Quantiles per level and horizon step; levels with too few scores are left out, with a note why."""
    scores = _scores(errors)
    quantiles, notes = {}, []
    for level in levels:
        per_step = [conformal_quantile(group.to_numpy(), level) for _, group in scores.groupby(errors["step"])]
        if any(q is None for q in per_step):
            have = int(scores.groupby(errors["step"]).size().min())
            notes.append(
                f"no {level:g}% interval: it needs {needed_scores(level)} backtest errors per step, "
                f"there are {have} (series x backtest.windows)"
            )
            continue
        quantiles[level_key(level)] = [float(q) for q in per_step if q is not None]
    return quantiles, notes


def interval_coverage(errors: pd.DataFrame, level: float) -> tuple[float, float] | None:
    """Leave-one-fold-out coverage and mean width (raw units) of the `level` interval.

    Each fold is covered by quantiles computed from the other folds only, so the figure is honest
    about data the quantiles did not see. None when the other folds hold too few scores.
    """
    scores = _scores(errors)
    covered, widths = [], []
    for fold in errors["fold"].unique():
        mine = errors["fold"] == fold
        for step in errors.loc[mine, "step"].unique():
            at_step = errors["step"] == step
            q = conformal_quantile(scores[~mine & at_step].to_numpy(), level)
            if q is None:
                return None
            covered.append(scores[mine & at_step].to_numpy() <= q)
            widths.append(2 * q * errors.loc[mine & at_step, "y_scale"].to_numpy())
    return float(np.mean(np.concatenate(covered))), float(np.mean(np.concatenate(widths)))


def add_intervals(forecasts: pd.DataFrame, quantiles: dict[str, list[float]], scale: dict[str, float]) -> pd.DataFrame:
    """Add `yhat_lower_<L>` / `yhat_upper_<L>` to long forecasts (`unique_id, ds, yhat`, steps in order).

    Steps beyond the backtest horizon have no calibrated width: their bounds are NaN.
    """
    if not quantiles:
        return forecasts
    step = forecasts.groupby("unique_id", sort=False).cumcount().to_numpy()
    unit = forecasts["unique_id"].map(lambda uid: scale[str(uid)]).to_numpy("float64")
    out = forecasts.copy()
    for key, per_step in quantiles.items():
        q = np.asarray(per_step, dtype="float64")
        half = np.where(step < len(q), q[np.minimum(step, len(q) - 1)], np.nan) * unit
        out[f"yhat_lower_{key}"] = out["yhat"] - half
        out[f"yhat_upper_{key}"] = out["yhat"] + half
    return out


def history_scales(history: pd.DataFrame, season_length: int) -> dict[str, float]:
    """Per series, the mean |y_t - y_(t-m)| of its history: the unit intervals are calibrated in.

    The same quantity scales MASE and the backtest's conformity scores (`backtest.with_scales`);
    a series too short or constant gets 1. Series in order of first appearance, as
    `groupby(sort=False)` gives them; all of them at once (one stable sort, `np.bincount`).
    """
    codes, keys = pd.factorize(history["unique_id"])
    rows = np.flatnonzero(codes >= 0)
    order = rows[np.argsort(codes[rows], kind="stable")]  # each series' rows together, in frame order
    series, y, m = codes[order], history["y"].to_numpy("float64")[order], season_length
    same = series[m:] == series[:-m]  # y_t and y_(t-m) belong to one series
    sums = np.bincount(series[m:][same], np.abs(y[m:] - y[:-m])[same], minlength=len(keys))
    counts = np.bincount(series[m:][same], minlength=len(keys))
    with np.errstate(invalid="ignore", divide="ignore"):
        scales = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    scales = np.where(np.isfinite(scales) & (scales > 0), scales, 1.0)
    return dict(zip(map(str, keys), scales.tolist(), strict=True))


def _scores(errors: pd.DataFrame) -> pd.Series:
    return (errors["y"] - errors["model"]).abs() / errors["y_scale"]
