"""Held-out accuracy of `train --auto` against statsforecast's classics on real public series.

Each series is cut into a training file and the `horizon` points after it. The pipeline sees only
the training part, its season (from the dates, or given for undated series) and the horizon; it
chooses, ensembles and refits exactly as `lstm-pipeline train --auto` does (`fitting.auto_fit`).
SeasonalNaive, AutoETS, AutoTheta and AutoARIMA are fit on the same training part in the same run.
Reported: MASE (scaled by the training part's in-sample seasonal-naive MAE) and MAPE, each LSTM
figure the mean and standard deviation over seeds, and the wall time of one auto run.

    .venv/bin/python bench/accuracy.py [--seeds 3] [--series airpassengers,wineind] [--plain]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common

import numpy as np
import pandas as pd

from lstm_pipeline.config import load_config
from lstm_pipeline.data_defaults import resolve


def public_series() -> dict[str, tuple[pd.DataFrame, int, int | None]]:
    """name -> (training+test frame, horizon, season for undated series). Real series from PyPI packages."""
    import pmdarima.datasets as d
    from statsforecast.utils import AirPassengersDF

    def dated(values: np.ndarray, start: str, freq: str) -> pd.DataFrame:
        return pd.DataFrame({"unique_id": "s", "ds": pd.date_range(start, periods=len(values), freq=freq), "y": values})

    def stepped(values: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"unique_id": "s", "ds": np.arange(len(values)), "y": values})

    ap = AirPassengersDF["y"].to_numpy("float64")
    return {
        "airpassengers": (dated(ap, "1949-01-31", "ME"), 36, None),  # train to 1957-12, forecast 1958-1960
        "wineind": (dated(d.load_wineind(as_series=True).to_numpy("float64"), "1980-01-31", "ME"), 18, None),
        "woolyrnq": (dated(d.load_woolyrnq(as_series=True).to_numpy("float64"), "1965-03-31", "QE"), 8, None),
        "austres": (dated(d.load_austres(as_series=True).to_numpy("float64"), "1971-03-31", "QE"), 8, None),
        "lynx": (dated(d.load_lynx(as_series=True).to_numpy("float64"), "1821-12-31", "YE"), 6, None),
        "taylor": (stepped(d.load_taylor(as_series=True).to_numpy("float64")), 48, 48),  # half-hourly, no dates
    }


def mase(y: np.ndarray, yhat: np.ndarray, insample: np.ndarray, m: int) -> float:
    return float(np.mean(np.abs(y - yhat)) / np.mean(np.abs(insample[m:] - insample[:-m])))


def mape(y: np.ndarray, yhat: np.ndarray) -> float:
    return float(100 * np.mean(np.abs(y - yhat) / np.abs(y)))


def lstm_forecast(
    train: pd.DataFrame, horizon: int, season: int | None, seed: int, plain: bool
) -> tuple[np.ndarray, float, int]:
    """The pipeline's forecast from the training part only: `train --auto` (or a plain train)."""
    import keras

    from lstm_pipeline.fitting import auto_fit, fit_and_evaluate

    keras.backend.clear_session()
    overrides = {"window.horizon": horizon, "train.seed": seed, "auto.enabled": not plain}
    if season:
        overrides["evaluate.season_length"] = season
    cfg = resolve(load_config(None, overrides), train)
    began = time.perf_counter()
    fitted = fit_and_evaluate(train, cfg) if plain else auto_fit(train, cfg).fitted
    predicted = fitted.ensemble.forecast(train, horizon)
    return predicted["yhat"].to_numpy("float64"), time.perf_counter() - began, cfg.evaluate.season_length


def classic_forecasts(train: pd.DataFrame, horizon: int, season: int) -> dict[str, np.ndarray]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, SeasonalNaive

    models = [SeasonalNaive(season), AutoETS(season_length=season), AutoTheta(season_length=season)]
    if len(train) < 1000:  # AutoARIMA with a season of 48 on 4,000 points takes minutes
        models.append(AutoARIMA(season_length=season))
    positions = train.assign(ds=np.arange(len(train)))
    fc = StatsForecast(models=models, freq=1).forecast(df=positions, h=horizon)
    return {col: fc[col].to_numpy("float64") for col in fc.columns if col not in ("unique_id", "ds")}


def report(name: str, row: dict) -> None:
    """The `RESULT` line `run_all.py` collects: the LSTM's MASE against seasonal naive's, same split."""
    from _common import command_of, result

    lstm, naive = row["LSTM"], row["SeasonalNaive"]["mase"]
    figure = f"{lstm['mase']:.3f} ± {lstm['mase_sd']:.3f} vs {naive:.3f} (AutoETS {row['AutoETS']['mase']:.3f})"
    result(
        f"{name}: --auto MASE vs seasonal naive",
        figure,
        lstm["mase"] / naive,
        "< 1",
        lstm["mase"] < naive,
        command_of("accuracy.py"),
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--series", default="")
    parser.add_argument("--plain", action="store_true", help="a plain train (no --auto) instead")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()
    chosen = set(args.series.split(",")) if args.series else None
    results = {}
    for name, (frame, horizon, season) in public_series().items():
        if chosen and name not in chosen:
            continue
        train, test = frame.iloc[:-horizon].reset_index(drop=True), frame["y"].to_numpy("float64")[-horizon:]
        insample = train["y"].to_numpy("float64")
        runs = [lstm_forecast(train, horizon, season, seed, args.plain) for seed in range(args.seeds)]
        m = runs[0][2]
        row = {"points": len(train), "horizon": horizon, "season": m, "seconds": float(np.mean([r[1] for r in runs]))}
        lstm_mase = [mase(test, r[0], insample, m) for r in runs]
        lstm_mape = [mape(test, r[0]) for r in runs]
        row["LSTM"] = {
            "mase": float(np.mean(lstm_mase)),
            "mase_sd": float(np.std(lstm_mase)),
            "mape": float(np.mean(lstm_mape)),
            "mape_sd": float(np.std(lstm_mape)),
        }
        for model, yhat in classic_forecasts(train, horizon, m).items():
            row[model] = {"mase": mase(test, yhat, insample, m), "mape": mape(test, yhat)}
        results[name] = row
        print(name, json.dumps(row), flush=True)
        report(name, row)
    classic_names = ("SeasonalNaive", "AutoETS", "AutoTheta", "AutoARIMA")
    print(
        "\n| series | points | h | m | LSTM MASE (mean ± sd) | LSTM MAPE % | "
        + " | ".join(classic_names)
        + " | s/run |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in results.items():
        lstm = row["LSTM"]
        classics = " | ".join(f"{row[k]['mase']:.3f}" if k in row else "-" for k in classic_names)
        sizes = f"{row['points']} | {row['horizon']} | {row['season']}"
        lstm_text = f"{lstm['mase']:.3f} ± {lstm['mase_sd']:.3f} | {lstm['mape']:.2f} ± {lstm['mape_sd']:.2f}"
        print(f"| {name} | {sizes} | {lstm_text} | {classics} | {row['seconds']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
