"""Hyperparameter sweep: the trial plan (grid or random over dotted config keys), one trial, the sweep's runs.

A trial is the base config plus its overrides plus its own `train.seed`; it trains, scores and logs
itself as a child MLflow run of the sweep's parent run, from whatever process runs it (a Dask
worker or the flow's own process), so trials can run in parallel. The parent run and the children
go through MLflow's client API, never the fluent active-run stack: trials that run in the flow's
own process must not see the parent as an "active run".
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import socket
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lstm_pipeline.config import PipelineConfig, SweepConfig, apply_overrides
from lstm_pipeline.console import command
from lstm_pipeline.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.tracking import LoggedRun

PARENT_TAG = "mlflow.parentRunId"  # what the MLflow UI nests child runs by
ROLE_TAG = "sweep.role"


@dataclass(frozen=True)
class Trial:
    """One point of the search space: its overrides of the base config and its full, validated config."""

    index: int
    overrides: dict[str, Any]
    config: PipelineConfig

    @property
    def name(self) -> str:
        """The MLflow run name: number and settings, e.g. `trial-001 units=[8, 4] learning_rate=0.01`."""
        settings = " ".join(f"{key.rsplit('.', 1)[-1]}={value}" for key, value in self.overrides.items())
        return f"trial-{self.index:03d} {settings}".rstrip()


@dataclass(frozen=True)
class TrialResult:
    """What a trial produced: its child run, model, score and timings (small: it crosses processes)."""

    index: int
    run_id: str
    experiment_id: str
    model_uri: str
    score: float
    metrics: dict[str, float]
    startup_seconds: float
    seconds: float
    worker: str


def plan_trials(base: PipelineConfig) -> list[Trial]:
    """The trials of `base.sweep`: every grid point, or `trials` distinct random points, each validated.

    Raises ConfigError for an unknown key, an empty value list, a grid larger than `trials`, or a
    trial whose config is invalid (e.g. a lookback longer than the data allows is caught later,
    by the data gate).
    """
    sweep = base.sweep
    points = _grid(sweep.space)
    if sweep.method == "grid" and len(points) > sweep.trials:
        raise ConfigError(
            f"sweep.space has {len(points)} grid points, more than sweep.trials={sweep.trials}: "
            "raise sweep.trials or use sweep.method=random"
        )
    if sweep.method == "random" and len(points) > sweep.trials:
        chosen = sorted(random.Random(sweep.seed).sample(range(len(points)), sweep.trials))
        points = [points[i] for i in chosen]
    return [_trial(base, index, point) for index, point in enumerate(points)]


def _grid(space: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    if not space:
        raise ConfigError("sweep.space is empty: give at least one key, e.g. window.lookback: [10, 20]")
    for key, values in space.items():
        if key.split(".")[0] == "sweep":
            raise ConfigError(f"sweep.space cannot vary the sweep itself ({key!r})")
        if not values:
            raise ConfigError(f"sweep.space[{key!r}] has no values to try")
    keys = list(space)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(space[k] for k in keys))]


def _trial(base: PipelineConfig, index: int, point: dict[str, Any]) -> Trial:
    try:
        return Trial(index, point, apply_overrides(base, {"train.seed": base.train.seed + index}, point))
    except ConfigError as exc:
        raise ConfigError(f"sweep trial {point} is not a valid config: {exc}") from None


def require_prefect_server(sweep: SweepConfig, api_url: str | None) -> None:
    """Refuse a parallel sweep without a Prefect server.

    Without `PREFECT_API_URL` every Dask worker process would start its own temporary Prefect
    server (seconds each, one SQLite database each, runs invisible to the flow's server), and
    workers on other machines could not report at all.
    """
    if api_url or (sweep.workers == 1 and not sweep.scheduler_address):
        return
    where = f"the Dask scheduler {sweep.scheduler_address}" if sweep.scheduler_address else f"{sweep.workers} workers"
    raise ConfigError(
        f"a sweep on {where} needs a Prefect server: start one ({command('prefect')} server start) and export "
        "PREFECT_API_URL=http://127.0.0.1:4200/api, or run the trials one after another with --workers 1"
    )


def trial_score(metrics: Mapping[str, float]) -> float:
    """The number trials are ranked by (lower is better).

    The rolling-origin backtest's MASE when the trial ran one (`backtest.windows` > 0): several
    forecast origins rank configs more reliably than one split; else the test-set MASE.
    """
    return float(metrics.get("backtest_mase", metrics["test_mase"]))


def run_trial(
    trial: Trial,
    frame: pd.DataFrame,
    *,
    parent_run_id: str,
    tracking_uri: str,
    threads: int | None = None,
    repairs: Sequence[Repair] = (),
) -> TrialResult:
    """Train, evaluate and score one trial, logged as a child run of `parent_run_id`.

    Runs in any process: it points MLflow at `tracking_uri` itself. The child run is opened (and
    nested) before fitting, so a trial that crashes shows as a FAILED child. `startup_seconds` is
    what importing TensorFlow, Keras and MLflow cost this trial: on a worker that already ran one, ~0.
    """
    began = time.perf_counter()
    import keras
    import mlflow

    from lstm_pipeline.tracking import begin_training_run, end_run_unless_finished

    startup = time.perf_counter() - began
    limit_tensorflow_threads(threads)
    mlflow.set_tracking_uri(tracking_uri)
    keras.backend.clear_session()  # a long-lived worker must not accumulate the graphs of past trials
    worker = f"{socket.gethostname()}:{os.getpid()}"
    opened = begin_training_run(trial.config)
    _nest(opened.run_id, trial, parent_run_id, worker)
    try:
        logged, metrics = _train_and_log(trial, frame, repairs, opened.run_id)
    except BaseException as exc:  # a cancelled trial (BaseException) ends KILLED, an error FAILED
        end_run_unless_finished(opened.run_id, exc)
        raise
    score = trial_score(metrics)
    mlflow.MlflowClient().log_batch(opened.run_id, metrics=_metrics(sweep_score=score, trial_startup_seconds=startup))
    seconds = time.perf_counter() - began
    return TrialResult(
        trial.index, logged.run_id, logged.experiment_id, logged.model_uri, score, metrics, startup, seconds, worker
    )


def limit_tensorflow_threads(threads: int | None) -> None:
    """Give TensorFlow `threads` intra-op and inter-op threads in this process; warn if it already runs with others.

    Results depend on the intra-op count (float sums split differently), so equal counts are what
    makes a trial on a Dask worker equal to the same trial run one after another. The inter-op
    count is set too because TensorFlow otherwise derives it from OMP_NUM_THREADS, which Dask's
    nanny sets to 1 in its workers: that halved the training speed (measured). TensorFlow takes
    both only before its first op: a worker's first trial sets them for the worker's life.
    """
    if threads is None:
        return
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    if (current := tf.config.threading.get_intra_op_parallelism_threads()) != threads:
        warnings.warn(
            f"TensorFlow already runs with {current or 'all'} intra-op threads in this process, not {threads}: "
            "this trial's metrics may differ slightly from the same trial in a fresh process",
            RuntimeWarning,
            stacklevel=2,
        )


def _train_and_log(
    trial: Trial, frame: pd.DataFrame, repairs: Sequence[Repair], run_id: str
) -> tuple[LoggedRun, dict[str, float]]:
    """The train flow's own path (`fitting.py`): fit, score the test part, refit, log; and the backtest if set."""
    from lstm_pipeline import plots, tracking
    from lstm_pipeline.backtest import run_backtest
    from lstm_pipeline.fitting import fit_and_evaluate, training_record

    cfg = trial.config
    backtested = run_backtest(frame, cfg) if cfg.backtest.windows else None
    fitted = fit_and_evaluate(frame, cfg)
    if backtested is not None:
        tracking.log_backtest(run_id, backtested, plots.backtest_folds(frame, backtested.errors))
    record = training_record(fitted, frame, cfg, repairs=repairs, backtested=backtested)
    logged = tracking.log_training_run(record, run_id)
    return logged, {**fitted.evaluation.metrics, **(backtested.metrics if backtested else {})}


def _nest(run_id: str, trial: Trial, parent_run_id: str, worker: str) -> None:
    """Nest the trial's run under the sweep's and record what it varies and where it runs."""
    import mlflow
    from mlflow.entities import RunTag

    tags = {
        PARENT_TAG: parent_run_id,
        ROLE_TAG: "trial",
        "mlflow.runName": trial.name,
        "sweep.trial": str(trial.index),
        "sweep.overrides": json.dumps(trial.overrides, sort_keys=True),
        "sweep.worker": worker,
    }
    mlflow.MlflowClient().log_batch(run_id, tags=[RunTag(key, value) for key, value in tags.items()])


def _metrics(**values: float) -> list[Any]:
    from mlflow.entities import Metric

    timestamp = int(time.time() * 1000)
    return [Metric(key, float(value), timestamp, 0) for key, value in values.items()]


def start_parent_run(cfg: PipelineConfig, trials: Sequence[Trial]) -> tuple[str, str]:
    """Open the sweep's parent run (config, search space, plan); return (run id, experiment id)."""
    import mlflow

    from lstm_pipeline.provenance import run_tags
    from lstm_pipeline.store import ensure_experiment

    experiment_id = ensure_experiment(cfg.tracking.experiment)
    client = mlflow.MlflowClient()
    tags = run_tags(cfg) | {ROLE_TAG: "parent"}
    run = client.create_run(experiment_id, tags=tags, run_name=f"sweep-{cfg.sweep.method}-{len(trials)}")
    params = {k: v for k, v in cfg.flat().items() if not k.startswith("sweep.space.")}
    params["sweep.space"] = json.dumps(cfg.sweep.space, sort_keys=True)
    params["sweep.planned_trials"] = len(trials)
    _log_params(client, run.info.run_id, params)
    plan = [{"trial": t.index, "seed": t.config.train.seed, **t.overrides} for t in trials]
    client.log_text(run.info.run_id, json.dumps(plan, indent=2, default=str), "sweep/plan.json")
    return run.info.run_id, experiment_id


def _log_params(client: Any, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(key, str(value)) for key, value in params.items()]
    for start in range(0, len(items), 100):  # MLflow takes at most 100 params per batch
        client.log_batch(run_id, params=items[start : start + 100])


def best_trial(results: Sequence[TrialResult]) -> TrialResult:
    """The lowest score (ties: the lower index); NaN scores never win."""
    ranked = sorted(results, key=lambda r: (r.score != r.score, r.score, r.index))  # NaN != NaN
    if not ranked:
        raise ValueError("no trial results to choose from")
    return ranked[0]


def finish_parent_run(run_id: str, results: Sequence[TrialResult], *, seconds: float) -> TrialResult:
    """Record the trials' table and the best trial on the parent run, end it FINISHED; return the best."""
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient()
    best = best_trial(results)
    table = pd.DataFrame(
        [
            {"trial": r.index, "score": r.score, "run_id": r.run_id, "seconds": r.seconds, "worker": r.worker}
            for r in sorted(results, key=lambda r: r.index)
        ]
    )
    client.log_text(run_id, table.to_csv(index=False), "sweep/trials.csv")
    for key, value in {"sweep.best_run_id": best.run_id, "sweep.best_trial": str(best.index)}.items():
        client.set_tag(run_id, key, value)
    for key, number in {"best_score": best.score, "trials_run": len(results), "sweep_seconds": seconds}.items():
        client.log_metric(run_id, key, float(number))
    client.set_terminated(run_id, "FINISHED")
    return best


def fail_parent_run(run_id: str) -> None:
    """End the parent run FAILED (a trial or the sweep broke)."""
    import mlflow

    mlflow.MlflowClient().set_terminated(run_id, "FAILED")
