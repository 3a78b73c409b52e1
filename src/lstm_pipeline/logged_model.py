"""Logging a model as a models-from-code pyfunc, and checking its files in the store before registration."""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.provenance import BASELINE_REQUIREMENTS, checkout_lock, pip_requirements

if TYPE_CHECKING:
    from lstm_pipeline.ensemble import Ensemble

PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
BASELINE_FILE = Path(__file__).with_name("baseline_model.py")
# What a logged model bundles as its code: the modules it imports at load and predict, nothing of
# the config, CLI, flows, tracking or sweep (tests/unit/test_architecture.py checks the closure).
_SHARED = ("__init__", "errors", "contract", "seasonality", "recipe", "intervals", "panel", "forecasting")
SERVING_MODULES = (*_SHARED, "model", "pyfunc_model")
BASELINE_MODULES = (*_SHARED, "crossval", "baseline_model")


def serving_code(workdir: Path, modules: tuple[str, ...]) -> str:
    """A copy of the package with only `modules` in it, for `code_paths`; returns its folder."""
    package = workdir / "code" / PYFUNC_FILE.parent.name
    package.mkdir(parents=True)
    for name in modules:
        shutil.copy2(PYFUNC_FILE.with_name(f"{name}.py"), package / f"{name}.py")
    return str(package)


def log_model(
    cfg: PipelineConfig, frame: pd.DataFrame, ensemble: Ensemble, intervals: dict[str, list[float]] | None = None
) -> tuple[str, dict[str, int]]:
    """Log the ensemble as one models-from-code pyfunc; return its URI and each network's size in bytes."""
    import mlflow
    from mlflow.models import infer_signature

    from lstm_pipeline.contract import frequencies

    intervals = intervals or {}
    contract = {
        "lookback": ensemble.lookback,
        "horizon": cfg.window.horizon,
        "frequencies": frequencies(frame, cfg.validation.freq),
        "interval_levels": sorted(intervals, key=float),
        "members": len(ensemble.members),
    }
    state = {
        "lookback": ensemble.lookback,
        "horizon": cfg.window.horizon,
        "season_length": cfg.evaluate.season_length,
        "members": [
            {"lookback": m.recipe.window.lookback, "horizon": m.recipe.window.horizon, "scaler": m.scaler.to_dict()}
            for m in ensemble.members
        ],
        "intervals": intervals,
    }
    history = frame.groupby("unique_id").tail(ensemble.lookback).reset_index(drop=True)
    sample_out = pd.DataFrame({"unique_id": history["unique_id"], "ds": history["ds"], "yhat": history["y"]})
    with tempfile.TemporaryDirectory() as workdir, without_mlflow_hints():
        state_path = Path(workdir) / "preprocessing.json"
        state_path.write_text(json.dumps(state), encoding="utf-8")
        networks = ensemble.save(Path(workdir))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={**networks, "preprocessing": str(state_path)},
            code_paths=[serving_code(Path(workdir), SERVING_MODULES)],
            signature=infer_signature(history, sample_out, params={"horizon": cfg.window.horizon}),
            pip_requirements=pip_requirements(),
            metadata=contract,
            uv_project_path=checkout_lock(),  # not whatever uv project the working directory is in
        )
        sizes = {name: Path(path).stat().st_size for name, path in networks.items()}
    return str(info.model_uri), sizes


def log_baseline_model(cfg: PipelineConfig, frame: pd.DataFrame, method: str) -> str:
    """Log `baseline_model.py` as a models-from-code pyfunc with its JSON state; return its URI."""
    import mlflow
    from mlflow.models import infer_signature

    from lstm_pipeline.contract import frequencies

    season = cfg.evaluate.season_length
    # Intervals when an LSTM of this config would carry them (a backtest ran: --auto or backtest.windows).
    levels = cfg.backtest.interval_levels if cfg.backtest.windows or cfg.auto.enabled else []
    min_history = max(season + 1, 2)
    contract = {
        "kind": "baseline",
        "method": method,
        "lookback": min_history,  # the fewest points a series needs, as batch forecasts read it
        "horizon": cfg.window.horizon,
        "frequencies": frequencies(frame, cfg.validation.freq),
        "interval_levels": [f"{level:g}" for level in levels],
    }
    state = {"method": method, "season_length": season, "horizon": cfg.window.horizon, "min_history": min_history}
    history = frame.groupby("unique_id").tail(min_history).reset_index(drop=True)
    sample_out = pd.DataFrame({"unique_id": history["unique_id"], "ds": history["ds"], "yhat": history["y"]})
    with tempfile.TemporaryDirectory() as workdir, without_mlflow_hints():
        state_path = Path(workdir) / "baseline.json"
        state_path.write_text(json.dumps({**state, "interval_levels": levels}), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(BASELINE_FILE),
            artifacts={"baseline": str(state_path)},
            code_paths=[serving_code(Path(workdir), BASELINE_MODULES)],
            signature=infer_signature(history, sample_out, params={"horizon": cfg.window.horizon}),
            pip_requirements=pip_requirements(BASELINE_REQUIREMENTS),
            metadata=contract,
            uv_project_path=checkout_lock(),
        )
    return str(info.model_uri)


def verify_logged_model(model_uri: str, sizes: dict[str, int]) -> None:
    """Check a logged model in the store before it may be registered; raise `IncompleteModelError`.

    Reads the MLmodel file (it must parse and declare the pyfunc flavor) and lists the model's
    files: every pyfunc artifact must be there, and those named in `sizes` must have that many
    bytes. The network itself is not loaded (that would cost seconds).
    """
    import mlflow
    from mlflow.artifacts import download_artifacts, list_artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    from lstm_pipeline.errors import IncompleteModelError
    from lstm_pipeline.resilience import is_unreachable

    try:
        location = mlflow.MlflowClient().get_logged_model(model_uri.removeprefix("models:/")).artifact_location
        with tempfile.TemporaryDirectory(prefix="lstm-pipeline-verify-") as folder:
            flavor = Model.load(download_artifacts(artifact_uri=f"{location}/MLmodel", dst_path=folder)).flavors
        artifacts = flavor["python_function"].get("artifacts", {})
        expected = {name: str(entry["path"]) for name, entry in artifacts.items()}
        found = {
            info.path: info.file_size
            for folder in {str(Path(path).parent) for path in expected.values()}
            for info in list_artifacts(artifact_uri=f"{location}/{folder}")
        }
    except (OSError, KeyError, ValueError, MlflowException) as exc:
        if is_unreachable(exc):
            raise
        raise IncompleteModelError(f"the model logged at {model_uri} cannot be read back: {exc}") from exc
    for name, path in expected.items():
        size = found.get(path, found.get(Path(path).name))
        if size is None or (name in sizes and size != sizes[name]):
            found_text = "is missing" if size is None else f"has {size} bytes, not {sizes[name]}"
            raise IncompleteModelError(
                f"the model logged at {model_uri} is incomplete ({path} {found_text}); it was not registered"
            )


@contextmanager
def without_mlflow_hints() -> Iterator[None]:
    """Silence MLflow's advice about integer columns, input examples and source guessing.

    Integer `ds` is part of our contract and the signature says so; the advice is noise in a run log.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")
        yield
