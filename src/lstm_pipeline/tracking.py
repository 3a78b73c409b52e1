"""MLflow tracking: where the store is, and one call that logs a whole training run and its model."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lstm_pipeline.config import PipelineConfig, project_root
from lstm_pipeline.errors import TrackingStoreError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lstm_pipeline.auto import Scored
    from lstm_pipeline.backtest import BacktestResult
    from lstm_pipeline.ensemble import Ensemble
    from lstm_pipeline.evaluation import Evaluation
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.training import TrainingResult

PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
BASELINE_FILE = Path(__file__).with_name("baseline_model.py")
# What the logged model needs at load time; versions come from the installed (locked) environment.
ENVIRONMENT_ARTIFACT = "environment/requirements.txt"
MODEL_REQUIREMENTS = ("mlflow", "tensorflow", "keras", "numpy", "pandas", "pydantic", "pyyaml", "statsmodels")
BASELINE_REQUIREMENTS = ("mlflow", "numpy", "pandas", "pydantic", "pyyaml", "statsforecast")  # no TensorFlow
BASELINE_KIND_TAG = "lstm_pipeline.kind"
VERSION_TAGS = ("tensorflow", "keras", "mlflow", "prefect", "great-expectations", "pandas", "numpy")


@dataclass(frozen=True)
class LoggedRun:
    """A finished MLflow run and the model logged in it."""

    run_id: str
    experiment_id: str
    model_uri: str


def tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the embedded SQLite store under the project root."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlruns' / 'mlflow.db'}"


def use_tracking_store() -> str:
    """Point MLflow at `tracking_uri()` and check it answers.

    A local SQLite store is created (schema migrations included) under an exclusive file lock
    beside the database, so processes starting together on a new store migrate it once. A server
    gets bounded HTTP retries (`resilience.HTTP_RETRY_DEFAULTS`) and must answer, else
    `TrackingUnavailableError`.
    """
    import mlflow

    from lstm_pipeline.resilience import exclusive_lock, unavailable_error, use_http_retry_defaults

    uri = tracking_uri()
    use_http_retry_defaults()
    mlflow.set_tracking_uri(uri)
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        with exclusive_lock(database.with_name(database.name + ".lock")):
            try:
                _open_stores()
            except Exception as exc:
                if any(sign in str(exc) for sign in _CORRUPT_SQLITE):
                    raise TrackingStoreError(
                        f"the MLflow store {database} is not a readable SQLite database ({_first_line(exc)}); "
                        "move it aside to start a new store there, or restore it from a backup"
                    ) from exc
                raise
    elif uri.startswith(("http://", "https://")):
        try:
            _open_stores()
        except Exception as exc:
            raise unavailable_error(exc, uri) from exc
    return uri


_CORRUPT_SQLITE = ("file is not a database", "database disk image is malformed")


def _first_line(exc: BaseException) -> str:
    """The driver's own words, without SQLAlchemy's SQL echo and background link."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _open_stores() -> None:
    """Open the tracking and registry stores now (creating a new database's schema) with two cheap reads."""
    import mlflow

    client = mlflow.MlflowClient()
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)


