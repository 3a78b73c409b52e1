"""The MLflow model registry: register a logged model, point an alias at it, load it back."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstm_pipeline.errors import ModelLoadError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.pyfunc import PyFuncModel


_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class RegisteredModel:
    """Which registered version a forecast came from."""

    name: str
    version: str
    run_id: str
    uri: str
    alias: str | None = None


# Every version is born undecided; the gate's evidence replaces the tag. One still pending after its
# run ended was left by a process stopped in between (SIGKILL): no alias points at it, nothing serves it.
PENDING_TAGS = {"gate.decision": "pending"}


def register(model_uri: str, *, name: str, tags: dict[str, str]) -> RegisteredModel:
    """Register `model_uri` as a new version of `name`, tagged pending (no alias yet: the gate decides).

    On SQLite, writers registering one name at once collide on the next version number; MLflow
    retries 3 times, then raises. We retry that (and a busy database) with backoff: a failed attempt wrote
    nothing, so versions stay unique and contiguous.
    """
    import mlflow

    from lstm_pipeline.resilience import retry_on

    version = retry_on(
        lambda: mlflow.register_model(model_uri, name, tags={**PENDING_TAGS, **tags}, await_registration_for=60),
        matches=_registry_collision,
    )
    return RegisteredModel(name, str(version.version), str(version.run_id), f"models:/{name}/{version.version}")


def holder(name: str, alias: str) -> RegisteredModel | None:
    """The version an alias points at, or None."""
    try:
        return resolve(name, alias)
    except ModelLoadError:
        return None


def describe_version(model: RegisteredModel, description: str) -> None:
    """The model version's description in the MLflow UI (the gate's verdict)."""
    import mlflow

    mlflow.MlflowClient().update_model_version(model.name, model.version, description=description)


def tag_version(model: RegisteredModel, tags: dict[str, str]) -> None:
    """Write tags on a model version (the gate's evidence)."""
    import mlflow

    client = mlflow.MlflowClient()
    for key, value in tags.items():
        client.set_model_version_tag(model.name, model.version, key, value)


def set_alias(model: RegisteredModel, alias: str, *, attempts: int = 5) -> None:
    """Point `alias` at this version.

    On SQLite, two writers setting one alias at once can collide on its unique key inside MLflow;
    the loser retries (the alias then exists, and the write becomes an update).
    """
    import time

    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(1, attempts + 1):
        try:
            mlflow.MlflowClient().set_registered_model_alias(model.name, alias, model.version)
            return
        except MlflowException as exc:
            if attempt == attempts or "UNIQUE constraint failed" not in str(exc):
                raise
            time.sleep(0.05 * attempt)


def claim_alias(model: RegisteredModel, alias: str, *, score: float, data_key: str, rounds: int = 6) -> bool:
    """Compare-and-set `alias` to `model` unless a better contender on the same data holds or claims it.

    There is no lock in the registry, so: every contender tags its version with its score
    (`gate.mase`, `gate.data`) before writing the alias, then writes, re-reads and repairs. Nobody
    ever overwrites a better contender it can see, and a holder that finds a better rival hands the
    alias over, so concurrent promotions settle on the best one. True if `model` held the alias
    when it last looked; the best contender always ends up holding it.
    """
    tag_version(model, {"gate.mase": repr(score), "gate.data": data_key, "gate.contender": alias})
    for _ in range(rounds):
        current = holder(model.name, alias)
        rivals = _better_rivals(model, alias, score, data_key)
        if rivals:
            if current is None or current.version not in {r.version for r in rivals}:
                set_alias(rivals[0], alias)
            return False
        if current is not None and current.version == model.version:
            return True
        set_alias(model, alias)
    final = holder(model.name, alias)
    return final is not None and final.version == model.version


def _better_rivals(model: RegisteredModel, alias: str, score: float, data_key: str) -> list[RegisteredModel]:
    """Contenders for `alias` on the same data that rank above `model`, best first.

    Rank is (score, version number): ties go to the older version, so two equal models never
    take the alias from each other in turn.
    """
    import mlflow

    mine = (score, int(model.version))
    ranked = []
    for v in mlflow.MlflowClient().search_model_versions(f"name = '{model.name}'"):
        if v.tags.get("gate.contender") != alias or v.tags.get("gate.data") != data_key:
            continue
        rank = (float(v.tags["gate.mase"]), int(v.version))
        if rank < mine:
            ranked.append(
                (rank, RegisteredModel(model.name, str(v.version), str(v.run_id), _uri(model.name, v.version)))
            )
    return [rival for _, rival in sorted(ranked, key=lambda pair: pair[0])]


def _uri(name: str, version: object) -> str:
    return f"models:/{name}/{version}"


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
            f"at {mlflow.get_registry_uri()}; {_what_exists(client, name)}"
        ) from exc
    alias = None if ref.isdigit() else ref
    return RegisteredModel(name, str(found.version), str(found.run_id), f"models:/{name}/{found.version}", alias)


