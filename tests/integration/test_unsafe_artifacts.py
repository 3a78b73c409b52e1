"""Artifacts that would run code when loaded are refused with ModelLoadError, and their code never runs.

Each payload writes a sentinel file when it is deserialised. Every test first proves the loader
refuses it and the sentinel is absent, then loads it the unsafe way to prove the payload is live
(so a refusal that passes by accident, e.g. a payload that does nothing, fails the test).
"""

from __future__ import annotations

import contextlib
import json
import pathlib
from pathlib import Path

import mlflow
import pytest
from mlflow.pyfunc.model import PythonModel

from lstm_pipeline.config import load_config
from lstm_pipeline.contract import frequencies
from lstm_pipeline.errors import ModelLoadError
from lstm_pipeline.logged_model import PYFUNC_FILE
from lstm_pipeline.model import build_model, load_network
from lstm_pipeline.registry import RegisteredModel, load, register, resolve
from lstm_pipeline.sources import load_series
from lstm_pipeline.store import ensure_experiment
from tests.integration.conftest import TINY

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("pipeline_home"),
]


def lambda_network(path: Path, sentinel: Path) -> Path:
    """A `.keras` file whose Lambda layer creates `sentinel` whenever the network is rebuilt."""
    # Not at the top: imported at collection, absl's handler keeps pytest's stderr capture, and the
    # unit tests' CLI runs (Prefect's logging setup closes old handlers) close it for the session.
    import keras

    # Built from source so the path is a constant of the lambda's byte code, which Keras stores.
    touch = eval(f"lambda t: (__import__('pathlib').Path({str(sentinel)!r}).touch(), t)[1]")
    inputs = keras.Input(shape=(5, 1))
    hidden = keras.layers.LSTM(4)(keras.layers.Lambda(touch)(inputs))
    keras.Model(inputs, keras.layers.Dense(1)(hidden)).save(path)
    sentinel.unlink()  # building the model ran the lambda once
    return path


def h5_network(path: Path) -> Path:
    build_model(load_config(None, TINY).model, lookback=5, horizon=1).save(path)
    return path


class PicklePayload(PythonModel):
    """A python_model whose unpickling creates a file (any callable would do: os.system included)."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return pathlib.Path.touch, (pathlib.Path(self.sentinel),)

    def predict(self, context: object, model_input: list[str], params: dict[str, str] | None = None) -> list[str]:
        return model_input  # never reached


def contract_metadata() -> dict[str, object]:
    """What our own models record about their training data, so the forecast flow reaches the load."""
    frame = load_series(load_config().source)
    return {"lookback": 5, "horizon": 1, "frequencies": frequencies(frame, None)}


def register_code_model(name: str, keras_file: Path, tmp_path: Path) -> RegisteredModel:
    """Log our own models-from-code pyfunc around `keras_file` and register it."""
    state = tmp_path / "preprocessing.json"
    state.write_text(json.dumps({"lookback": 5, "horizon": 1, "scaler": {}}), encoding="utf-8")
    with mlflow.start_run(experiment_id=ensure_experiment("unsafe-artifacts")):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={"keras_model": str(keras_file), "preprocessing": str(state)},
            pip_requirements=["mlflow"],
        )
    return register(info.model_uri, name=name, tags={})


def register_pickled_model(name: str, sentinel: Path) -> RegisteredModel:
    """Log a cloudpickled python_model (MLflow's pickling path) and register it."""
    with mlflow.start_run(experiment_id=ensure_experiment("unsafe-artifacts")):
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=PicklePayload(sentinel),
            pip_requirements=["mlflow"],
            metadata=contract_metadata(),
        )
    assert not sentinel.exists(), "logging must not have run the payload"
    return register(info.model_uri, name=name, tags={})


def test_an_h5_file_is_refused(tmp_path):
    path = h5_network(tmp_path / "net.h5")
    with pytest.raises(ModelLoadError, match=r"only the \.keras format"):
        load_network(path)
    model = register_code_model("unsafe-h5", path, tmp_path)
    with pytest.raises(ModelLoadError, match=r"only the \.keras format"):
        load(model)


def test_a_missing_network_is_reported_as_missing_not_unsafe(tmp_path):
    from lstm_pipeline.model import UnsafeModelError

    with pytest.raises(ModelLoadError, match=r"network net\.keras is missing from its artifacts") as raised:
        load_network(tmp_path / "net.keras")
    assert not isinstance(raised.value, UnsafeModelError)


def test_a_keras_archive_with_a_lambda_layer_is_refused(tmp_path):
    sentinel = tmp_path / "lambda-ran"
    path = lambda_network(tmp_path / "net.keras", sentinel)
    with pytest.raises(ModelLoadError, match=r"names .*Lambda.*only built-in Keras layers"):
        load_network(path)
    model = register_code_model("unsafe-lambda", path, tmp_path)
    with pytest.raises(ModelLoadError, match="Lambda"):
        load(model)
    assert not sentinel.exists()
    import keras

    keras.saving.load_model(path, safe_mode=False)  # the payload is live: loaded unsafely, it runs
    assert sentinel.exists()


def test_a_pickled_python_model_is_refused_before_it_is_unpickled(tmp_path, monkeypatch):
    sentinel = tmp_path / "pickle-ran"
    model = register_pickled_model("unsafe-pickle", sentinel)
    # Even with MLflow's own pickle switch on, our loader refuses: it reads the MLmodel first.
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with pytest.raises(ModelLoadError, match=r"only models logged from code .*pickled python_model"):
        load(resolve("unsafe-pickle", model.version))
    assert not sentinel.exists()
    with contextlib.suppress(Exception):  # the payload replaces the model, so MLflow fails after it ran
        mlflow.pyfunc.load_model(model.uri)
    assert sentinel.exists()


@pytest.mark.flows
def test_the_batch_forecast_flow_refuses_a_pickled_model(tmp_path, pipeline_home, monkeypatch):
    from flows.batch_forecast import batch_forecast

    sentinel = tmp_path / "pickle-ran"
    register_pickled_model("unsafe-pickle-flow", sentinel)
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    with pytest.raises(ModelLoadError, match="pickled python_model"):
        batch_forecast(model_name="unsafe-pickle-flow", alias="1", output_dir=str(pipeline_home / "out"))
    assert not sentinel.exists()
    assert not (pipeline_home / "out").exists()