def ensure_experiment(name: str) -> str:
    """Return the experiment id, creating it if absent.

    On a local SQLite store its artifacts go to `<store folder>/artifacts/<experiment>/`, beside the
    database, so the store is one self-contained folder whatever the working directory.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    if found := client.get_experiment_by_name(name):
        return str(found.experiment_id)
    location = None
    if (uri := mlflow.get_tracking_uri()).startswith("sqlite:///"):  # artifacts live beside the database
        folder = name.replace("/", "_").replace(os.sep, "_")
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts" / folder).as_uri()
    try:
        return str(client.create_experiment(name, artifact_location=location))
    except MlflowException:  # another process created it first
        return str(client.get_experiment_by_name(name).experiment_id)  # type: ignore[union-attr]


@dataclass(frozen=True)
class TrainingRecord:
    """Everything one training run logs: the data, the fit ensemble, its held-out evaluation, plots, reports."""

    cfg: PipelineConfig
    frame: pd.DataFrame
    source: str
    ensemble: Ensemble
    evaluation: Evaluation
    figures: dict[str, Figure]
    repairs: Sequence[Repair] = ()
    attachments: dict[str, Path] | None = None  # artifact folder -> local folder (the validation report)
    intervals: dict[str, list[float]] | None = None  # conformal quantiles per level and step


def log_training_run(record: TrainingRecord, run_id: str) -> LoggedRun:
    """Log input data, losses, test metrics, plots and the pyfunc model on the run `begin_training_run` opened.

    The model's files are checked in the store before the run ends. The run ends FINISHED only if
    everything was logged; any error ends it FAILED.
    """
    import mlflow

    with mlflow.start_run(run_id=run_id) as run:
        log_training_data(record.frame, record.source)
        members = record.ensemble.members
        _log_losses(members[0].training)
        fitting = {
            "train_seconds": sum(m.training.seconds for m in members),
            "train_steps": sum(m.training.steps for m in members),
            "ensemble_members": len(members),
        }
        mlflow.log_metrics({**record.evaluation.metrics, **fitting})
        mlflow.log_text(record.evaluation.scores.to_csv(index=False), "evaluation/scores_per_series.csv")
        mlflow.log_text(record.evaluation.cv.to_csv(index=False), "evaluation/holdout_forecasts.csv")
        for name, figure in record.figures.items():
            mlflow.log_figure(figure, f"plots/{name}.png")
        _log_repairs(record.repairs)
        mlflow.log_text(environment_requirements(), ENVIRONMENT_ARTIFACT)
        for folder, local in (record.attachments or {}).items():
            mlflow.log_artifacts(str(local), folder)
        model_uri, sizes = _log_model(record)
        verify_logged_model(model_uri, sizes)
        mlflow.set_tag(NOTE_TAG, describe_training(record))
    return LoggedRun(run.info.run_id, run.info.experiment_id, model_uri)


def training_run_name(cfg: PipelineConfig) -> str:
    """`train-sales` (or `train-sales-auto`): what was trained on, and how, at a glance in the run list."""
    source = Path(cfg.source.path).stem if cfg.source.path else cfg.source.kind
    return f"train-{source}" + ("-auto" if cfg.auto.enabled else "")


def describe_training(record: TrainingRecord) -> str:
    """The run's description in the MLflow UI: the data, the ensemble and its score beside the baselines."""
    from lstm_pipeline.evaluation import versus_baselines

    frame, w = record.frame, record.cfg.window
    data = f"{record.source}: {frame['unique_id'].nunique()} series, {len(frame)} points up to {frame['ds'].max()}"
    members = len(record.ensemble.members)
    return (
        f"Trained on {data}. {members} networks, median forecast, {w.horizon} steps ahead.\n\n"
        f"Test MASE on the last {w.test_size} points: {versus_baselines(record.evaluation.metrics)}."
    )


def begin_training_run(cfg: PipelineConfig, tags: dict[str, str] | None = None) -> LoggedRun:
    """Open the training run (tags, `tags` too, and params) before fitting, so a crash mid-fit shows in MLflow.

    The run stays RUNNING: `log_training_run(run_id=...)` finishes it, `end_run_unless_finished`
    ends it FAILED or KILLED. `model_uri` is empty until the model is logged. The whole resolved
    config goes beside the params as `config.yaml`, which `load_config` reads back.
    """
    import mlflow
    import yaml
    from mlflow.entities import Param

    experiment_id = ensure_experiment(cfg.tracking.experiment)
    client = mlflow.MlflowClient()
    run = client.create_run(experiment_id, tags={**run_tags(cfg), **(tags or {})}, run_name=training_run_name(cfg))
    client.log_batch(run.info.run_id, params=[Param(key, str(value)) for key, value in run_params(cfg).items()])
    client.log_text(run.info.run_id, yaml.safe_dump(cfg.model_dump(), sort_keys=False), "config.yaml")
    return LoggedRun(run.info.run_id, experiment_id, "")


def run_params(cfg: PipelineConfig) -> dict[str, Any]:
    """The settings that apply to a training run: no sweep section, auto and backtest only when on."""
    unused = ["sweep."]
    if not cfg.auto.enabled:
        unused.append("auto.")
    if not cfg.backtest.windows:
        unused.append("backtest.")
    return {key: value for key, value in cfg.flat().items() if not key.startswith(tuple(unused))}


