"""The console as a user sees it: an expected error printed once, no traceback, no TensorFlow noise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lstm_pipeline.console import is_native_log_line

pytestmark = pytest.mark.flows
CLI = Path(sys.executable).with_name("lstm-pipeline")


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL")}
    env.pop("PREFECT_LOGGING_LEVEL", None)  # the user's default: Prefect's INFO lines stay on
    env["LSTM_PIPELINE_HOME"] = str(home)
    return subprocess.run([str(CLI), *args], env=env, cwd=home, capture_output=True, text=True, timeout=300)


def test_a_broken_contract_prints_once_without_traceback_and_verbose_brings_the_detail_back(tmp_path):
    short = tmp_path / "short.csv"
    pd.DataFrame({"unique_id": "a", "ds": range(15), "y": 1.0}).to_csv(short, index=False)

    quiet = run_cli(tmp_path, "train", "--data", str(short))
    assert quiet.returncode == 2, quiet.stderr[-3000:]
    assert quiet.stderr.count("breaks the data contract") == 1, quiet.stderr
    assert "error (DataValidationError)" in quiet.stderr
    assert "Traceback" not in quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if is_native_log_line(line.encode())]
    assert "absl" not in quiet.stderr and "oneDNN" not in quiet.stderr
    assert "Task run 'validate-series" in quiet.stderr  # Prefect's own progress lines stay
    assert "data validation failed; report in" in quiet.stderr

    verbose = run_cli(tmp_path, "--verbose", "train", "--data", str(short))
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stderr
    assert "oneDNN" in verbose.stderr  # nothing filtered
