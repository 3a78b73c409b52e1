"""The local MLflow store: a file that is not a SQLite database is a typed error; concurrent runs share it."""

from __future__ import annotations

import threading

import mlflow
import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.errors import TrackingStoreError
from lstm_pipeline.store import use_tracking_store
from lstm_pipeline.tracking import log_training_data

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


def test_runs_logging_the_same_data_at_once_all_record_it(tmp_path):
    """Parallel sweep trials log one frame into one experiment; MLflow's lookup-then-insert races there."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("together")
    runs = [client.create_run(experiment).info.run_id for _ in range(8)]
    frame = pd.DataFrame({"unique_id": "a", "ds": np.arange(100), "y": np.linspace(0, 1, 100)})
    start, errors = threading.Barrier(len(runs)), []

    def log(run_id: str) -> None:
        start.wait()
        try:
            with mlflow.start_run(run_id=run_id):
                log_training_data(frame, "sine")
        except Exception as error:  # collected and asserted below
            errors.append(error)

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        threads = [threading.Thread(target=log, args=(run_id,)) for run_id in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        mlflow.set_tracking_uri(previous)
    assert errors == []
    digests = {client.get_run(run_id).inputs.dataset_inputs[0].dataset.digest for run_id in runs}
    assert len(digests) == 1
