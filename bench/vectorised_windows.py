"""Forecast inputs built with array operations (`panel.Panel`) vs the per-series loop they replace.

10,000 series x 60 daily points, horizon 12 (lookback 24, a 12-step network): the latest windows,
scaling and future timestamps built both ways in the same run, then a whole `forecast(...)` call
and a six-member median as the pyfunc runs it, each old vs new. The old construction is the
per-series code as it was (a groupby loop, `pd.infer_freq` and `date_range` per series), copied
below; the outputs of both are compared before anything is timed. `--seasonal N` adds three
deseasonalised members (STL, season 7) on N series (default 1,000), where the new code fits STL
once per series for all three.

    .venv/bin/python bench/vectorised_windows.py [--series 10000] [--seasonal 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import math
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import command_of, median, quiet_tensorflow, result, timed

from lstm_pipeline.contract import series_frequency
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.forecasting import _latest_windows, forecast, median_forecast, predict_batched
from lstm_pipeline.panel import Panel
from lstm_pipeline.recipe import Scaler

POINTS, LOOKBACK, HORIZON, MEMBERS = 60, 24, 12, 6


# --- the per-series construction as it was --------------------------------------------------------


def old_series_step(ds: pd.Series) -> str:
    return series_frequency(ds.iloc[-200:]) or "1"


def old_future(last: object, step: str, horizon: int) -> np.ndarray:
    if step.lstrip("-").isdigit():
        return np.asarray(last) + int(step) * np.arange(1, horizon + 1)
    dates = pd.date_range(start=pd.Timestamp(last), periods=horizon + 1, freq=step)
    return np.asarray(dates[1:])


def old_latest_windows(history: pd.DataFrame, lookback: int, scaler: Scaler):
    uids, windows, dates, cycles, last_ds, steps = [], [], [], [], [], []
    for uid, group in history.groupby("unique_id", sort=True):
        if len(group) < max(lookback, 2):
            raise DataValidationError(
                f"rule 'enough history': series {uid!r} has {len(group)} points; the model needs {max(lookback, 2)}"
            )
        adjusted, cycle = scaler.adjust(str(uid), group["y"].to_numpy("float64"))
        uids.append(str(uid))
        windows.append(adjusted[-lookback:])
        cycles.append(cycle)
        dates.append(group["ds"].to_numpy()[-lookback:])
        last_ds.append(group["ds"].iloc[-1])
        steps.append(old_series_step(group["ds"]))
    width = max(len(c) for c in cycles)
    stacked = np.stack([c if len(c) == width else np.zeros(width) for c in cycles])
    return np.array(uids, dtype=object), np.stack(windows), np.stack(dates), stacked, last_ds, steps


def old_inputs(history: pd.DataFrame, lookback: int, scaler: Scaler, n_steps: int):
    uids, values, dates, cycles, last_ds, steps = old_latest_windows(history, lookback, scaler)
    future = [old_future(last, step, n_steps) for last, step in zip(last_ds, steps, strict=True)]
    return uids, values, dates, cycles, future


def old_restore(scaler: Scaler, uids, scaled, cycles) -> np.ndarray:
    params = np.array([scaler._params(str(uid)) for uid in uids], dtype="float64").reshape(-1, 2)
    seasonal = cycles[:, np.arange(scaled.shape[1]) % cycles.shape[1]]
    values = scaled * params[:, 1:2] + params[:, 0:1] + seasonal
    return np.expm1(values) if scaler.value_transform == "log" else values


def old_forecast(predict, history, *, lookback, model_horizon, horizon, scaler) -> pd.DataFrame:
    n_steps = math.ceil(horizon / model_horizon) * model_horizon
    uids, values, dates, cycles, future = old_inputs(history, lookback, scaler, n_steps)
    blocks = []
    for start in range(0, n_steps, model_horizon):
        X = scaler.inputs(values, dates)
        block = np.asarray(predict(X.astype("float32")), dtype="float64")[:, :model_horizon]
        if (base := scaler.baseline(values, model_horizon)) is not None:
            block = block + base[1]
        blocks.append(block)
        values = np.concatenate([values, block], axis=1)[:, -lookback:]
        if scaler.covariates:
            ahead = np.stack([f[start : start + model_horizon] for f in future])
            dates = np.concatenate([dates, ahead], axis=1)[:, -lookback:]
    scaled = np.concatenate(blocks, axis=1)[:, :horizon]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(uids, horizon),
            "ds": np.concatenate([f[:horizon] for f in future]),
            "yhat": old_restore(scaler, uids, scaled, cycles).reshape(-1),
        }
    )


# --- the new construction -------------------------------------------------------------------------


def new_inputs(history: pd.DataFrame, lookback: int, scaler: Scaler, n_steps: int):
    panel = Panel(history)
    latest = _latest_windows(panel, lookback, scaler)
    return panel.uids, latest.values, latest.dates, latest.cycles, panel.future(n_steps)


def new_members(predict, history, scalers) -> pd.DataFrame:
    panel = Panel(history)  # as the pyfunc: laid out once for every member
    return median_forecast(
        [forecast(predict, panel, lookback=LOOKBACK, model_horizon=HORIZON, horizon=HORIZON, scaler=s) for s in scalers]
    )


def old_members(predict, history, scalers) -> pd.DataFrame:
    return median_forecast(
        [
            old_forecast(predict, history, lookback=LOOKBACK, model_horizon=HORIZON, horizon=HORIZON, scaler=s)
            for s in scalers
        ]
    )


# --- data and checks ------------------------------------------------------------------------------


def daily_history(n_series: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    uids = np.array([f"s{i:05d}" for i in range(n_series)])
    t = np.arange(POINTS)
    y = 50 + 10 * np.sin(2 * np.pi * t / 7)[np.newaxis, :] + rng.normal(0, 3, (n_series, POINTS))
    return pd.DataFrame(
        {
            "unique_id": np.repeat(uids, POINTS),
            "ds": np.tile(pd.date_range("2024-01-01", periods=POINTS, freq="D"), n_series),
            "y": y.reshape(-1),
        }
    )


def scaler_for(history: pd.DataFrame, **options) -> Scaler:
    train = {str(uid): g["y"].to_numpy("float64")[:-HORIZON] for uid, g in history.groupby("unique_id")}
    return Scaler.fit("standard", train, **options)


def assert_same_inputs(old, new) -> None:
    uids, values, dates, cycles, future = old
    assert new[0].tolist() == uids.tolist()
    np.testing.assert_allclose(new[1], values, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(new[2], dates)
    np.testing.assert_allclose(new[3], cycles, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(new[4], np.stack(future))


def assert_same_forecasts(old: pd.DataFrame, new: pd.DataFrame) -> None:
    assert new["unique_id"].tolist() == old["unique_id"].tolist()
    assert new["ds"].tolist() == old["ds"].tolist()
    np.testing.assert_allclose(new["yhat"], old["yhat"], rtol=1e-9, atol=1e-9)


def interleaved(old, new, repeats: int) -> tuple[float, float]:
    """Median seconds of each, run in alternating order so load changes hit both."""
    old_times, new_times = [], []
    for i in range(repeats):
        pair = [(old, old_times), (new, new_times)]
        for fn, times in pair if i % 2 == 0 else pair[::-1]:
            times.append(timed(fn)[0])
    return median(old_times), median(new_times)


def report(measure: str, old_s: float, new_s: float) -> None:
    ratio = old_s / new_s
    print(f"{measure:58s} old {old_s:7.3f} s   new {new_s:7.3f} s   x{ratio:6.1f}", flush=True)
    result(measure, f"{new_s:.3f} s vs {old_s:.3f} s", ratio, "", True, command_of("vectorised_windows.py"))


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--seasonal", type=int, default=1_000, help="series for the STL members (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    quiet_tensorflow()  # before build_model imports Keras

    from lstm_pipeline.config import ModelConfig
    from lstm_pipeline.model import build_model

    history = daily_history(args.series)
    print(f"{args.series:,} series x {POINTS} daily points, lookback {LOOKBACK}, horizon {HORIZON}", flush=True)
    plain = scaler_for(history, anchor="last")
    calendar = scaler_for(history, anchor="trend", value_transform="log", covariates=["dayofweek", "month"])
    for name, scaler in (("no covariates", plain), ("log + 2 covariates", calendar)):
        old, new = (
            partial(old_inputs, history, LOOKBACK, scaler, HORIZON),
            partial(new_inputs, history, LOOKBACK, scaler, HORIZON),
        )
        assert_same_inputs(old(), new())
        report(f"windows, scaling, future timestamps ({name})", *interleaved(old, new, args.repeats))

    network = build_model(ModelConfig(units=[50]), lookback=LOOKBACK, horizon=HORIZON)
    predict = partial(predict_batched, network)
    predict(np.zeros((8, LOOKBACK, 1), "float32"))  # build the graph before timing
    run = {"lookback": LOOKBACK, "model_horizon": HORIZON, "horizon": HORIZON, "scaler": plain}
    old, new = partial(old_forecast, predict, history, **run), partial(forecast, predict, history, **run)
    assert_same_forecasts(old(), new())
    network_s = median([timed(lambda: predict(np.zeros((args.series, LOOKBACK, 1), "float32")))[0] for _ in range(3)])
    print(f"{'the network alone, one call on all series':58s} {network_s:7.3f} s", flush=True)
    report("whole forecast(...), one member", *interleaved(old, new, args.repeats))
    scalers = [scaler_for(history, anchor=a) for a in ("last", "trend", "none", "last", "trend", "none")]
    old, new = partial(old_members, predict, history, scalers), partial(new_members, predict, history, scalers)
    assert_same_forecasts(old(), new())
    report(f"{MEMBERS} members and their median (as the pyfunc)", *interleaved(old, new, args.repeats))

    if args.seasonal:
        small = daily_history(args.seasonal)
        stl = [scaler_for(small, anchor=a, season_length=7) for a in ("last", "trend", "none")]
        old, new = partial(old_members, predict, small, stl), partial(new_members, predict, small, stl)
        assert_same_forecasts(old(), new())
        report(f"3 deseasonalised members (STL), {args.seasonal:,} series", *interleaved(old, new, 1))


if __name__ == "__main__":
    main()
