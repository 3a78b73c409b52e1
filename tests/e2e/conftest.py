"""Real servers for the end-to-end tests: an MLflow tracking server and a Prefect server on loopback.

Both start once per session, at the same time, on free ports of 127.0.0.1, with all their state
(databases, artifacts, Prefect home, logs) in one temporary folder. Each runs in its own process
group and is stopped as a group (SIGTERM, then SIGKILL) in teardown, whatever the tests did.
When a test fails, the last lines of every server/worker log are added to its report.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import LOGS, Service, Stack, isolated_env, mlflow_service, prefect_service, tail

# Seconds. Measured on 2 noisy cores: MLflow answers after 10-30 s on a new store, Prefect after 4-14 s.
MLFLOW_START_TIMEOUT = 180
PREFECT_START_TIMEOUT = 150


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for name, path in LOGS.items():
            report.sections.append((f"{name} log {path} (last lines)", tail(path, 40)))


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An MLflow tracking server and a Prefect server, started together, stopped whatever happens."""
    root = tmp_path_factory.mktemp("e2e")
    (root / "mlflow").mkdir()
    env = isolated_env(root)
    mlflow = mlflow_service("mlflow-server", root, env)
    prefect = prefect_service("prefect-server", root, env)
    running: list[Service] = []
    stack = Stack(root, mlflow, prefect)
    try:
        for service in (mlflow, prefect):
            running.append(service.start())
        for service, timeout in ((mlflow, MLFLOW_START_TIMEOUT), (prefect, PREFECT_START_TIMEOUT)):
            seconds = service.wait_healthy(timeout)
            print(f"{service.name} answered at {service.url} after {seconds:.1f} s")
        yield stack
    finally:
        for service in [*reversed(stack.extra), *reversed(running)]:
            service.stop(timeout=20)
