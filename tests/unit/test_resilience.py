"""The store-creation lock: one process at a time, and a typed error when it cannot be created."""

from __future__ import annotations

import pytest

from lstm_pipeline.errors import TrackingStoreError
from lstm_pipeline.resilience import exclusive_lock


def test_the_lock_is_created_and_held(tmp_path):
    lock = tmp_path / "mlruns" / "mlflow.db.lock"
    with exclusive_lock(lock):
        assert lock.is_file()


def test_a_lock_that_cannot_be_written_is_a_typed_error(tmp_path):
    (tmp_path / "mlruns").write_text("a file where the store's folder should be")
    refused = pytest.raises(TrackingStoreError, match=r"cannot write the MLflow store's lock file .*mlflow\.db\.lock")
    with refused, exclusive_lock(tmp_path / "mlruns" / "mlflow.db.lock"):
        pass
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "mlflow.db.lock").mkdir()  # a folder in the lock's place
    lock = tmp_path / "store" / "mlflow.db.lock"
    with pytest.raises(TrackingStoreError, match="Is a directory"), exclusive_lock(lock):
        pass
