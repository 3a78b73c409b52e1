"""Team mode end to end: prefect.yaml deployed to a Prefect server, run by a process worker, logged to MLflow.

What a person does (README, scripts/team.sh): create the pool, `prefect deploy --all` from the
checkout with MLFLOW_TRACKING_URI exported, start a worker, run the deployments. The worker here
starts in another folder and without MLFLOW_TRACKING_URI or LSTM_PIPELINE_HOME: both must reach
the flow runs through the deployments' job variables, and the code through the pull step.
"""

from __future__ import annotations

import json
import re
import signal
import time
from typing import Any

import pandas as pd
import pytest
from helpers import PROJECT, Service, Stack, executable, http_json, run

from lstm_pipeline.config import PipelineConfig, load_config

pytestmark = pytest.mark.e2e

POOL = "lstm-pipeline"
MODEL = "lstm-forecaster"
# A network that trains in seconds. The promotion gate (when present) would keep a model this
# small from becoming champion; its own tests cover it, here it must let the model through.
TINY: dict[str, Any] = {
    "train.epochs": 20,
    "train.ensemble": 1,
    "train.epochs_per_check": 5,
    "train.learning_rate": 0.01,
    "model.units": [8],
}
if "promotion" in PipelineConfig.model_fields:
    TINY["promotion.max_vs_seasonal_naive"] = 1000
# The flows' typed `config` parameter takes sections: {"train": {"epochs": 20, ...}, ...}.
TINY_CONFIG = load_config(None, TINY).model_dump(mode="json", exclude_unset=True)


def prefect(*args: str) -> list[str]:
    return [executable("prefect"), *args]


def deployments(stack: Stack) -> dict[str, dict[str, Any]]:
    """The server's deployments by `flow/deployment` name."""
    flows = {f["id"]: f["name"] for f in http_json("POST", f"{stack.prefect_api_url}/flows/filter", {})}
    found = http_json("POST", f"{stack.prefect_api_url}/deployments/filter", {})
    return {f"{flows[d['flow_id']]}/{d['name']}": d for d in found}


def automation_runs(stack: Stack, deployment_id: str) -> list[dict[str, Any]]:
    """Flow runs of a deployment that an automation created (a trigger fired)."""
    query = {"flow_runs": {"deployment_id": {"any_": [deployment_id]}}}
    found = http_json("POST", f"{stack.prefect_api_url}/flow_runs/filter", query)
    return [r for r in found if (r.get("created_by") or {}).get("type") == "AUTOMATION"]


