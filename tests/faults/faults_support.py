"""What the fault tests share besides fixtures: server timeouts, the CLI's environment, log waits.

A module of its own (not conftest) so that tests import it by a name no other test folder uses.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from helpers import Service, isolated_env, mlflow_service, tail

PREFECT_START_TIMEOUT = 150
MLFLOW_START_TIMEOUT = 180


def faults_mlflow_server(root: Path) -> Service:
    """An MLflow tracking server on a SQLite store under `root`, not started."""
    return mlflow_service("faults-mlflow-server", root, isolated_env(root))


def cli_env(root: Path, prefect: Service, **extra: str) -> dict[str, str]:
    """Environment of a `lstm-pipeline` process: its own home and SQLite store under `root`, our Prefect server."""
    return isolated_env(
        root,
        LSTM_PIPELINE_HOME=str(root / "home"),
        MLFLOW_TRACKING_URI=f"sqlite:///{root / 'home' / 'mlruns' / 'mlflow.db'}",
        PREFECT_API_URL=f"{prefect.url}/api",
        **extra,
    )


def wait_for_line(log: Path, text: str, proc_poll: object, timeout: float) -> float:
    """Seconds until `text` appears in `log`; fail if the process exits first or time runs out."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if text in log.read_text(encoding="utf-8", errors="replace"):
            return time.monotonic() - began
        if proc_poll() is not None:  # type: ignore[operator]
            raise AssertionError(f"process exited before logging {text!r}:\n{tail(log)}")
        time.sleep(0.1)
    raise AssertionError(f"no {text!r} within {timeout:.0f} s:\n{tail(log)}")
