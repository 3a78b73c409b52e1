"""The `sweep` flow: one data gate, many trials in parallel on Dask, the best one registered and gated.

series -> data gate -> parent MLflow run -> trials (a Dask worker process each, or one after
another) -> best trial -> register-model -> promotion-gate. Each trial logs itself as a child run
of the parent from the process that ran it. Worker processes live for the whole sweep, so
TensorFlow is imported once per worker, not once per trial.

A parallel sweep needs a Prefect server (PREFECT_API_URL): without one, every Dask worker process
would start a temporary server of its own. The flow refuses to start in that case (ConfigError).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.settings import get_current_settings
from prefect.task_runners import ThreadPoolTaskRunner

from flows.data_gate import choose_settings, data_gate, load_series
from flows.train import Fallback, gate, register_model
from lstm_pipeline.config import PipelineConfig, SweepConfig, check_output_dirs, file_source, load_config
from lstm_pipeline.resilience import tracking_errors

if TYPE_CHECKING:
    import pandas as pd
    from prefect.task_runners import TaskRunner

    from lstm_pipeline.promotion import Decision
    from lstm_pipeline.registry import RegisteredModel
    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.sweep import Trial, TrialResult


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep produced: the parent run, every trial, the best one and the gate's verdict on it."""

    parent_run_id: str
    experiment_id: str
    trials: list[TrialResult]
    best: TrialResult
    registered: RegisteredModel | None
    decision: Decision | None
    seconds: float
    tracking_uri: str
    fallback: Fallback | None = None


def check_prefect_server(cfg: PipelineConfig) -> None:
    """Raise ConfigError if the sweep runs on Dask workers and no Prefect server is configured."""
    from lstm_pipeline.sweep import require_prefect_server

    require_prefect_server(cfg.sweep, get_current_settings().api.url)


def task_runner_for(sweep: SweepConfig) -> TaskRunner[Any]:
    """An existing Dask scheduler, a local cluster of worker processes, or (1 worker) the flow's own thread."""
    if not sweep.scheduler_address and sweep.workers == 1:
        return ThreadPoolTaskRunner(max_workers=1)  # unused: sequential trials are called directly
    from prefect_dask.task_runners import DaskTaskRunner

    if sweep.scheduler_address:
        return DaskTaskRunner(address=sweep.scheduler_address)
    cluster = {"n_workers": sweep.workers, "processes": True, "threads_per_worker": 1, "dashboard_address": None}
    return DaskTaskRunner(cluster_kwargs=cluster)


@task(name="trial", cache_policy=NO_CACHE)
def trial(
    planned: Trial,
    frame: pd.DataFrame,
    parent_run_id: str,
    tracking_uri: str,
    threads: int | None,
    repairs: list[Repair],
) -> TrialResult:
    from lstm_pipeline.sweep import run_trial

    result = run_trial(
        planned, frame, parent_run_id=parent_run_id, tracking_uri=tracking_uri, threads=threads, repairs=repairs
    )
    get_run_logger().info(
        "%s: score %.4f in %.1f s (start-up %.2f s) on %s",
        planned.name,
        result.score,
        result.seconds,
        result.startup_seconds,
        result.worker,
    )
    return result


@flow(name="sweep-trials", validate_parameters=False)  # trials and frames are not JSON
def run_trials(
    trials: list[Trial],
    frame: pd.DataFrame,
    parent_run_id: str,
    tracking_uri: str,
    threads: int | None,
    repairs: list[Repair],
    parallel: bool,
) -> list[TrialResult]:
    """Run every trial: submitted to the flow's task runner (Dask), or called one after another."""
    args = (frame, parent_run_id, tracking_uri, threads, repairs)
    if not parallel:
        return [trial(t, *args) for t in trials]
    futures = [trial.submit(t, *args) for t in trials]
    return [future.result() for future in futures]


@flow(name="sweep", log_prints=True)
@tracking_errors
def sweep(
    config_path: str | None = None, config: PipelineConfig | None = None, data: str | None = None
) -> SweepSummary:
    """Run the `sweep` section's trials (parallel on Dask), log them under one parent MLflow run, gate the best.

    The best trial (lowest score) is registered and goes through the same promotion gate as the
    `train` flow.

    Args:
        config_path: a YAML config file; none = the built-in defaults.
        config: settings laid over the file, by section (`{"sweep": {"trials": 4}}`).
        data: a CSV or Parquet file to train on instead of the configured source.

    """
    from lstm_pipeline.store import use_tracking_store
    from lstm_pipeline.sweep import fail_parent_run, finish_parent_run, plan_trials, start_parent_run
    from lstm_pipeline.tracking import LoggedRun
    from lstm_pipeline.windowing import min_history

    began = time.perf_counter()
    cfg = load_config(config_path, config, file_source(data))
    check_output_dirs(cfg)  # a deployment run's parameters reach here without the CLI's check
    check_prefect_server(cfg)
    uri = use_tracking_store()
    raw = load_series(cfg)
    cfg = choose_settings(raw, cfg)
    planned = plan_trials(cfg)
    longest = max(min_history(t.config.window) for t in planned)
    frame, repairs, _ = data_gate(raw, cfg, context="training", min_length=longest)
    parent_id, experiment_id = start_parent_run(cfg, planned)
    get_run_logger().info("sweep: %d trials, parent MLflow run %s", len(planned), parent_id)
    parallel = bool(cfg.sweep.scheduler_address) or cfg.sweep.workers > 1
    try:
        runner = run_trials.with_options(task_runner=task_runner_for(cfg.sweep))
        results = runner(planned, frame, parent_id, uri, cfg.sweep.threads_per_trial, repairs, parallel)
        best = finish_parent_run(parent_id, results, seconds=time.perf_counter() - began)
    except BaseException:
        fail_parent_run(parent_id)
        raise
    best_cfg = planned[best.index].config
    get_run_logger().info("best: trial %d, score %.4f, run %s", best.index, best.score, best.run_id)
    registered = decision = fallback = None
    if cfg.tracking.register_model:
        registered = register_model(LoggedRun(best.run_id, best.experiment_id, best.model_uri), best_cfg, best.metrics)
        decision, fallback = gate(registered, frame, best.metrics, best_cfg, best.run_id)
    seconds = time.perf_counter() - began
    return SweepSummary(parent_id, experiment_id, results, best, registered, decision, seconds, uri, fallback)
