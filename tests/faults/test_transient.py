"""Tracking-server outages (a real `mlflow server` stopped and restarted) and a retried forecast write."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from faults_support import MLFLOW_START_TIMEOUT, faults_mlflow_server
from helpers import Service, http_json

from flows.batch_forecast import write
from flows.train import TrainSummary, train
from lstm_pipeline.config import load_config
from lstm_pipeline.errors import TrackingUnavailableError
from lstm_pipeline.resilience import HTTP_RETRY_DEFAULTS, use_http_retry_defaults

pytestmark = pytest.mark.faults

TINY = {
    "model.units": [4],
    "train.epochs": 2,
    "train.ensemble": 1,
    "train.epochs_per_check": 1,
    "promotion.max_vs_seasonal_naive": 1000,
}


def tiny(name: str) -> dict[str, object]:
    return {**TINY, "tracking.experiment": name, "tracking.model_name": name}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    service = faults_mlflow_server(tmp_path_factory.mktemp("faults-mlflow"))
    try:
        service.start()
        service.wait_healthy(MLFLOW_START_TIMEOUT)
        yield service
    finally:
        service.stop(timeout=20)


@pytest.fixture
def against(server: Service, pipeline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """Point this process's flows at the server; put the session's store back afterwards."""
    previous = mlflow.get_tracking_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    yield server
    monkeypatch.undo()
    mlflow.set_tracking_uri(previous)


def server_store(server: Service) -> mlflow.MlflowClient:
    """A reader of the server's own database, usable while the server is down."""
    database = Path(server.argv[server.argv.index("--backend-store-uri") + 1].removeprefix("sqlite:///"))
    return mlflow.MlflowClient(tracking_uri=f"sqlite:///{database}")


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, outcome


def wait_for_running_run(server: Service, experiment: str, thread: threading.Thread, timeout: float = 180) -> None:
    """Block until the flow has opened its MLflow run (fitting comes next)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert thread.is_alive(), "the flow ended before opening its run"
        found = http_json(
            "POST",
            f"{server.url}/api/2.0/mlflow/experiments/search",
            {"filter": f"name = '{experiment}'", "max_results": 1},
        ).get("experiments", [])
        if found:
            runs = http_json(
                "POST",
                f"{server.url}/api/2.0/mlflow/runs/search",
                {"experiment_ids": [found[0]["experiment_id"]], "max_results": 1},
            )
            if runs.get("runs"):
                return
        time.sleep(0.2)
    raise AssertionError(f"no run in {experiment} within {timeout:.0f} s")


def test_http_retry_defaults_are_bounded_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch):
    for key in HTTP_RETRY_DEFAULTS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "7")
    use_http_retry_defaults()
    import os

    assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"
    assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "7"


def test_a_server_restarting_mid_run_delays_the_run_but_it_completes(against: Service, monkeypatch):
    # Retries long enough to outlast a restart (up to ~2 min: urllib3 sleeps 0, 2, 4, ... 64 s).
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
    thread, outcome = in_thread(lambda: train(config=load_config(None, tiny("faults-restart"))))
    wait_for_running_run(against, "faults-restart", thread)
    against.stop(timeout=20)
    assert thread.is_alive()  # the run needs the server to finish: it must ride out the outage
    down_at = time.monotonic()
    time.sleep(2)
    against.start()
    against.wait_healthy(MLFLOW_START_TIMEOUT)
    print(f"server down for {time.monotonic() - down_at:.1f} s")
    thread.join(timeout=240)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    summary: TrainSummary = outcome["value"]
    client = mlflow.MlflowClient(tracking_uri=against.url)
    assert client.get_run(summary.run_id).info.status == "FINISHED"
    version = client.get_model_version_by_alias("faults-restart", "champion")
    assert version.run_id == summary.run_id


def test_a_server_gone_for_good_fails_the_flow_cleanly(against: Service, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # give up after ~2 s of retries
    thread, outcome = in_thread(lambda: train(config=load_config(None, tiny("faults-outage"))))
    wait_for_running_run(against, "faults-outage", thread)
    against.stop(timeout=20)
    thread.join(timeout=180)
    assert isinstance(outcome.get("error"), TrackingUnavailableError), outcome
    assert against.url in str(outcome["error"]) and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" in str(outcome["error"])

    store = server_store(against)
    assert store.search_model_versions("name = 'faults-outage'") == []  # nothing half-registered
    experiment = store.get_experiment_by_name("faults-outage")
    assert experiment is not None
    (run,) = store.search_runs([experiment.experiment_id])
    assert "test_mase" not in run.data.metrics or run.info.status != "FINISHED"

    began = time.monotonic()
    with pytest.raises(TrackingUnavailableError, match="did not answer"):
        train(config=load_config(None, tiny("faults-outage")))  # a flow started while the server is down fails at once
    assert time.monotonic() - began < 30


def test_a_retried_forecast_write_leaves_one_file_per_slot(pipeline_home: Path, tmp_path: Path):
    from prefect import flow

    target = tmp_path / "forecasts" / "m" / "version=1" / "as_of=2026-01-01" / "forecasts.parquet"
    obstacle = target.with_name("forecasts.png")
    (obstacle / "blocker").mkdir(parents=True)  # the first attempt cannot rename its plot over a folder
    history = pd.DataFrame({"unique_id": "a", "ds": range(30), "y": [float(i % 7) for i in range(30)]})
    forecasts = pd.DataFrame({"unique_id": "a", "ds": range(30, 35), "yhat": 1.0}).assign(
        model_name="m", model_version="1", run_id="r"
    )

    failures: list[str] = []
    parquet_at_failure: list[bool] = []

    def clear_then_retry(task: object, task_run: object, state: Any) -> bool:
        """Prefect asks before retrying: note the failure, and the fault passes."""
        failures.append(str(state.message))
        parquet_at_failure.append(target.exists())
        (obstacle / "blocker").rmdir()
        obstacle.rmdir()
        return True

    @flow(name="faults-write")
    def write_once() -> Any:
        task = write.with_options(retry_condition_fn=clear_then_retry, retry_delay_seconds=0)
        return task(forecasts, history, str(target), return_state=True)

    state = write_once()
    assert state.is_completed()
    assert len(failures) == 1, failures  # the first attempt failed, on the plot
    assert parquet_at_failure == [False]  # the slot's Parquet file comes last: no slot without its plot
    assert state.state_details.task_run_id is not None
    assert sorted(p.name for p in target.parent.iterdir()) == ["forecasts.parquet", "forecasts.png"]
    pd.testing.assert_frame_equal(pd.read_parquet(target), forecasts)
    run_count = _task_run_count(state.state_details.task_run_id)
    assert run_count == 2, run_count  # it did fail once and was retried


def _task_run_count(task_run_id: Any) -> int:
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return int(client.read_task_run(task_run_id).run_count)
