"""The `backtest` flow: series -> data gate -> rolling-origin backtest -> one MLflow run (no registration).

Use it to compare configs on several forecast origins instead of one split; the train flow runs
the same backtest when `backtest.windows` is set, and its errors calibrate the model's intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.data_gate import choose_settings, data_gate, load_series
from lstm_pipeline.config import PipelineConfig, check_output_dirs, file_source, load_config

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.backtest import BacktestResult


@dataclass(frozen=True)
class BacktestSummary:
    """Where the backtest was logged and what it scored."""

    run_id: str
    experiment_id: str
    metrics: dict[str, float]
    notes: list[str]
    tracking_uri: str


@task(name="backtest", cache_policy=NO_CACHE)
def backtest_task(frame: pd.DataFrame, cfg: PipelineConfig) -> BacktestResult:
    from lstm_pipeline.backtest import plan_folds, run_backtest

    plan = plan_folds(cfg)
    get_run_logger().info(
        "%d folds, %d steps ahead, refitting on %d of them", len(plan.hidden), plan.horizon, sum(plan.refit)
    )
    result = run_backtest(frame, cfg)
    m = result.metrics
    get_run_logger().info(
        "backtest MASE %.3f (naive %.3f, seasonal naive %.3f)",
        m["backtest_mase"],
        m["backtest_naive_mase"],
        m["backtest_seasonal_naive_mase"],
    )
    for note in result.notes:
        get_run_logger().warning(note)
    return result


@task(name="log-backtest", cache_policy=NO_CACHE)
def log_backtest_run(cfg: PipelineConfig, frame: pd.DataFrame, result: BacktestResult) -> tuple[str, str]:
    from lstm_pipeline import plots, tracking

    return tracking.log_backtest_run(cfg, result, plots.backtest_folds(frame, result.errors))


@flow(name="backtest", log_prints=True)
def backtest(
    config_path: str | None = None, config: PipelineConfig | None = None, data: str | None = None
) -> BacktestSummary:
    """Rolling-origin backtest of a config on its series or `data`.

    `backtest.windows` (default here: 3 when the config leaves it at 0) sets the number of origins.

    Args:
        config_path: a YAML config file; none = the built-in defaults.
        config: settings laid over the file, by section (`{"backtest": {"windows": 5}}`).
        data: a CSV or Parquet file to backtest on instead of the configured source.

    """
    from lstm_pipeline.backtest import backtest_min_length, plan_folds
    from lstm_pipeline.store import use_tracking_store

    cfg = with_backtest(load_config(config_path, config, file_source(data)))
    check_output_dirs(cfg)  # a deployment run's parameters reach here without the CLI's check
    uri = use_tracking_store()
    raw = load_series(cfg)
    cfg = choose_settings(raw, cfg)
    frame, _, _ = data_gate(raw, cfg, context="backtest", min_length=backtest_min_length(cfg, plan_folds(cfg)))
    result = backtest_task(frame, cfg)
    run_id, experiment_id = log_backtest_run(cfg, frame, result)
    return BacktestSummary(run_id, experiment_id, result.metrics, result.notes, uri)


def with_backtest(cfg: PipelineConfig, default_windows: int = 3) -> PipelineConfig:
    """`cfg` with `backtest.windows` set to `default_windows` if the config left the backtest off."""
    if cfg.backtest.windows:
        return cfg
    return cfg.model_copy(update={"backtest": cfg.backtest.model_copy(update={"windows": default_windows})})
