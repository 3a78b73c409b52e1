"""The sweep on a local 2-worker Dask cluster against real servers: nested MLflow runs, equal to a sequential sweep.

`lstm-pipeline sweep` runs twice on the same trials, once with 2 Dask worker processes and once
with the trials one after another in the flow's process; both log to the MLflow tracking server
and report to the Prefect server of the session.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from helpers import Stack, executable, run

pytestmark = pytest.mark.e2e

NAME = "sweep-e2e"
TINY: dict[str, Any] = {
    "train.epochs": 4,
    "train.ensemble": 1,
    "train.epochs_per_check": 2,
    "train.early_stopping_patience": None,
    "tracking.experiment": NAME,
    "tracking.model_name": NAME,
    "promotion.max_vs_seasonal_naive": 1000,  # a network this small may lose to seasonal naive; the gate has its tests
    "sweep.method": "grid",
    "sweep.space": {"model.units": [[4]], "train.learning_rate": [0.01, 0.03]},
}


def sweep_command(workers: int) -> list[str]:
    settings = [f"{key}={json.dumps(value)}" for key, value in TINY.items()]
    return [
        executable("lstm-pipeline"),
        "sweep",
        "--workers",
        str(workers),
        "--trials",
        "2",
        *(arg for setting in settings for arg in ("--set", setting)),
    ]


@pytest.fixture(scope="module")
def sweeps(stack: Stack) -> dict[int, str]:
    """Run the same sweep on 2 Dask workers, then sequentially; parent run id by number of workers."""
    env = stack.env(MLFLOW_TRACKING_URI=stack.mlflow_url, LSTM_PIPELINE_HOME=str(stack.root / "sweep-home"))
    parents = {}
    for workers in (2, 1):
        done = run(sweep_command(workers), env, cwd=stack.root, timeout=420)
        parents[workers] = done.output.split("MLflow run")[1].split()[0]
    return parents


def children(client: Any, parent_id: str) -> dict[str, Any]:
    experiment = client.get_run(parent_id).info.experiment_id
    found = client.search_runs([experiment], filter_string=f"tags.mlflow.parentRunId = '{parent_id}'")
    return {run.data.tags["sweep.trial"]: run for run in found}


def test_one_parent_and_a_child_run_per_trial_logged_from_the_workers(stack: Stack, sweeps: dict[int, str]) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url)
    parent = client.get_run(sweeps[2])
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["sweep.role"] == "parent"
    assert parent.data.metrics["trials_run"] == 2
    trials = children(client, sweeps[2])
    assert sorted(trials) == ["0", "1"]
    for index, child in trials.items():
        assert child.info.status == "FINISHED"
        assert child.data.tags["sweep.role"] == "trial"
        assert child.data.params["train.seed"] == str(42 + int(index))
        assert child.data.params["model.units"] == "[4]"
        assert child.data.metrics["sweep_score"] == child.data.metrics["test_mase"]
        plots = [m.path for m in client.list_artifacts(child.info.run_id, "plots")]
        assert plots == ["plots/forecast_vs_actual.png", "plots/loss.png"]  # what a train run holds
    assert {c.data.params["train.learning_rate"] for c in trials.values()} == {"0.01", "0.03"}
    # Two worker processes, neither of them the flow's: each trial ran on its own worker.
    assert len({c.data.tags["sweep.worker"] for c in trials.values()}) == 2
    best = min(trials.values(), key=lambda c: c.data.metrics["sweep_score"])
    assert parent.data.tags["sweep.best_run_id"] == best.info.run_id
    assert parent.data.metrics["best_score"] == best.data.metrics["sweep_score"]
    registered = client.search_model_versions(f"name = '{NAME}' and run_id = '{best.info.run_id}'")
    assert len(registered) == 1
    assert registered[0].tags["gate.decision"] in {"champion", "challenger"}


def test_the_same_trials_give_the_same_metrics_in_parallel_and_one_after_another(
    stack: Stack, sweeps: dict[int, str]
) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url)
    parallel, sequential = children(client, sweeps[2]), children(client, sweeps[1])
    assert sorted(sequential) == ["0", "1"]
    assert len({c.data.tags["sweep.worker"] for c in sequential.values()}) == 1  # the flow's own process
    for index, child in parallel.items():
        for key in ("test_mase", "test_rmse", "test_mae", "sweep_score"):
            assert child.data.metrics[key] == pytest.approx(sequential[index].data.metrics[key], abs=1e-6), key
    scores = [run.data.metrics["test_mase"] for run in parallel.values()]
    assert scores[0] != scores[1]  # the trials differ, so equality above means something
