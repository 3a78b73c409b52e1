"""Batched forecasts of 10,000 series x 24 steps vs a per-series `model.predict` loop.

Target: at least 50x. The loop is timed on a sample of series and scaled to all of them (running
it on 10,000 series would take minutes); both sides use the same network, scaler and history.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd

from lstm_pipeline.config import ModelConfig
from lstm_pipeline.forecasting import forecast, predict_batched
from lstm_pipeline.model import build_model
from lstm_pipeline.recipe import Scaler

N_SERIES, LOOKBACK, HORIZON, LOOP_SAMPLE = 10_000, 48, 24, 200


def history() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:05d}" for i in range(N_SERIES)], LOOKBACK),
            "ds": np.tile(np.arange(LOOKBACK), N_SERIES),
            "y": rng.normal(size=N_SERIES * LOOKBACK),
        }
    )


def per_series_loop(model, frame: pd.DataFrame, scaler: Scaler, uids: list[str]) -> float:
    """The usual script: one `model.predict` per series. Returns seconds per series."""
    groups = dict(tuple(frame.groupby("unique_id")))
    start = time.perf_counter()
    for uid in uids:
        window = scaler.transform(uid, groups[uid]["y"].to_numpy()[-LOOKBACK:])
        scaler.inverse(np.array([uid]), model.predict(window.reshape(1, LOOKBACK, 1), verbose=0))
    return (time.perf_counter() - start) / len(uids)


def main() -> None:
    frame = history()
    scaler = Scaler.fit("standard", {uid: g["y"].to_numpy() for uid, g in frame.groupby("unique_id")})
    model = build_model(ModelConfig(units=[50]), lookback=LOOKBACK, horizon=HORIZON)
    forecast(
        lambda X: predict_batched(model, X),
        frame.head(LOOKBACK * 2),
        lookback=LOOKBACK,
        model_horizon=HORIZON,
        horizon=HORIZON,
        scaler=scaler,
    )  # warm up the graph
    start = time.perf_counter()
    out = forecast(
        lambda X: predict_batched(model, X),
        frame,
        lookback=LOOKBACK,
        model_horizon=HORIZON,
        horizon=HORIZON,
        scaler=scaler,
    )
    batched = time.perf_counter() - start
    assert len(out) == N_SERIES * HORIZON
    sample = sorted(frame["unique_id"].unique())[:LOOP_SAMPLE]
    per_series_loop(model, frame, scaler, sample[:5])  # warm up
    loop = per_series_loop(model, frame, scaler, sample) * N_SERIES
    print(f"batched forecast   {batched:7.2f} s for {N_SERIES:,} series x {HORIZON} steps")
    print(f"per-series loop    {loop:7.2f} s (measured on {LOOP_SAMPLE} series, scaled to {N_SERIES:,})")
    print(f"speed-up           x{loop / batched:.0f} (target >= 50x: {'met' if loop / batched >= 50 else 'MISSED'})")


if __name__ == "__main__":
    main()
