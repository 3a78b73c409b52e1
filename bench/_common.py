"""Shared helpers for the bench scripts: paths, quiet environment, timing and the RESULT line.

Every benchmark prints `RESULT {json}` lines; `bench/run_all.py` collects them into its summary.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"
CLI = ROOT / ".venv" / "bin" / "lstm-pipeline"

# What the CLI sets for itself (lstm_pipeline.cli._quiet_defaults), so references run with the same.
QUIET = {
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def quiet_tensorflow() -> None:
    """Set the quiet defaults in this process; call before importing TensorFlow."""
    for key, value in QUIET.items():
        os.environ.setdefault(key, value)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Wall seconds of one call, and its result."""
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def run(cmd: Sequence[str | Path], env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[float, str, str]:
    """Run a command in a fresh process; return wall seconds, stdout, stderr. Raise if it fails."""
    full_env = {**os.environ, **QUIET, **(env or {})}
    started = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], env=full_env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f"{cmd} exited {proc.returncode}")
    return seconds, proc.stdout, proc.stderr


def result(measure: str, figure: str, ratio: float, target: str, met: bool, command: str) -> None:
    """Print one machine-readable result line (the figure, its ratio to the same-run reference)."""
    row = {"measure": measure, "figure": figure, "ratio": round(ratio, 3), "target": target, "met": met}
    print("RESULT " + json.dumps({**row, "command": command}), flush=True)


def command_of(script: str) -> str:
    return f".venv/bin/python bench/{script}"
