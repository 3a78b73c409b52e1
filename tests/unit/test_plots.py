"""The batch forecast's figure: interval bands, a title naming the model, legend and date ticks clear of the data."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.dates import ConciseDateFormatter

from lstm_pipeline.plots import forecast_plot, interval_levels


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ds = pd.date_range("2025-01-01", periods=120, freq="D")
    history = pd.DataFrame({"unique_id": "a", "ds": ds, "y": np.sin(np.arange(120) / 5)})
    ahead = pd.date_range(ds[-1] + pd.Timedelta(days=1), periods=6, freq="D")
    forecasts = pd.DataFrame({"unique_id": "a", "ds": ahead, "yhat": 0.5})
    for level, half in (("80", 0.2), ("95", 0.4)):
        width = np.array([half] * 4 + [np.nan] * 2)  # calibrated for 4 steps only
        forecasts[f"yhat_lower_{level}"] = forecasts["yhat"] - width
        forecasts[f"yhat_upper_{level}"] = forecasts["yhat"] + width
    return history, forecasts


def test_levels_are_found_widest_first():
    assert interval_levels(frames()[1]) == ["95", "80"]
    assert interval_levels(frames()[1].drop(columns="yhat_upper_80")) == ["95"]


def test_the_forecast_figure_draws_bands_and_names_model_and_as_of():
    history, forecasts = frames()
    fig = forecast_plot(history, forecasts, title="m version 3, as of 2025-05-01")
    fig.savefig(io.BytesIO(), format="png")  # lays the figure out
    ax = fig.axes[0]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    assert fig.get_suptitle() == "m version 3, as of 2025-05-01"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["history", "95% interval", "80% interval", "forecast"]
    legend, plot = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert legend.x0 >= plot.x1  # beside the plot, not over the history
    assert isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)


def test_integer_steps_keep_plain_ticks_and_no_intervals_means_no_bands():
    history = pd.DataFrame({"unique_id": "a", "ds": range(50), "y": 1.0})
    forecasts = pd.DataFrame({"unique_id": "a", "ds": range(50, 55), "yhat": 1.0})
    ax = forecast_plot(history, forecasts).axes[0]
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert not isinstance(ax.xaxis.get_major_formatter(), ConciseDateFormatter)
