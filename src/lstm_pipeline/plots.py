"""PNG-ready figures for a run: the loss curve and the test forecasts against the actuals.

Shared conventions: legends sit beside the plot (never over the history), dated axes get concise
date ticks (no overlapping labels), and forecast intervals are drawn as bands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from lstm_pipeline.training import TrainingResult


def loss_curve(result: TrainingResult) -> Figure:
    """Training and validation loss per check, on a log scale."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.subplots()
    epochs = np.arange(1, len(result.loss) + 1) * result.epochs_per_check
    ax.plot(epochs, result.loss, label="train")
    if result.val_loss:
        ax.plot(epochs, result.val_loss, label="validation")
    if result.best_check is not None:
        ax.axvline(epochs[result.best_check], color="grey", linestyle=":", label="best (restored)")
    ax.set(xlabel="epoch", ylabel="loss (scaled units)", title="Loss")
    if min(result.loss + result.val_loss) > 0:  # a perfect fit (constant series) has no log scale
        ax.set_yscale("log")
    ax.legend()
    return fig


def forecast_vs_actual(frame: pd.DataFrame, cv: pd.DataFrame, *, max_series: int = 4) -> Figure:
    """The end of each series with the held-out forecasts of the LSTM and of seasonal naive.

    `cv` is the test part's cross-validation frame (`evaluation.Evaluation.cv`).
    """
    from matplotlib.figure import Figure

    uids = sorted(cv["unique_id"].unique())[:max_series]
    fig = Figure(figsize=(8, 2.6 * len(uids)), layout="constrained")
    axes = fig.subplots(len(uids), 1, squeeze=False)[:, 0]
    for ax, uid in zip(axes, uids, strict=True):
        mine = cv[cv["unique_id"] == uid]
        series = frame[frame["unique_id"] == uid]
        shown = series.tail(4 * len(mine) + 20)
        ax.plot(shown["ds"], shown["y"], color="black", linewidth=1, label="actual")
        ax.plot(mine["ds"], mine["model"], marker=".", label="LSTM")
        if "seasonal_naive" in mine:
            ax.plot(mine["ds"], mine["seasonal_naive"], linestyle="--", linewidth=1, label="seasonal naive")
        for cutoff in mine["cutoff"].unique():
            ax.axvline(cutoff, color="grey", linestyle=":", linewidth=0.8)
        ax.set(title=f"{uid}: held-out test part", xlabel="ds", ylabel="y")
        _legend_beside(ax)
        _date_ticks(ax, series["ds"])
    return fig


def forecast_plot(
    history: pd.DataFrame, forecasts: pd.DataFrame, *, title: str = "", max_series: int = 4, tail: int = 100
) -> Figure:
    """The end of each series' history followed by its batch forecast and its interval bands.

    `title` heads the figure (say, the model, its version and the as-of date).
    """
    from matplotlib.figure import Figure

    uids = sorted(forecasts["unique_id"].unique())[:max_series]
    fig = Figure(figsize=(9, 2.6 * len(uids)), layout="constrained")
    axes = fig.subplots(len(uids), 1, squeeze=False)[:, 0]
    for ax, uid in zip(axes, uids, strict=True):
        past = history[history["unique_id"] == uid].tail(tail)
        ahead = forecasts[forecasts["unique_id"] == uid]
        ax.plot(past["ds"], past["y"], color="black", linewidth=1, label="history")
        _interval_bands(ax, ahead)
        ax.plot(ahead["ds"], ahead["yhat"], marker=".", label="forecast")
        ax.set(title=str(uid), xlabel="ds", ylabel="y")
        _legend_beside(ax)
        _date_ticks(ax, past["ds"])
    if title:
        fig.suptitle(title)
    return fig


def interval_levels(forecasts: pd.DataFrame) -> list[str]:
    """The interval levels a forecast frame carries (`yhat_lower_<L>` and `yhat_upper_<L>`), widest first."""
    levels = [c.removeprefix("yhat_lower_") for c in forecasts.columns if c.startswith("yhat_lower_")]
    levels = [level for level in levels if f"yhat_upper_{level}" in forecasts.columns]
    return sorted(levels, key=float, reverse=True)


def _interval_bands(ax: Axes, forecasts: pd.DataFrame) -> None:
    """One shaded band per level, widest (lightest) first; steps without a calibrated width stay open."""
    for shade, level in zip((0.15, 0.3, 0.45), interval_levels(forecasts), strict=False):
        lower, upper = forecasts[f"yhat_lower_{level}"], forecasts[f"yhat_upper_{level}"]
        known = (lower.notna() & upper.notna()).to_numpy()
        if known.any():
            ax.fill_between(
                forecasts["ds"].to_numpy()[known],
                lower.to_numpy()[known],
                upper.to_numpy()[known],
                color="tab:blue",
                alpha=shade,
                linewidth=0,
                label=f"{level}% interval",
            )


def _legend_beside(ax: Axes, **options: object) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, **options)


def _date_ticks(ax: Axes, ds: pd.Series) -> None:
    """Concise date labels on a dated axis: as many as fit, without overlapping."""
    if not pd.api.types.is_datetime64_any_dtype(ds):
        return
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(maxticks=8)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def backtest_folds(frame: pd.DataFrame, errors: pd.DataFrame, *, max_series: int = 4) -> Figure:
    """The scored stretch of each series with every fold's forecast and its origin marked."""
    from matplotlib.figure import Figure

    uids = sorted(errors["unique_id"].unique())[:max_series]
    fig = Figure(figsize=(8, 2.6 * len(uids)), layout="constrained")
    axes = fig.subplots(len(uids), 1, squeeze=False)[:, 0]
    for ax, uid in zip(axes, uids, strict=True):
        mine = errors[errors["unique_id"] == uid]
        series = frame[frame["unique_id"] == uid]
        shown = series[series["ds"] >= series["ds"].iloc[max(0, len(series) - 3 * len(mine) - 20)]]
        ax.plot(shown["ds"], shown["y"], color="black", linewidth=1, label="actual")
        for fold, points in mine.groupby("fold"):
            ax.plot(points["ds"], points["model"], marker=".", label=f"fold {fold}")
            ax.axvline(points["cutoff"].iloc[0], color="grey", linestyle=":", linewidth=0.8)
        ax.set(title=f"{uid}: rolling-origin backtest", xlabel="ds", ylabel="y")
        if mine["fold"].nunique() <= 8:
            _legend_beside(ax, fontsize="small")
        _date_ticks(ax, shown["ds"])
    return fig