def wait_for(probe: Any, *, timeout: float, every: float = 2.0) -> Any:
    """`probe()`'s first truthy answer, polled for at most `timeout` seconds (AssertionError after)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answer := probe():
            return answer
        time.sleep(every)
    raise AssertionError(f"nothing after {timeout:.0f} s")


def scheduled_runs(stack: Stack) -> list[dict[str, Any]]:
    query = {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}}
    return http_json("POST", f"{stack.prefect_api_url}/flow_runs/filter", query)


def flow_run_id(output: str) -> str:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, f"no flow run id in:\n{output}"
    return match.group(1)


@pytest.fixture(scope="module")
def pool(stack: Stack) -> str:
    """The process work pool the deployments name (`prefect deploy` fails without it)."""
    run(prefect("work-pool", "create", POOL, "--type", "process"), stack.env(), cwd=stack.root)
    return POOL


def test_deploying_without_the_variables_leaves_them_empty(stack: Stack, pool: str) -> None:
    """Unset at deploy time, `{{ $VAR }}` becomes "" (Prefect logs a warning), not the literal template.

    An empty MLFLOW_TRACKING_URI / LSTM_PIPELINE_HOME means the pipeline's defaults (the
    SQLite store and outputs beside the checkout), and it overrides whatever the worker has set.
    """
    run(prefect("--no-prompt", "deploy", "--all"), stack.env(), cwd=PROJECT, timeout=240)
    for name in ("train/weekly", "batch-forecast/daily"):
        deployment = deployments(stack)[name]
        assert deployment["job_variables"]["env"] == {"MLFLOW_TRACKING_URI": "", "LSTM_PIPELINE_HOME": ""}
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}
        ]


def test_deployments_train_register_and_forecast_through_the_servers(stack: Stack, pool: str) -> None:
    home = stack.root / "pipeline-home"
    deploy_env = stack.env(MLFLOW_TRACKING_URI=stack.mlflow_url, LSTM_PIPELINE_HOME=str(home))
    run(prefect("--no-prompt", "deploy", "--all"), deploy_env, cwd=PROJECT, timeout=240)

    found = deployments(stack)
    assert set(found) == {"train/weekly", "batch-forecast/daily", "sweep/monthly", "monitor/daily"}
    automations = {a["name"] for a in http_json("POST", f"{stack.prefect_api_url}/automations/filter", {})}
    assert {"retrain-when-degraded", "forecast-when-the-champion-changes"} <= automations
    for deployment in found.values():
        assert deployment["work_pool_name"] == pool
        assert deployment["job_variables"]["env"] == {
            "MLFLOW_TRACKING_URI": stack.mlflow_url,
            "LSTM_PIPELINE_HOME": str(home),
        }
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT)}}
        ]
        assert [s["schedule"]["cron"] for s in deployment["schedules"]]
    assert found["train/weekly"]["parameters"] == {"config_path": "configs/default.yaml"}
    # The typed parameter: the server holds its schema (the UI's form) and refuses a run that breaks it.
    schema = found["train/weekly"]["parameter_openapi_schema"]
    assert schema["properties"]["config"]["anyOf"][0] == {"$ref": "#/definitions/PipelineConfig"}
    epochs = schema["definitions"]["TrainConfig"]["properties"]["epochs"]
    assert epochs["type"] == "integer" and epochs["minimum"] == 1
    assert found["train/weekly"]["enforce_parameter_schema"]
    refused = run(
        prefect("deployment", "run", "train/weekly", "--param", 'config={"train": {"epochs": 0}}'),
        stack.env(),
        cwd=stack.root,
        check=False,
    )
    assert refused.returncode != 0 and "epochs" in refused.output, refused.describe()
    # The server schedules the next runs (hours or days away); pause the schedules so that no
    # scheduled run can start during the test (pausing also deletes runs already scheduled).
    run(prefect("--no-prompt", "deployment", "schedule", "pause", "--all"), stack.env(), cwd=stack.root)
    assert not [s for d in deployments(stack).values() for s in d["schedules"] if s["active"]]
    assert scheduled_runs(stack) == []

    # The worker knows the Prefect server only: not the MLflow server, the pipeline home or the checkout.
    worker = Service(
        "prefect-worker",
        lambda _: prefect("worker", "start", "--pool", pool, "--name", "e2e-worker"),
        env=stack.env(PREFECT_WORKER_QUERY_SECONDS="2"),
        log=stack.root / "logs" / "prefect-worker.log",
        cwd=stack.root,
        death_signal=signal.SIGKILL,
    )
    started = time.time()
    with stack.started(worker):
        trained = run(
            prefect("deployment", "run", "train/weekly", "--param", f"config={json.dumps(TINY_CONFIG)}", "--watch"),
            stack.env(),
            cwd=stack.root,
            timeout=300,
        )
        # The new champion's event runs the batch forecast through the automation prefect.yaml declares.
        triggered = wait_for(lambda: automation_runs(stack, found["batch-forecast/daily"]["id"]), timeout=120)
        forecast = run(
            prefect("deployment", "run", "batch-forecast/daily", "--watch"), stack.env(), cwd=stack.root, timeout=240
        )
    print(f"train flow run {trained.seconds:.1f} s, batch-forecast flow run {forecast.seconds:.1f} s")

    train_run = http_json("GET", f"{stack.prefect_api_url}/flow_runs/{flow_run_id(trained.output)}")
    forecast_run = http_json("GET", f"{stack.prefect_api_url}/flow_runs/{flow_run_id(forecast.output)}")
    assert train_run["state"]["type"] == "COMPLETED", trained.describe()
    assert forecast_run["state"]["type"] == "COMPLETED", forecast.describe()
    assert train_run["deployment_id"] == found["train/weekly"]["id"]
    assert train_run["parameters"] == {"config_path": "configs/default.yaml", "config": TINY_CONFIG}
    assert forecast_run["deployment_id"] == found["batch-forecast/daily"]["id"]
    assert triggered[0]["created_by"]["display_value"] == "forecast-when-the-champion-changes"

    # On the MLflow server: the run, the registered version, the alias.
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url)
    experiment = client.get_experiment_by_name("lstm-pipeline")
    assert experiment is not None and experiment.artifact_location.startswith("mlflow-artifacts:")
    runs = [
        r
        for r in client.search_runs([experiment.experiment_id], "attributes.status = 'FINISHED'")
        if r.info.start_time >= (started - 5) * 1000
    ]
    assert len(runs) == 1, [r.info for r in runs]
    training = runs[0]
    assert training.data.params["train.epochs"] == "20"
    assert training.data.params["model.units"] == "[8]"
    assert "test_mase" in training.data.metrics
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert champion.run_id == training.info.run_id
    versions = client.search_model_versions(f"name = '{MODEL}'")
    assert str(champion.version) in {str(v.version) for v in versions}
    # The artifacts went through the server's proxy into its artifacts destination.
    destination = stack.root / "mlflow" / "artifacts" / experiment.experiment_id
    plots = {p.name for p in (destination / training.info.run_id).rglob("*.png") if p.parent.name == "plots"}
    assert plots == {"loss.png", "forecast_vs_actual.png"}
    assert list(destination.rglob("MLmodel"))

    # Outputs under LSTM_PIPELINE_HOME, as the job variables said; nothing in the worker's folder.
    # outputs/forecasts/store=<id>/<model>/version=<n>/as_of=<date>/forecasts.parquet, the id naming the server
    from lstm_pipeline.forecasting import store_id

    partition = home / "outputs" / "forecasts" / f"store={store_id(stack.mlflow_url)}" / MODEL
    files = sorted((partition / f"version={champion.version}").rglob("forecasts.parquet"))
    assert len(files) == 1, sorted(str(p) for p in home.rglob("*") if p.is_file())[:30]
    path = files[0]
    written = pd.read_parquet(path)
    assert len(written) == 10
    assert set(written["unique_id"]) == {"sine"}
    assert list(written["ds"]) == list(range(100, 110))
    assert written["yhat"].notna().all() and written["yhat"].abs().lt(10).all()
    assert set(written["model_version"]) == {str(champion.version)}
    assert set(written["run_id"]) == {training.info.run_id}
    assert [p.name for p in (home / "outputs" / "validation").iterdir() if "-training-" in p.name]
    assert [p.name for p in (home / "outputs" / "validation").iterdir() if "-forecast-" in p.name]