def end_run_unless_finished(run_id: str, error: BaseException) -> None:
    """End a run still RUNNING because of `error`: KILLED for a signal or interrupt, FAILED otherwise.

    Called while `error` propagates, so it never raises; when `error` says the tracking server is
    unreachable it does not try (that would only wait through the retries again).
    """
    import mlflow

    from lstm_pipeline.resilience import is_unreachable

    if is_unreachable(error):
        return
    from lstm_pipeline.errors import TrainingDivergedError

    status = "FAILED" if isinstance(error, Exception) else "KILLED"
    try:
        client = mlflow.MlflowClient()
        if isinstance(error, TrainingDivergedError):
            client.set_tag(run_id, "failure", "training diverged")
        if client.get_run(run_id).info.status == "RUNNING":
            client.set_terminated(run_id, status=status)
        if (active := mlflow.active_run()) is not None and active.info.run_id == run_id:
            mlflow.end_run(status=status)
    except Exception:  # best effort while another error propagates
        warnings.warn(f"could not mark MLflow run {run_id} as {status}", RuntimeWarning, stacklevel=2)


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


def log_failed_validation(
    cfg: PipelineConfig, *, context: str, report_dir: Path, message: str, experiment_id: str | None = None
) -> str:
    """Record a validation failure as a FAILED run with the report attached; return its run id.

    The run goes to `experiment_id` (the model's, for forecasts) or the configured experiment.
    """
    import mlflow

    experiment_id = experiment_id or ensure_experiment(cfg.tracking.experiment)
    tags = run_tags(cfg) | {"failure": "data validation", "stage": context}
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{context}-validation-failed", tags=tags) as run:
        mlflow.log_params(run_params(cfg))
        mlflow.log_text(message, "validation/error.txt")
        mlflow.log_artifacts(str(report_dir), "validation")
        mlflow.end_run(status="FAILED")
    return str(run.info.run_id)


def log_candidates(parent_run_id: str, scored: Sequence[Scored]) -> None:
    """One child run per candidate of automatic selection: its settings, backtest MASE and time."""
    import mlflow
    from mlflow.entities import Metric, Param

    client = mlflow.MlflowClient()
    experiment_id = client.get_run(parent_run_id).info.experiment_id
    timestamp = int(pd.Timestamp.now().timestamp() * 1000)
    for rank, s in enumerate(scored):
        tags = {"mlflow.parentRunId": parent_run_id, "stage": "auto-candidate", "auto.rank": str(rank + 1)}
        child = client.create_run(experiment_id, tags=tags, run_name=s.candidate.name)
        params = [Param(key, str(value)) for key, value in s.candidate.settings.items()]
        metrics = [Metric("backtest_mase", s.mase, timestamp, 0), Metric("seconds", s.seconds, timestamp, 0)]
        client.log_batch(child.info.run_id, metrics=metrics, params=params)
        client.set_terminated(child.info.run_id)


def log_backtest_run(cfg: PipelineConfig, result: BacktestResult, figure: Figure) -> tuple[str, str]:
    """A run of its own for a backtest (config as params, the backtest as in `log_backtest`)."""
    import mlflow

    experiment_id = ensure_experiment(cfg.tracking.experiment)
    tags = run_tags(cfg) | {"stage": "backtest"}
    with mlflow.start_run(experiment_id=experiment_id, run_name="backtest", tags=tags) as run:
        mlflow.log_params(run_params(cfg))
        log_backtest(run.info.run_id, result, figure)
    return str(run.info.run_id), experiment_id


def log_backtest(run_id: str, result: BacktestResult, figure: Figure) -> None:
    """Record a backtest on a run: its metrics, the per-series table, every point, intervals and plot.

    MASE per horizon step and per fold are step metrics, so the MLflow UI charts them.
    """
    import mlflow
    from mlflow.entities import Metric

    timestamp = int(pd.Timestamp.now().timestamp() * 1000)
    rows = [Metric(key, value, timestamp, 0) for key, value in result.metrics.items()]
    for key, table in (("backtest_mase_by_step", result.by_step()), ("backtest_mase_by_fold", result.by_fold())):
        rows += [Metric(key, float(v), timestamp, int(at)) for at, v in zip(table.index, table["model"], strict=True)]
    client = mlflow.MlflowClient()
    client.log_batch(run_id, metrics=rows)
    client.log_text(run_id, result.by_series().reset_index().to_csv(index=False), "backtest/mase_per_series.csv")
    client.log_text(run_id, result.errors.to_csv(index=False), "backtest/errors.csv")
    client.log_dict(run_id, {"quantiles": result.quantiles, "notes": result.notes}, "backtest/intervals.json")
    client.log_figure(run_id, figure, "plots/backtest_folds.png")
    if result.notes:
        client.set_tag(run_id, "backtest.notes", "; ".join(result.notes))


