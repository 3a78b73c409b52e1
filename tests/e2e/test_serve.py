"""The registered champion, served over HTTP by `mlflow models serve` and scored by `mlflow models predict`.

A model is trained in this process with the train flow, against the MLflow and Prefect servers,
then both MLflow commands load `models:/<name>@champion` from the tracking server in the local
environment. Their answers must equal `mlflow.pyfunc.load_model(...).predict(...)`.
The model and experiment have names of their own: the deployments test, on the same server,
expects the default `lstm-forecaster` to hold only what its deployments made.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from helpers import HOST, Service, Stack, executable, http_json, run

from lstm_pipeline.config import PipelineConfig, load_config

pytestmark = pytest.mark.e2e

MODEL = "served-forecaster"
URI = f"models:/{MODEL}@champion"
HORIZON = 5  # more than the model's own horizon (1): the pyfunc forecasts recursively
TINY: dict[str, Any] = {
    "tracking.model_name": MODEL,
    "tracking.experiment": "e2e-serve",
    "train.epochs": 20,
    "train.ensemble": 1,
    "train.epochs_per_check": 5,
    "train.learning_rate": 0.01,
    "model.units": [8],
}
if "promotion" in PipelineConfig.model_fields:  # a model this small must get past the gate here
    TINY["promotion.max_vs_seasonal_naive"] = 1000
SERVE_START_TIMEOUT = 180  # imports TensorFlow and downloads the model from the server


@pytest.fixture(scope="module")
def tracking(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This process pointed at the MLflow server (and Prefect at its server), restored afterwards."""
    import mlflow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as patch, temporary_settings(updates={PREFECT_API_URL: stack.prefect_api_url}):
        patch.setenv("MLFLOW_TRACKING_URI", stack.mlflow_url)
        patch.setenv("LSTM_PIPELINE_HOME", str(tmp_path_factory.mktemp("serve-home")))
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        # Models loaded from the server are downloaded to temporary folders nobody deletes: keep them here.
        (stack.root / "tmp").mkdir(exist_ok=True)
        patch.setattr(tempfile, "tempdir", str(stack.root / "tmp"))
        mlflow.set_tracking_uri(stack.mlflow_url)
        try:
            yield stack.mlflow_url
        finally:
            mlflow.set_tracking_uri(before)


@pytest.fixture(scope="module")
def champion(tracking: str) -> str:
    """Train and register a small model through the train flow; the version `champion` points at."""
    from mlflow import MlflowClient

    from flows.train import train

    train(config=load_config(None, TINY))
    return str(MlflowClient(tracking_uri=tracking).get_model_version_by_alias(MODEL, "champion").version)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    from lstm_pipeline.sources import load_series

    return load_series(load_config().source)


def payload(history: pd.DataFrame) -> dict[str, Any]:
    """The scoring server's JSON: the frame in pandas' split orientation, and the predict params."""
    return {"dataframe_split": json.loads(history.to_json(orient="split", index=False)), "params": {"horizon": HORIZON}}


def predictions(answer: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(answer["predictions"])


def assert_same_forecasts(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert list(got.columns) == list(expected.columns)
    assert got["unique_id"].astype(str).tolist() == expected["unique_id"].astype(str).tolist()
    assert got["ds"].tolist() == expected["ds"].tolist()
    np.testing.assert_allclose(got["yhat"].to_numpy(float), expected["yhat"].to_numpy(float), rtol=0, atol=1e-6)


def test_served_and_cli_predictions_equal_the_loaded_model(
    stack: Stack, tracking: str, champion: str, history: pd.DataFrame, tmp_path
) -> None:
    import mlflow

    body = payload(history)
    (tmp_path / "input.json").write_text(json.dumps(body), encoding="utf-8")
    # `mlflow models serve --env-manager local` runs `bash -c "exec uvicorn ..."`: uvicorn is looked up
    # on PATH, so this environment's bin folder must come first (an activated venv), or it fails with
    # "uvicorn: not found" when mlflow is called by its full path.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = stack.env(MLFLOW_TRACKING_URI=tracking, PATH=path)
    server = Service(
        "mlflow-models-serve",
        lambda port: [
            executable("mlflow"),
            "models",
            "serve",
            "-m",
            URI,
            "--env-manager",
            "local",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        env=env,
        log=stack.root / "logs" / "mlflow-models-serve.log",
        cwd=tmp_path,
        health_path="/ping",
    )
    with stack.started(server):
        # While the model server starts, the one-shot CLI scores the same file.
        cli = run(
            [
                executable("mlflow"),
                "models",
                "predict",
                "-m",
                URI,
                "-i",
                str(tmp_path / "input.json"),
                "-t",
                "json",
                "-o",
                str(tmp_path / "output.json"),
                "--env-manager",
                "local",
            ],
            env,
            cwd=tmp_path,
            timeout=240,
        )
        server.wait_healthy(SERVE_START_TIMEOUT)
        served = http_json("POST", f"{server.url}/invocations", body, timeout=60)

    # Nothing moved the alias meanwhile: all three loaded the same version.
    assert str(mlflow.MlflowClient().get_model_version_by_alias(MODEL, "champion").version) == champion
    (tmp_path / "model").mkdir()
    loaded = mlflow.pyfunc.load_model(URI, dst_path=str(tmp_path / "model"))
    expected = pd.DataFrame(loaded.predict(history, params={"horizon": HORIZON}))
    assert len(expected) == HORIZON and set(expected["unique_id"]) == {"sine"}
    assert expected["ds"].tolist() == list(range(100, 100 + HORIZON))

    assert_same_forecasts(predictions(served), expected)
    assert_same_forecasts(predictions(json.loads((tmp_path / "output.json").read_text())), expected)
    assert cli.returncode == 0
