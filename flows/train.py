"""The `train` flow: series -> settings -> data gate -> fit, evaluate, refit -> MLflow run -> registry -> gate.

Each task is a thin call into `lstm_pipeline`; the order of the pipeline lives here only.
Heavy libraries load inside the tasks, so importing this module (as `prefect deploy` does) is fast.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.backtest import backtest_task
from flows.data_gate import choose_settings, data_gate, load_series
from flows.events import CHAMPION_CHANGED, emit
from flows.links import flow_run_tags
from lstm_pipeline.config import PipelineConfig, check_output_dirs, file_source, load_config
from lstm_pipeline.resilience import tracking_errors

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.auto import Scored
    from lstm_pipeline.backtest import BacktestResult
    from lstm_pipeline.fitting import Fitted
    from lstm_pipeline.promotion import Decision
    from lstm_pipeline.registry import RegisteredModel
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.tracking import LoggedRun


@dataclass(frozen=True)
class Fallback:
    """The classic baseline registered when no LSTM beat seasonal naive (`promotion.fallback: classic`)."""

    method: str
    run_id: str
    registered: RegisteredModel
    decision: Decision
    summary: str  # one plain sentence: which baseline, which version, champion or why not


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
    fallback: Fallback | None = None


@task(name="start-run", cache_policy=NO_CACHE)
def start_run(cfg: PipelineConfig) -> LoggedRun:
    from lstm_pipeline.tracking import begin_training_run

    return begin_training_run(cfg, tags=flow_run_tags())


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish_summary(summary: TrainSummary) -> None:
    """The outcome on the flow run's page: the MLflow run, the scores, the version and the gate's word."""
    from lstm_pipeline.evaluation import versus_baselines
    from lstm_pipeline.tracking import run_link

    lines = [
        "## Training run",
        f"- MLflow: {run_link(summary.run_id, summary.experiment_id)}",
        f"- test MASE {versus_baselines(summary.metrics)}",
    ]
    if summary.registered and summary.decision:
        reg, decision = summary.registered, summary.decision
        lines.append(f"- registered `{reg.name}` version {reg.version} -> @{decision.alias}: {decision.reason}")
    else:
        lines.append("- not registered (tracking.register_model is off)")
    if summary.fallback:
        lines.append(f"- fallback: {summary.fallback.summary}")
    create_markdown_artifact(key="train-summary", markdown="\n".join(lines), description="What the training run gave")


@task(name="fit-and-evaluate", cache_policy=NO_CACHE)
def fit_and_evaluate(frame: pd.DataFrame, cfg: PipelineConfig) -> Fitted:
    import keras  # noqa: F401 - loaded before the log line, so the line means the fit itself is starting

    from lstm_pipeline.evaluation import versus_baselines
    from lstm_pipeline.fitting import fit_and_evaluate as fit

    logger = get_run_logger()
    logger.info(
        "fitting %d networks, scoring the last %d points, then refitting on all",
        cfg.train.ensemble,
        cfg.window.test_size,
    )
    fitted = fit(frame, cfg)
    logger.info("test MASE %s", versus_baselines(fitted.evaluation.metrics))
    return fitted


@task(name="auto-select", cache_policy=NO_CACHE)
def auto_select(frame: pd.DataFrame, cfg: PipelineConfig, run_id: str) -> tuple[Fitted, BacktestResult]:
    """Score the recipe space by backtest, ensemble it, refit; every candidate a child MLflow run."""
    import keras  # noqa: F401 - loaded before the first progress line

    from lstm_pipeline.auto import ensemble_members
    from lstm_pipeline.fitting import auto_fit
    from lstm_pipeline.tracking import log_candidates

    def progress(scored: Scored, done: int, total: int) -> None:
        name, mase = scored.candidate.name, scored.mase
        print(f"candidate {done}/{total}  {name}  backtest MASE {mase:.3f}  ({scored.seconds:.0f} s)")

    result = auto_fit(frame, cfg, report=progress)
    log_candidates(run_id, result.candidates)
    print(f"ensemble: {ensemble_members(result.candidates, cfg.auto)}")
    return result.fitted, result.backtest


@task(name="log-run", cache_policy=NO_CACHE)
def log_run(
    fitted: Fitted,
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    repairs: list[Repair],
    validation_report: Path,
    run_id: str,
    backtested: BacktestResult | None = None,
) -> LoggedRun:
    from lstm_pipeline import plots, tracking
    from lstm_pipeline.fitting import training_record

    if backtested is not None:
        tracking.log_backtest(run_id, backtested, plots.backtest_folds(frame, backtested.errors))
    record = training_record(fitted, frame, cfg, repairs=repairs, report=validation_report, backtested=backtested)
    return tracking.log_training_run(record, run_id)


@task(name="register-model", cache_policy=NO_CACHE)
def register_model(logged: LoggedRun, cfg: PipelineConfig, metrics: dict[str, float]) -> RegisteredModel:
    from lstm_pipeline.registry import register

    tags = {"run_id": logged.run_id, "test_mase": f"{metrics['test_mase']:.6g}"}
    return register(logged.model_uri, name=cfg.tracking.model_name, tags=tags)


@task(name="promotion-gate", cache_policy=NO_CACHE)
def promotion_gate(
    candidate: RegisteredModel, frame: pd.DataFrame, metrics: dict[str, float], cfg: PipelineConfig, run_id: str
) -> Decision:
    from lstm_pipeline.promotion import log_decision, promote

    decision = promote(candidate, frame, metrics, cfg)
    log_decision(run_id, decision, version=candidate.version)
    get_run_logger().info("version %s: %s", candidate.version, decision.reason)
    announce_champion(candidate, decision, run_id)
    return decision


def announce_champion(candidate: RegisteredModel, decision: Decision, run_id: str) -> None:
    """Emit `lstm-pipeline.model.champion-changed` when the gate made `candidate` the champion."""
    if decision.promote:
        payload = {
            "alias": decision.alias,
            "reason": decision.reason,
            "mase": decision.candidate_mase,
            "run_id": run_id,
        }
        emit(CHAMPION_CHANGED, candidate.name, candidate.version, payload)


@task(name="fallback-gate", cache_policy=NO_CACHE)
def fallback_gate(
    candidate: RegisteredModel, frame: pd.DataFrame, metrics: dict[str, float], cfg: PipelineConfig, run_id: str
) -> Fallback:
    """Log, register and gate the best classic baseline of the LSTM run `run_id` (its `metrics`)."""
    from lstm_pipeline.promotion import best_baseline, fallback_summary, log_decision, log_fallback, promote_fallback
    from lstm_pipeline.registry import register
    from lstm_pipeline.tracking import BASELINE_KIND_TAG, log_baseline_run

    method = best_baseline(metrics, cfg.evaluate)
    logged = log_baseline_run(cfg, frame, method, metrics)
    tags = {
        BASELINE_KIND_TAG: "baseline",
        "baseline.method": method,
        "run_id": logged.run_id,
        "test_mase": f"{metrics[f'test_{method}_mase']:.6g}",
    }
    registered = register(logged.model_uri, name=cfg.tracking.model_name, tags=tags)
    decision = promote_fallback(registered, frame, method, metrics, cfg)
    log_decision(logged.run_id, decision, version=registered.version)
    announce_champion(registered, decision, logged.run_id)
    summary = fallback_summary(method, registered.version, decision)
    log_fallback(run_id, candidate, summary, registered)
    get_run_logger().info("%s", summary)
    return Fallback(method, logged.run_id, registered, decision, summary)


def gate(
    candidate: RegisteredModel, frame: pd.DataFrame, metrics: dict[str, float], cfg: PipelineConfig, run_id: str
) -> tuple[Decision, Fallback | None]:
    """The promotion gate, then the fallback if the candidate missed the seasonal-naive bar and it is on."""
    from lstm_pipeline.promotion import SEASONAL_NAIVE_BAR

    decision = promotion_gate(candidate, frame, metrics, cfg, run_id)
    if decision.missed != SEASONAL_NAIVE_BAR or cfg.promotion.fallback != "classic":
        return decision, None
    return decision, fallback_gate(candidate, frame, metrics, cfg, run_id)


@flow(name="train", log_prints=True)
@tracking_errors
def train(
    config_path: str | None = None, config: PipelineConfig | None = None, data: str | None = None
) -> TrainSummary:
    """Train the LSTM ensemble on a config, register it, run the promotion gate.

    Settings the config leaves open come from the data. The new version becomes `champion` only
    if it beats seasonal naive and the champion on the test part's windows; otherwise it becomes
    `challenger`. With `promotion.fallback: classic`, a candidate that does not beat seasonal
    naive is followed by the best classic baseline, registered under the same name and gated
    against the champion.

    Args:
        config_path: a YAML config file (configs/default.yaml); none = the built-in defaults.
        config: settings laid over the file, by section (`{"train": {"epochs": 50}}`); a setting
            left out keeps the file's value, or the data's choice where the file leaves it open.
        data: a CSV or Parquet file to train on instead of the configured source.

    """
    from lstm_pipeline.store import use_tracking_store
    from lstm_pipeline.tracking import end_run_unless_finished
    from lstm_pipeline.windowing import min_history

    cfg = load_config(config_path, config, file_source(data))
    check_output_dirs(cfg)  # a deployment run's parameters reach here without the CLI's check
    uri = use_tracking_store()
    raw = load_series(cfg)
    cfg = choose_settings(raw, cfg)
    frame, repairs, report = data_gate(raw, cfg, context="training", min_length=min_history(cfg.window))
    backtested = backtest_task(frame, cfg) if cfg.backtest.windows else None  # calibrates the intervals too
    run = start_run(cfg)  # before fitting: a crash mid-fit leaves a FAILED or KILLED run, not nothing
    try:
        if cfg.auto.enabled:
            fitted, backtested = auto_select(frame, cfg, run.run_id)
        else:
            fitted = fit_and_evaluate(frame, cfg)
        logged = log_run(fitted, frame, cfg, repairs, report, run.run_id, backtested)
    except BaseException as exc:  # SIGTERM arrives as Prefect's TerminationSignal, a BaseException
        end_run_unless_finished(run.run_id, exc)
        raise
    metrics = fitted.evaluation.metrics
    summary = TrainSummary(logged.run_id, logged.experiment_id, logged.model_uri, None, None, metrics, uri)
    if cfg.tracking.register_model:
        registered = register_model(logged, cfg, metrics)
        decision, fallback = gate(registered, frame, metrics, cfg, logged.run_id)
        summary = replace(summary, registered=registered, decision=decision, fallback=fallback)
    publish_summary(summary)
    return summary
