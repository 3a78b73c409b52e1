"""Choosing recipes by backtest against combining them all, on the held-out horizon of real series.

For each series of `accuracy.py` (cut the same way), every `--auto` candidate (one network, seed
`train.seed + i`) is scored on a backtest of `--windows` origins inside the training part, then
refit on the whole training part and scored on the held-out horizon. Printed: each candidate's
two MASEs, then the MASE of the median forecast of the best k by backtest (k = 1, 3, 5, 8, 12)
against the median of all of them (`auto.top` 0, the default).

    .venv/bin/python bench/selection.py [--series wineind,woolyrnq,airpassengers] [--windows 2]
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

from lstm_pipeline.auto import candidates, fold_plan, score_candidate
from lstm_pipeline.config import load_config
from lstm_pipeline.data_defaults import resolve
from lstm_pipeline.ensemble import fit_ensemble


def held_out_candidates(name: str, windows: int) -> tuple[list[tuple[float, np.ndarray]], np.ndarray, np.ndarray, int]:
    """(backtest MASE, held-out forecast) per candidate, the held-out values, the training values, the season."""
    frame, horizon, season = public_series()[name]
    train, test = frame.iloc[:-horizon].reset_index(drop=True), frame["y"].to_numpy("float64")[-horizon:]
    overrides: dict[str, object] = {"window.horizon": horizon, "auto.enabled": True, "auto.windows": windows}
    if season:
        overrides["evaluate.season_length"] = season
    cfg = resolve(load_config(None, overrides), train)
    hidden, m = fold_plan(train, cfg), cfg.evaluate.season_length
    found = []
    for candidate in candidates(cfg, train, hidden):
        backtest = score_candidate(candidate, train, hidden, m).mase
        forecast = fit_ensemble(train, [candidate.recipe]).forecast(train, horizon)["yhat"].to_numpy("float64")
        found.append((backtest, forecast))
        held = mase(test, forecast, train["y"].to_numpy("float64"), m)
        print(f"{name}  {candidate.name}  backtest {backtest:.3f}  held out {held:.3f}", flush=True)
    return found, test, train["y"].to_numpy("float64"), m


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", default="wineind,woolyrnq,airpassengers")
    parser.add_argument("--windows", type=int, default=2)
    args = parser.parse_args()
    rows = []
    for name in args.series.split(","):
        found, test, insample, m = held_out_candidates(name, args.windows)
        ranked = [forecast for _, forecast in sorted(found, key=lambda pair: pair[0])]
        medians = {f"best {k}": np.median(ranked[:k], axis=0) for k in (1, 3, 5, 8, 12) if k < len(ranked)}
        medians["all"] = np.median(ranked, axis=0)
        rows.append((name, {label: mase(test, f, insample, m) for label, f in medians.items()}))
    labels = list(dict.fromkeys(label for _, scores in rows for label in scores))  # a short space has fewer
    print("\n| series | " + " | ".join(f"median of {label}" for label in labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name, scores in rows:
        print(f"| {name} | " + " | ".join(f"{scores[k]:.3f}" if k in scores else "-" for k in labels) + " |")


if __name__ == "__main__":
    main()
