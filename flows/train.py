"""The `train` flow: series -> data gate -> windows -> fit -> evaluate -> MLflow run -> registry.

Each task is a thin call into `lstm_pipeline`; the order of the pipeline lives here only.
Heavy libraries load inside the tasks, so importing this module (as `prefect deploy` does) is fast.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.backtest import backtest_task
from flows.data_gate import data_gate
from lstm_pipeline.config import PipelineConfig, file_source, load_config
from lstm_pipeline.resilience import tracking_errors

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.backtest import BacktestResult
    from lstm_pipeline.evaluation import Evaluation
    from lstm_pipeline.promotion import Decision
    from lstm_pipeline.registry import RegisteredModel
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.tracking import LoggedRun
    from lstm_pipeline.training import TrainingResult
    from lstm_pipeline.windowing import WindowedData


@dataclass(frozen=True)
class TrainSummary:
    """What a training run produced and where to find it."""

    run_id: str
    experiment_id: str
    model_uri: str
    registered: RegisteredModel | None
    decision: Decision | None
    metrics: dict[str, float]
    tracking_uri: str


@task(name="load-series", cache_policy=NO_CACHE)
def load_series(cfg: PipelineConfig) -> pd.DataFrame:
    from lstm_pipeline.sources import load_series as load

    return load(cfg.source)


@task(name="make-windows", cache_policy=NO_CACHE)
def make_windows(frame: pd.DataFrame, cfg: PipelineConfig) -> WindowedData:
    from lstm_pipeline.windowing import make_windows as window

    return window(frame, cfg.window)


@task(name="start-run", cache_policy=NO_CACHE)
def start_run(cfg: PipelineConfig) -> LoggedRun:
    from lstm_pipeline.tracking import begin_training_run

    return begin_training_run(cfg)


@task(name="fit-model", cache_policy=NO_CACHE)
def fit_model(data: WindowedData, cfg: PipelineConfig, keras_path: str) -> TrainingResult:
    import keras  # noqa: F401 - loaded before the log line, so the line means the fit itself is starting

    from lstm_pipeline.training import train_and_save

    get_run_logger().info("fitting on %d windows for %d epochs", len(data.train), cfg.train.epochs)
    result = train_and_save(data, cfg, keras_path)
    get_run_logger().info("trained %d steps in %.1f s", result.steps, result.seconds)
    return result


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate(keras_path: str, frame: pd.DataFrame, data: WindowedData, cfg: PipelineConfig) -> Evaluation:
    from lstm_pipeline.evaluation import evaluate_saved_model

    evaluation = evaluate_saved_model(keras_path, frame, data, cfg)
    m = evaluation.metrics
    get_run_logger().info(
        "test MASE %.3f (naive %.3f, seasonal naive %.3f)",
        m["test_mase"],
        m["test_naive_mase"],
        m["test_seasonal_naive_mase"],
    )
    return evaluation


@task(name="log-run", cache_policy=NO_CACHE)
def log_run(
    cfg: PipelineConfig,
    frame: pd.DataFrame,
    training: TrainingResult,
    evaluation: Evaluation,
    data: WindowedData,
    keras_path: str,
    repairs: list[Repair],
    validation_report: Path,
    run_id: str,
    backtested: BacktestResult | None = None,
) -> LoggedRun:
    from lstm_pipeline import plots, tracking

    if backtested is not None:
        tracking.log_backtest(run_id, backtested, plots.backtest_folds(frame, backtested.errors))
    figures = {
        "loss": plots.loss_curve(training),
        "forecast_vs_actual": plots.forecast_vs_actual(frame, evaluation.forecasts),
    }
    return tracking.log_training_run(
        cfg=cfg,
        frame=frame,
        source=cfg.source.path or cfg.source.kind,
        training=training,
        evaluation=evaluation,
        figures=figures,
        keras_path=keras_path,
        scaler=data.scaler,
        repairs=repairs,
        attachments={"validation": validation_report},
        run_id=run_id,
        intervals=backtested.quantiles if backtested else None,
    )


@task(name="register-model", cache_policy=NO_CACHE)
def register_model(logged: LoggedRun, cfg: PipelineConfig, metrics: dict[str, float]) -> RegisteredModel:
    from lstm_pipeline.registry import register

    tags = {"run_id": logged.run_id, "test_mase": f"{metrics['test_mase']:.6g}"}
    return register(logged.model_uri, name=cfg.tracking.model_name, tags=tags)


@task(name="promotion-gate", cache_policy=NO_CACHE)
def promotion_gate(candidate: RegisteredModel, frame: pd.DataFrame, cfg: PipelineConfig, run_id: str) -> Decision:
    from lstm_pipeline.promotion import promote
    from lstm_pipeline.tracking import log_decision

    decision = promote(candidate, frame, cfg)
    log_decision(run_id, decision, version=candidate.version)
    get_run_logger().info("version %s: %s", candidate.version, decision.reason)
    return decision


@flow(name="train", log_prints=True)
@tracking_errors
def train(
    config_path: str | None = None, overrides: dict[str, Any] | None = None, data: str | None = None
) -> TrainSummary:
    """Train the LSTM on a config (YAML path + `section.key` overrides), register it, run the gate.

    `data` is a CSV or Parquet file to train on instead of the configured source. The new version
    becomes `champion` only if it beats seasonal naive and the champion on the newest data;
    otherwise it becomes `challenger`.
    """
    from lstm_pipeline.tracking import end_run_unless_finished, use_tracking_store
    from lstm_pipeline.windowing import min_history

    cfg = load_config(config_path, {**(overrides or {}), **file_source(data)})
    uri = use_tracking_store()
    frame, repairs, report = data_gate(load_series(cfg), cfg, context="training", min_length=min_history(cfg.window))
    windows = make_windows(frame, cfg)
    backtested = backtest_task(frame, cfg) if cfg.backtest.windows else None  # calibrates the intervals too
    workdir = tempfile.mkdtemp(prefix="lstm-pipeline-")
    run = start_run(cfg)  # before fitting: a crash mid-fit leaves a FAILED or KILLED run, not nothing
    try:
        keras_path = str(Path(workdir) / "model.keras")
        training = fit_model(windows, cfg, keras_path)
        evaluation = evaluate(keras_path, frame, windows, cfg)
        logged = log_run(cfg, frame, training, evaluation, windows, keras_path, repairs, report, run.run_id, backtested)
    except BaseException as exc:  # SIGTERM arrives as Prefect's TerminationSignal, a BaseException
        end_run_unless_finished(run.run_id, exc)
        raise
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if not cfg.tracking.register_model:
        return TrainSummary(logged.run_id, logged.experiment_id, logged.model_uri, None, None, evaluation.metrics, uri)
    registered = register_model(logged, cfg, evaluation.metrics)
    decision = promotion_gate(registered, frame, cfg, logged.run_id)
    return TrainSummary(
        logged.run_id, logged.experiment_id, logged.model_uri, registered, decision, evaluation.metrics, uri
    )
