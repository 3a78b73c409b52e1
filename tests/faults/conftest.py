"""Fault tests: real CLI processes, a real Prefect server and a real MLflow server, all on 127.0.0.1.

CLI processes talk to one Prefect server started here (1-2 s per process instead of a temporary
server each), so a flow run's final state is read from its API after the process is gone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from faults_support import PREFECT_START_TIMEOUT
from helpers import LOGS, Service, isolated_env, prefect_service, tail


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
    server = prefect_service("faults-prefect-server", root, isolated_env(root))
    try:
        server.start()
        server.wait_healthy(PREFECT_START_TIMEOUT)
        yield server
    finally:
        server.stop(timeout=20)
