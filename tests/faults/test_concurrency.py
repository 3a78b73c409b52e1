"""Concurrent writers on the embedded SQLite store: 8 trainings on a new store, 80 registrations at once."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import mlflow
import pytest
from faults_support import cli_env
from helpers import PROJECT, Result, Service, executable, stop_group

from lstm_pipeline.config import load_config, parse_overrides
from lstm_pipeline.tracking import run_params

pytestmark = pytest.mark.faults

PROCESSES = 8
TINY = {
    "train.epochs": "2",
    "train.epochs_per_check": "1",
    "train.ensemble": "1",  # the store is under test, not the ensemble: one network per process
    "model.units": "[4]",
    "promotion.max_vs_seasonal_naive": "1000",
}
STORE_ERRORS = ("database is locked", "duplicate column", "operationalerror", "integrityerror", "traceback")
SCHEMA_CREATED = "Creating initial MLflow database tables"


def start_all(argvs: list[list[str]], env: dict[str, str]) -> list[Result]:
    """Start every command at once, then collect each one's exit code and output."""
    began = time.monotonic()
    procs = [
        subprocess.Popen(
            argv,
            cwd=PROJECT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for argv in argvs
    ]
    results = []
    for argv, proc in zip(argvs, procs, strict=True):
        try:
            out, _ = proc.communicate(timeout=400)
        finally:
            stop_group(proc.pid, timeout=5, leader=proc)
        results.append(Result(argv, proc.returncode, out.decode(errors="replace"), time.monotonic() - began))
    return results


def test_eight_trainings_start_together_on_a_new_sqlite_store(tmp_path: Path, prefect_server: Service):
    settings = [f"{key}={value}" for key, value in {**TINY, "tracking.experiment": "faults-fanout"}.items()]
    argv = [executable("lstm-pipeline"), "train", *(arg for s in settings for arg in ("--set", s))]
    argv += ["--set", "tracking.model_name=faults-fanout"]
    env = cli_env(tmp_path, prefect_server)
    assert not (tmp_path / "home" / "mlruns").exists()  # a brand-new store

    results = start_all([argv] * PROCESSES, env)

    for result in results:
        assert result.returncode == 0, result.describe()
        lowered = result.output.lower()
        assert not [e for e in STORE_ERRORS if e in lowered], result.describe()
    assert sum(SCHEMA_CREATED in r.output for r in results) == 1  # one process migrated; the others waited
    client = mlflow.MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("faults-fanout")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == PROCESSES and {r.info.status for r in runs} == {"FINISHED"}
    expected_params = run_params(load_config(None, parse_overrides(settings)))
    for run in runs:
        assert set(run.data.params) == set(expected_params), run.info.run_id
        assert run.data.params["train.epochs"] == "2"
        assert {"test_mase", "test_naive_mase", "test_seasonal_naive_mase", "train_seconds"} <= set(run.data.metrics)
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2]
        assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 2
    versions = client.search_model_versions("name = 'faults-fanout'")
    assert sorted(int(v.version) for v in versions) == list(range(1, PROCESSES + 1))
    assert {v.run_id for v in versions} == {r.info.run_id for r in runs}


class Echo:
    """The smallest pyfunc body: registration needs a logged model, not a useful one."""

    def predict(self, context: object, model_input: object) -> object:
        return model_input


def test_eighty_concurrent_registrations_get_unique_contiguous_versions(pipeline_home: Path):
    from lstm_pipeline.registry import register

    class EchoModel(mlflow.pyfunc.PythonModel, Echo):  # type: ignore[misc]
        pass

    with mlflow.start_run():
        model_uri = mlflow.pyfunc.log_model(
            name="echo", python_model=EchoModel(), pip_requirements=["mlflow"]
        ).model_uri
    errors: list[BaseException] = []
    versions: list[str] = []

    def register_ten() -> None:
        for _ in range(10):
            try:
                versions.append(register(model_uri, name="faults-threads", tags={}).version)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=register_ten) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    assert sorted(int(v) for v in versions) == list(range(1, 81))
    stored = mlflow.MlflowClient().search_model_versions("name = 'faults-threads'", max_results=200)
    assert sorted(int(v.version) for v in stored) == list(range(1, 81))
