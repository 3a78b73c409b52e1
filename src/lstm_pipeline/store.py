"""Where the MLflow store is and opening it: the tracking URI, the store check, experiments."""

from __future__ import annotations

import os
from pathlib import Path

from lstm_pipeline.config import project_root
from lstm_pipeline.errors import TrackingStoreError


def tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the embedded SQLite store under the project root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlruns' / 'mlflow.db'}"


def use_tracking_store() -> str:
    """Point MLflow at `tracking_uri()` and check it answers.

    A local SQLite store is created (schema migrations included) under an exclusive file lock
    beside the database, so processes starting together on a new store migrate it once. A server
    gets bounded HTTP retries (`resilience.HTTP_RETRY_DEFAULTS`) and must answer, else
    `TrackingUnavailableError`.
    """
    import mlflow

    from lstm_pipeline.resilience import exclusive_lock, unavailable_error, use_http_retry_defaults

    uri = tracking_uri()
    use_http_retry_defaults()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        with exclusive_lock(database.with_name(database.name + ".lock")):
            try:
                _open_stores()
            except Exception as exc:
                if any(sign in str(exc) for sign in _CORRUPT_SQLITE):
                    raise TrackingStoreError(
                        f"the MLflow store {database} is not a readable SQLite database ({_first_line(exc)}); "
                        "move it aside to start a new store there, or restore it from a backup"
                    ) from exc
                raise
    elif uri.startswith(("http://", "https://")):
        try:
            _open_stores()
        except Exception as exc:
            raise unavailable_error(exc, uri) from exc
    return uri


_CORRUPT_SQLITE = ("file is not a database", "database disk image is malformed")


def _first_line(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's SQL echo and background link."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _open_stores() -> None:
    """Open the tracking and registry stores now (creating a new database's schema) with two cheap reads."""
    import mlflow

    client = mlflow.MlflowClient()
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)


def ensure_experiment(name: str) -> str:
    """Return the experiment id, creating it if absent.

    On a local SQLite store its artifacts go to `<store folder>/artifacts/<experiment>/`, beside the
    database, so the store is one self-contained folder whatever the working directory.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    if found := client.get_experiment_by_name(name):
        return str(found.experiment_id)
    location = None
    if (uri := mlflow.get_tracking_uri()).startswith("sqlite:///"):  # artifacts live beside the database
        folder = name.replace("/", "_").replace(os.sep, "_")
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / folder).as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:  # another process created it first
        return str(client.get_experiment_by_name(name).experiment_id)  # type: ignore[union-attr]


def experiment_of(run_id: str) -> str:
    """The experiment a run belongs to."""
    import mlflow

    return str(mlflow.MlflowClient().get_run(run_id).info.experiment_id)
