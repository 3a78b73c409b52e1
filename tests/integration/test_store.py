"""A local MLflow store that is not a SQLite database gets a typed error naming the file."""

from __future__ import annotations

import mlflow
import pytest

from lstm_pipeline.errors import TrackingStoreError
from lstm_pipeline.tracking import use_tracking_store

pytestmark = pytest.mark.integration


def test_a_corrupt_store_is_a_typed_error_that_names_the_file_and_changes_nothing(tmp_path, monkeypatch):
    database = tmp_path / "mlruns" / "mlflow.db"
    database.parent.mkdir()
    garbage = bytes(range(256)) * 20
    database.write_bytes(garbage)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{database}")
    previous = mlflow.get_tracking_uri()
    refused = pytest.raises(
        TrackingStoreError,
        match=r"mlflow\.db is not a readable SQLite database \(file is not a database\); move it aside",
    )
    try:
        with refused:
            use_tracking_store()
    finally:
        mlflow.set_tracking_uri(previous)  # MLflow's tracking URI is process-wide: leave it as it was
    assert database.read_bytes() == garbage