def run_link(run_id: str, experiment_id: str) -> str:
    """Where a person opens a run: the server's page, or the `mlflow ui` command for a local store."""
    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
    from lstm_pipeline.console import command

    return f"run `{run_id}` (browse with `{command('mlflow')} ui --backend-store-uri {uri}`)"


def experiment_of(run_id: str) -> str:
    """The experiment a run belongs to."""
    import mlflow

    return str(mlflow.MlflowClient().get_run(run_id).info.experiment_id)


NOTE_TAG = "mlflow.note.content"  # what the MLflow UI shows as a run's description


def run_tags(cfg: PipelineConfig) -> dict[str, str]:
    """Tags that let a run be reproduced: seed, git commit, Python, platform, lock hash, package versions.

    The full list of installed packages goes beside them as the `environment/requirements.txt` artifact.
    """
    tags = {"seed": str(cfg.train.seed), "python": platform.python_version(), "platform": platform.platform()}
    tags |= {f"version.{name}": _version(name) for name in VERSION_TAGS}
    if commit := _git_commit():
        tags["mlflow.source.git.commit"] = commit
    if (lock := _checkout_lock()) is not None:
        tags["uv.lock.sha256"] = hashlib.sha256((lock / "uv.lock").read_bytes()).hexdigest()
    return tags


def environment_requirements() -> str:
    """Every installed distribution as `name==version`, sorted: the environment a run ran in.

    Read from the installed packages' metadata (milliseconds), so it holds even without a lock
    file; `uv.lock.sha256` ties it to the checkout's lock when there is one.
    """
    pins: dict[str, str] = {}
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name:  # first on sys.path wins, as at import
            pins.setdefault(name.lower().replace("_", "-").replace(".", "-"), f"{name}=={version}")
    return "".join(f"{pins[key]}\n" for key in sorted(pins))


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """Name and version from the header of a METADATA file: parsing all of it (`dist.metadata`) is 6x slower."""
    header = (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").partition("\n\n")[0]
    fields = dict(line.split(": ", 1) for line in header.splitlines() if line.startswith(("Name: ", "Version: ")))
    return fields.get("Name"), fields.get("Version")


def pip_requirements(packages: Sequence[str] = MODEL_REQUIREMENTS) -> list[str]:
    """Exact pins for the model's environment (the LSTM's by default), taken from the installed packages."""
    return [f"{name}=={_version(name)}" for name in packages]


def _log_losses(training: TrainingResult) -> None:
    import mlflow
    from mlflow.entities import Metric

    timestamp = int(pd.Timestamp.now().timestamp() * 1000)
    rows = []
    for key, values in (("train_loss", training.loss), ("val_loss", training.val_loss)):
        rows += [
            Metric(key, value, timestamp, (check + 1) * training.epochs_per_check) for check, value in enumerate(values)
        ]
    mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=rows)  # type: ignore[union-attr]


def _log_repairs(repairs: Sequence[Repair]) -> None:
    import mlflow

    if repairs:
        mlflow.log_dict({"repairs": [asdict(r) for r in repairs]}, "data/repairs.json")
        mlflow.set_tag("data.repairs", ", ".join(f"{r.name}: {r.rows} rows" for r in repairs))
        mlflow.log_metrics({f"repair_{r.name}_rows": r.rows for r in repairs})


def _log_model(record: TrainingRecord) -> tuple[str, dict[str, int]]:
    """Log the ensemble as one models-from-code pyfunc; return its URI and each network's size in bytes."""
    import mlflow
    from mlflow.models import infer_signature

    from lstm_pipeline.contract import frequencies

    cfg, frame, ensemble = record.cfg, record.frame, record.ensemble
    intervals = record.intervals or {}
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
    with tempfile.TemporaryDirectory() as workdir, _without_mlflow_hints():
        state_path = Path(workdir) / "preprocessing.json"
        state_path.write_text(json.dumps(state), encoding="utf-8")
        networks = ensemble.save(Path(workdir))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(PYFUNC_FILE),
            artifacts={**networks, "preprocessing": str(state_path)},
            code_paths=[str(PYFUNC_FILE.parent)],
            signature=infer_signature(history, sample_out, params={"horizon": cfg.window.horizon}),
            pip_requirements=pip_requirements(),
            metadata=contract,
            uv_project_path=_checkout_lock(),  # not whatever uv project the working directory is in
        )
        sizes = {name: Path(path).stat().st_size for name, path in networks.items()}
    return str(info.model_uri), sizes


