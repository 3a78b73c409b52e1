"""The MLflow model registry: register a logged model, point an alias at it, load it back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lstm_pipeline.errors import ModelLoadError

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel


@dataclass(frozen=True)
class RegisteredModel:
    """Which registered version a forecast came from."""

    name: str
    version: str
    run_id: str
    uri: str
    alias: str | None = None


def register(model_uri: str, *, name: str, alias: str, tags: dict[str, str]) -> RegisteredModel:
    """Register `model_uri` as a new version of `name` and move `alias` to it."""
    import mlflow

    version = mlflow.register_model(model_uri, name, tags=tags, await_registration_for=60)
    mlflow.MlflowClient().set_registered_model_alias(name, alias, version.version)
    return RegisteredModel(name, str(version.version), str(version.run_id), f"models:/{name}/{version.version}", alias)


def resolve(name: str, ref: str) -> RegisteredModel:
    """Find a version by alias (`champion`) or number (`3`); raise ModelLoadError if there is none."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    try:
        found = client.get_model_version(name, ref) if ref.isdigit() else client.get_model_version_by_alias(name, ref)
    except MlflowException as exc:
        raise ModelLoadError(
            f"no model '{name}' with {'version' if ref.isdigit() else 'alias'} {ref!r} in the registry "
            f"at {mlflow.get_registry_uri()}; train one first (lstm-pipeline train)"
        ) from exc
    alias = None if ref.isdigit() else ref
    return RegisteredModel(name, str(found.version), str(found.run_id), f"models:/{name}/{found.version}", alias)


def load(model: RegisteredModel) -> PyFuncModel:
    """Load a registered version as a pyfunc forecaster."""
    import mlflow

    return mlflow.pyfunc.load_model(model.uri)
