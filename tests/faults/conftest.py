"""Fault tests: real CLI processes, a real Prefect server and a real MLflow server, all on 127.0.0.1.

CLI processes talk to one Prefect server started here (1-2 s per process instead of a temporary
server each), so a flow run's final state is read from its API after the process is gone.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from helpers import HOST, LOGS, Service, executable, isolated_env, tail

PREFECT_START_TIMEOUT = 150
MLFLOW_START_TIMEOUT = 180


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and item.get_closest_marker("faults"):
        for name, path in LOGS.items():
            report.sections.append((f"{name} log {path} (last lines)", tail(path, 40)))


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A Prefect server on a free loopback port, stopped (process group) whatever happens."""
    root = tmp_path_factory.mktemp("faults-prefect")
    server = Service(
        "faults-prefect-server",
        lambda port: [executable("prefect"), "server", "start", "--host", HOST, "--port", str(port)],
        env=isolated_env(root),
        log=root / "prefect-server.log",
        cwd=root,
        health_path="/api/health",
    )
    try:
        server.start()
        server.wait_healthy(PREFECT_START_TIMEOUT)
        yield server
    finally:
        server.stop(timeout=20)


def mlflow_server(root: Path) -> Service:
    """An MLflow tracking server (one worker, no job runner) on a SQLite store under `root`, not started."""
    (root / "mlflow").mkdir(parents=True, exist_ok=True)
    return Service(
        "faults-mlflow-server",
        lambda port: [
            executable("mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "mlflow" / "artifacts"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**isolated_env(root), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        log=root / "logs" / "mlflow-server.log",
        cwd=root,
        health_path="/api/2.0/mlflow/experiments/search?max_results=1",
    )


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