def log_baseline_run(cfg: PipelineConfig, frame: pd.DataFrame, method: str, metrics: dict[str, float]) -> LoggedRun:
    """Log the classic `method` as a run of its own (`fallback-<method>`) with its pyfunc; check the files.

    Its test metrics (`metrics` of the LSTM run, where they are `test_<method>_<metric>`) are logged
    as `test_<metric>`, beside the other baselines' as they were, so the MLflow UI compares it with
    LSTM runs.
    """
    import mlflow

    tags = run_tags(cfg) | {BASELINE_KIND_TAG: "baseline", "baseline.method": method}
    experiment_id = ensure_experiment(cfg.tracking.experiment)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"fallback-{method}", tags=tags) as run:
        mlflow.log_params(run_params(cfg))
        mlflow.log_metrics(baseline_metrics(metrics, method))
        mlflow.log_text(environment_requirements(), ENVIRONMENT_ARTIFACT)
        model_uri = _log_baseline_model(cfg, frame, method)
        verify_logged_model(model_uri, {})
    return LoggedRun(run.info.run_id, run.info.experiment_id, model_uri)


def baseline_metrics(metrics: dict[str, float], method: str) -> dict[str, float]:
    """`method`'s test metrics also under the LSTM's names (`test_mase`); every baseline's as logged."""
    own = f"test_{method}_"
    renamed = {f"test_{key.removeprefix(own)}": value for key, value in metrics.items() if key.startswith(own)}
    baselines = {k: v for k, v in metrics.items() if k.startswith("test_") and k.count("_") > 1}
    return baselines | renamed


def _log_baseline_model(cfg: PipelineConfig, frame: pd.DataFrame, method: str) -> str:
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
    with tempfile.TemporaryDirectory() as workdir, _without_mlflow_hints():
        state_path = Path(workdir) / "baseline.json"
        state_path.write_text(json.dumps({**state, "interval_levels": levels}), encoding="utf-8")
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(BASELINE_FILE),
            artifacts={"baseline": str(state_path)},
            code_paths=[str(BASELINE_FILE.parent)],
            signature=infer_signature(history, sample_out, params={"horizon": cfg.window.horizon}),
            pip_requirements=pip_requirements(BASELINE_REQUIREMENTS),
            metadata=contract,
            uv_project_path=_checkout_lock(),
        )
    return str(info.model_uri)


def _checkout_lock() -> Path | None:
    """The checkout holding this package's uv.lock, which MLflow copies into the model; else None."""
    checkout = Path(__file__).resolve().parents[2]
    return checkout if (checkout / "uv.lock").is_file() else None


@contextmanager
def _without_mlflow_hints() -> Iterator[None]:
    """Silence MLflow's advice about integer columns, input examples and source guessing.

    Integer `ds` is part of our contract and the signature says so; the advice is noise in a run log.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"mlflow\.")
        yield


def log_training_data(frame: pd.DataFrame, source: str, attempts: int = 4) -> None:
    """Log the training frame as the active run's input, safe when runs of one experiment log it at once.

    MLflow's store looks the dataset up, then inserts it: two runs logging the same data together
    (parallel sweep trials, two scheduled trainings) can both miss it, and the slower insert fails
    on the unique key. By then the dataset exists, so logging again only links it to this run.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    for attempt in range(1, attempts + 1):
        try:
            with _without_mlflow_hints():
                mlflow.log_input(_dataset(frame, source), context="training")
            return
        except MlflowException as error:
            if attempt == attempts or not _lost_dataset_race(error):
                raise
            time.sleep(0.1 * attempt)


def _lost_dataset_race(error: Exception) -> bool:
    message = str(error).lower()
    return "datasets" in message and "unique" in message


def _dataset(frame: pd.DataFrame, source: str) -> Any:
    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.pandas_dataset import from_pandas

    if Path(source).is_file():
        return from_pandas(frame, source=str(Path(source).resolve()), name=Path(source).name)
    return from_pandas(frame, source=CodeDatasetSource({"generator": source}), name=source)


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not-installed"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
