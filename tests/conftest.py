"""Test isolation: a private Prefect home, and MLflow stores and outputs under temporary folders."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Prefect reads its settings once, at import: isolate them before any test imports it.
    prefect_home = tempfile.mkdtemp(prefix="lstm-pipeline-prefect-")
    os.environ["PREFECT_HOME"] = prefect_home
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"


@pytest.fixture(scope="session")
def pipeline_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A project root of its own: MLflow store in <home>/mlruns, forecasts in <home>/outputs.

    One SQLite store per session: creating its schema takes seconds, so tests share it and keep
    apart by using their own experiment and model names.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LSTM_PIPELINE_HOME", str(home))
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{home / 'mlruns' / 'mlflow.db'}")
        from lstm_pipeline.store import use_tracking_store

        use_tracking_store()
        yield home
