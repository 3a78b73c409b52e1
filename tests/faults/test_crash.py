"""A training process killed mid-fit: SIGTERM ends its MLflow and Prefect runs; after SIGKILL a rerun works."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faults_support import cli_env, wait_for_line
from helpers import PROJECT, Service, executable, http_json, run, stop_group

pytestmark = pytest.mark.faults

NAME = "faults-crash"
TINY = ["--set", "model.units=[4]", "--set", "promotion.max_vs_seasonal_naive=1000"]
ENDLESS = ["--set", "train.epochs=1000000", "--set", "train.early_stopping_patience=null"]
FITTING = "fitting on"  # the fit-model task's first log line


@dataclass
class Crashed:
    """A `lstm-pipeline train` process signalled while fitting."""

    log: Path
    returncode: int
    signalled_at: float  # epoch seconds
    exited_after: float  # seconds from the signal to the process's exit

    @property
    def flow_run_name(self) -> str:
        found = re.search(r"flow run '([^']+)'", self.log.read_text(encoding="utf-8", errors="replace"))
        assert found, self.log.read_text()[-3000:]
        return found.group(1)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for the module: its schema is created once (seconds)."""
    return tmp_path_factory.mktemp("crash")


def train_argv(*more: str) -> list[str]:
    base = ["--set", f"tracking.experiment={NAME}", "--set", f"tracking.model_name={NAME}"]
    return [executable("lstm-pipeline"), "train", *base, *TINY, *more]


def crash_while_fitting(home: Path, prefect: Service, sig: signal.Signals, label: str) -> Crashed:
    """Start training for ever, send `sig` once the fit has begun, wait for the process to end."""
    log = home / f"{label}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            train_argv(*ENDLESS),
            cwd=PROJECT,
            env=cli_env(home, prefect),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_line(log, FITTING, proc.poll, timeout=120)
        time.sleep(3.0)  # past building and tracing the model: fit() is running its steps
        signalled_at = time.time()
        proc.send_signal(sig)
        code = proc.wait(timeout=60)
        return Crashed(log, code, signalled_at, time.time() - signalled_at)
    finally:
        stop_group(proc.pid, timeout=5, leader=proc)  # anything the process left behind


def training_runs(home: Path) -> list[object]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'home' / 'mlruns' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(NAME)
    assert experiment is not None
    return list(client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"]))


def prefect_state(prefect: Service, flow_run_name: str) -> str:
    found = http_json("POST", f"{prefect.url}/api/flow_runs/filter", {"flow_runs": {"name": {"any_": [flow_run_name]}}})
    assert len(found) == 1, found
    return str(found[0]["state"]["type"])


@pytest.fixture(scope="module")
def sigterm(home: Path, prefect_server: Service) -> Iterator[Crashed]:
    yield crash_while_fitting(home, prefect_server, signal.SIGTERM, "sigterm")


def test_sigterm_mid_fit_ends_the_mlflow_run_and_the_prefect_run(sigterm: Crashed, home: Path, prefect_server):
    assert sigterm.returncode != 0, sigterm.log.read_text()[-3000:]
    assert sigterm.exited_after < 30, f"the process took {sigterm.exited_after:.1f} s to stop after SIGTERM"
    (crashed,) = training_runs(home)
    assert crashed.info.status == "KILLED", crashed.info  # a signal, not an error in our code
    assert crashed.data.params["train.epochs"] == "1000000"  # logged when the run opened, before fitting
    ended_after = crashed.info.end_time / 1000 - sigterm.signalled_at
    assert ended_after < 10, f"the MLflow run ended {ended_after:.1f} s after SIGTERM"
    assert prefect_state(prefect_server, sigterm.flow_run_name) == "CRASHED"


def test_after_sigkill_a_rerun_succeeds_and_every_version_is_complete(sigterm: Crashed, home: Path, prefect_server):
    import mlflow

    from lstm_pipeline.logged_model import verify_logged_model

    killed = crash_while_fitting(home, prefect_server, signal.SIGKILL, "sigkill")
    assert killed.returncode == -signal.SIGKILL
    rerun = run(train_argv("--set", "train.epochs=2"), cli_env(home, prefect_server), timeout=180)
    assert "registered     faults-crash version 1" in rerun.output, rerun.describe()

    runs = training_runs(home)
    # SIGTERM'd run, SIGKILL'd run (nothing could end it: it stays RUNNING), the rerun.
    assert [r.info.status for r in runs] == ["KILLED", "RUNNING", "FINISHED"]
    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{home / 'home' / 'mlruns' / 'mlflow.db'}")
    versions = client.search_model_versions(f"name = '{NAME}'")
    assert [v.run_id for v in versions] == [runs[-1].info.run_id]  # no version from an interrupted run
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(client.tracking_uri)
    try:
        for version in versions:
            verify_logged_model(version.source, {})  # MLmodel readable, every pyfunc artifact present
    finally:
        mlflow.set_tracking_uri(previous)
