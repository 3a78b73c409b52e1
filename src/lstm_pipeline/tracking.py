"""The run lifecycle: training, backtest, baseline and failed-validation runs opened, logged and ended."""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.logged_model import log_baseline_model, log_model, verify_logged_model, without_mlflow_hints
from lstm_pipeline.provenance import ENVIRONMENT_ARTIFACT, environment_requirements, run_tags
from lstm_pipeline.store import ensure_experiment, tracking_uri

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from lstm_pipeline.auto import Scored
    from lstm_pipeline.backtest import BacktestResult
    from lstm_pipeline.ensemble import Ensemble
    from lstm_pipeline.evaluation import Evaluation
    from lstm_pipeline.monitoring import Check, Promise
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.training import TrainingResult

BASELINE_KIND_TAG = "lstm_pipeline.kind"
NOTE_TAG = "mlflow.note.content"  # what the MLflow UI shows as a run's description


@dataclass(frozen=True)
class LoggedRun:
    """A finished MLflow run and the model logged in it."""

    run_id: str
    experiment_id: str
    model_uri: str


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
        model_uri, sizes = log_model(record.cfg, record.frame, record.ensemble, record.intervals)
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
        model_uri = log_baseline_model(cfg, frame, method)
        verify_logged_model(model_uri, {})
    return LoggedRun(run.info.run_id, run.info.experiment_id, model_uri)


def baseline_metrics(metrics: dict[str, float], method: str) -> dict[str, float]:
    """`method`'s test metrics also under the LSTM's names (`test_mase`); every baseline's as logged."""
    own = f"test_{method}_"
    renamed = {f"test_{key.removeprefix(own)}": value for key, value in metrics.items() if key.startswith(own)}
    baselines = {k: v for k, v in metrics.items() if k.startswith("test_") and k.count("_") > 1}
    return baselines | renamed


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
            with without_mlflow_hints():
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


def promised(run_id: str, levels: Sequence[str]) -> Promise:
    """What a version's training run promised: its backtest MASE (else its test MASE; NaN if neither) and levels."""
    import mlflow

    from lstm_pipeline.monitoring import Promise

    data = mlflow.MlflowClient().get_run(run_id).data
    season = int(data.params.get("evaluate.season_length", 1))
    for source in ("backtest_mase", "test_mase"):
        if source in data.metrics:
            return Promise(float(data.metrics[source]), source, season, tuple(levels))
    return Promise(float("nan"), "", season, tuple(levels))


def log_monitoring_run(check: Check, experiment_id: str, training_run_id: str, drifted: pd.DataFrame) -> str:
    """One run per check of a version: realised metrics stepped by as-of date, the tables, the verdict.

    Each as-of date's figures are a step (YYYYMMDD) with the date as the timestamp, so the MLflow
    UI charts a version's realised MASE and coverage over time.
    """
    import mlflow
    from mlflow.entities import Metric

    client = mlflow.MlflowClient()
    tags = {
        BASELINE_KIND_TAG: "monitoring",
        "monitor.model_name": check.model_name,
        "monitor.model_version": check.version,
        "monitor.training_run_id": training_run_id,
        "monitor.degraded": str(check.degraded).lower(),
        NOTE_TAG: "; ".join(check.reasons) or "within the tolerances",
    }
    run = client.create_run(experiment_id, tags=tags, run_name=f"monitor {check.model_name} v{check.version}")
    now = int(pd.Timestamp.now().timestamp() * 1000)
    rows = [Metric(key, value, now, 0) for key, value in check.metrics.items() if np.isfinite(value)]
    rows += [Metric("realised_points", float(check.points), now, 0)]
    for record in check.by_as_of.to_dict("records"):
        day = pd.Timestamp(record["as_of"])
        step, at = int(day.strftime("%Y%m%d")), int(day.tz_localize("UTC").timestamp() * 1000)
        rows += [
            Metric(f"{key}_by_as_of", float(value), at, step)
            for key, value in record.items()
            if str(key).startswith("realised_") and np.isfinite(value)
        ]
    rows += [
        Metric("realised_mase_by_step", float(v), now, int(s))
        for s, v in check.by_step[["step", "realised_mase"]].itertuples(index=False)
    ]
    client.log_batch(run.info.run_id, metrics=rows)
    if check.promise.source:
        client.log_metric(run.info.run_id, f"promised_{check.promise.source}", check.promise.mase, now)
    client.log_text(run.info.run_id, check.by_series.to_csv(index=False), "monitor/realised_by_series.csv")
    client.log_text(run.info.run_id, check.by_as_of.to_csv(index=False), "monitor/realised_by_as_of.csv")
    client.log_text(run.info.run_id, drifted.to_csv(index=False), "monitor/drift.csv")
    client.set_terminated(run.info.run_id)
    return str(run.info.run_id)
