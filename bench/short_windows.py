"""A window shorter than the season: no anchor against mixed shapes, on the held-out horizon.

When the lookback does not span a season, `data_defaults` leaves windows unanchored unless the
series trends (`TRENDING`). This measures both anchors for such a lookback, with a plain train
(6 networks, median) and 3 seeds: on the series of `accuracy.py` cut the same way, and on the
demo sine (its own test part, as `make demo` scores it).

    .venv/bin/python bench/short_windows.py [--series woolyrnq,wineind,airpassengers]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from accuracy import mase, public_series

from lstm_pipeline.config import load_config
from lstm_pipeline.data_defaults import _trend_share, resolve
from lstm_pipeline.fitting import fit_and_evaluate
from lstm_pipeline.sources import seed_sine

SHORT_LOOKBACK = {"airpassengers": 10, "wineind": 8, "woolyrnq": 3}  # under a season of 12, 12, 4
SEEDS = (0, 1, 2)


def held_out_mase(name: str, anchor: str, seed: int) -> float:
    import keras

    frame, horizon, _ = public_series()[name]
    train, test = frame.iloc[:-horizon].reset_index(drop=True), frame["y"].to_numpy("float64")[-horizon:]
    keras.backend.clear_session()
    overrides = {"window.horizon": horizon, "window.lookback": SHORT_LOOKBACK[name], "window.anchor": anchor}
    cfg = resolve(load_config(None, {**overrides, "train.seed": seed}), train)
    predicted = fit_and_evaluate(train, cfg).ensemble.forecast(train, horizon)["yhat"].to_numpy("float64")
    return mase(test, predicted, train["y"].to_numpy("float64"), cfg.evaluate.season_length)


def sine_test_mase(anchor: str, seed: int) -> float:
    import keras

    keras.backend.clear_session()
    frame = seed_sine()
    cfg = resolve(load_config(None, {"window.anchor": anchor, "train.seed": seed}), frame)
    return fit_and_evaluate(frame, cfg).evaluation.metrics["test_mase"]


def spread(scores: list[float]) -> str:
    return f"{np.mean(scores):.3f} ± {np.std(scores):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", default="woolyrnq,wineind,airpassengers")
    args = parser.parse_args()
    print("| series | lookback, season | trend share | none | mixed |\n|---|---|---:|---:|---:|")
    for name in args.series.split(","):
        frame, horizon, _ = public_series()[name]
        share = _trend_share(frame.iloc[:-horizon], horizon)
        cells = [spread([held_out_mase(name, anchor, seed) for seed in SEEDS]) for anchor in ("none", "mixed")]
        season = 4 if name == "woolyrnq" else 12
        print(f"| {name} | {SHORT_LOOKBACK[name]}, {season} | {share:.2f} | {' | '.join(cells)} |")
    sine = [spread([sine_test_mase(anchor, 42 + i) for i in range(len(SEEDS))]) for anchor in ("none", "mixed")]
    print(f"| sine (demo) | 20, 63 | {_trend_share(seed_sine(), 10):.2f} | {' | '.join(sine)} |")


if __name__ == "__main__":
    main()