def _what_exists(client: MlflowClient, name: str) -> str:
    """A way forward: the aliases and versions the model has, or how to train one."""
    from mlflow.exceptions import MlflowException

    from lstm_pipeline.console import command

    try:
        found = client.get_registered_model(name)
        latest = max((int(v.version) for v in client.search_model_versions(f"name = '{name}'")), default=0)
    except MlflowException:
        return f"train one first ({command('lstm-pipeline')} train)"
    if not latest:
        return f"it has no versions; train one first ({command('lstm-pipeline')} train)"
    if not found.aliases:
        return f"it has no alias; its latest version is {latest}: forecast with --alias {latest}"
    held = sorted(found.aliases.items())
    listed = ", ".join(f"version {v} is @{a}" for a, v in held)
    return f"{listed}: forecast with --alias {held[0][0]} (or a version number, e.g. --alias {latest})"


def load(model: RegisteredModel) -> PyFuncModel:
    """Load a registered version as a pyfunc forecaster; ModelLoadError if it is not one of ours.

    The download goes to a folder removed right after loading (the pyfunc holds the network and
    its state in memory): a long-running worker must not fill the temporary folder. Its MLmodel
    is checked (`check_model_flavor`) before MLflow reads anything else. Loads are serialised:
    MLflow swaps a stand-in `dbutils` in and out of `sys.modules` while it runs a models-from-code
    file, and two threads doing that at once leave the stand-in behind.
    """
    import tempfile

    import mlflow

    with _LOAD_LOCK, tempfile.TemporaryDirectory(prefix="lstm-pipeline-model-") as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model.uri, dst_path=folder)
        check_model_flavor(local, model.uri)
        return mlflow.pyfunc.load_model(local)


CODE_MODEL_LOADER = "mlflow.pyfunc.loaders.code_model"


def check_model_flavor(local_model: str, uri: str) -> None:
    """Refuse a downloaded model unless it is a models-from-code pyfunc, before MLflow loads it.

    Our models are code plus data files (`.keras`, JSON). Any other pyfunc (a cloudpickled
    `python_model`, a flavor whose loader unpickles) would run whatever the pickle names as soon
    as it is loaded, even with MLflow's own pickle switch turned on by someone.
    """
    from pathlib import Path

    from mlflow.models import Model

    try:
        flavor = Model.load(str(Path(local_model) / "MLmodel")).flavors.get("python_function") or {}
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"refusing to load {uri}: its MLmodel file cannot be read ({exc})") from exc
    problems = []
    if flavor.get("loader_module") != CODE_MODEL_LOADER:
        problems.append(f"its pyfunc loader is {flavor.get('loader_module')!r}, not {CODE_MODEL_LOADER!r}")
    if not flavor.get("model_code_path"):
        problems.append("it names no model code file")
    if "python_model" in flavor:
        problems.append(f"it carries a pickled python_model ({flavor['python_model']})")
    if problems:
        raise ModelLoadError(
            f"refusing to load {uri}: only models logged from code (no pickle) are accepted, but " + "; ".join(problems)
        )


def model_contract(model_uri: str) -> dict[str, Any]:
    """What the model was trained on (lookback, horizon, series, frequencies), read from its MLmodel.

    Reads one small file (the network is not loaded) into a folder removed right after.
    """
    import tempfile

    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    with tempfile.TemporaryDirectory(prefix="lstm-pipeline-mlmodel-") as folder:
        local = download_artifacts(artifact_uri=f"{model_uri}/MLmodel", dst_path=folder)
        return dict(Model.load(local).metadata or {})


def _registry_collision(exc: Exception) -> bool:
    """True for errors of concurrent registry writers on SQLite, which a retry resolves."""
    text = str(exc)
    return any(s in text for s in ("Model Version creation error", "UNIQUE constraint failed", "database is locked"))
