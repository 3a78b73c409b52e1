"""The `monitor` flow: actuals -> the forecast slots they realise -> realised accuracy per version -> MLflow, events.

For every version with forecasts that actuals now exist for: the realised MASE, sMAPE and
interval coverage (overall, per as-of date, horizon step and series), compared with what the
version promised, and a drift test of the incoming data. Each check is an MLflow run of its
own in the version's experiment; the flow run gets a table artifact; a degraded version emits
`lstm-pipeline.model.degraded` when it is the champion: `train/weekly`'s trigger in prefect.yaml
answers it with a retrain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.events import DEGRADED, emit
from lstm_pipeline.config import PipelineConfig, file_source, load_config
from lstm_pipeline.resilience import tracking_errors

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.monitoring import Check


@dataclass(frozen=True)
class MonitorSummary:
    """The checks of one monitoring run and the MLflow run each was logged to."""

    checks: list[Check]
    run_ids: dict[str, str]  # version -> monitoring run
    drifted: dict[str, list[str]]  # version -> series whose data drifted


@task(name="load-actuals", cache_policy=NO_CACHE)
def load_actuals(cfg: PipelineConfig) -> pd.DataFrame:
    from lstm_pipeline.monitoring import require_actuals
    from lstm_pipeline.repairs import in_time_order
    from lstm_pipeline.sources import load_series

    return in_time_order(require_actuals(load_series(cfg.source)))


@task(name="check-version", cache_policy=NO_CACHE)
def check_version(
    cfg: PipelineConfig, version: str, rows: pd.DataFrame, actuals: pd.DataFrame
) -> tuple[Check, str, list[str]]:
    """Score, judge, test for drift and log one version; returns the check, its MLflow run and the drifted series."""
    from lstm_pipeline import monitoring
    from lstm_pipeline.registry import model_contract, resolve
    from lstm_pipeline.store import experiment_of
    from lstm_pipeline.tracking import log_monitoring_run, promised

    model = resolve(cfg.tracking.model_name, version)
    levels = [str(level) for level in model_contract(model.uri).get("interval_levels", [])]
    promise = promised(model.run_id, levels)
    check = monitoring.check_version(model.name, version, rows, actuals, promise, cfg.monitor)
    since = rows.groupby("unique_id")["cutoff"].min()
    drift = monitoring.drift(actuals, since, promise.season_length, cfg.monitor.drift_alpha)
    run_id = log_monitoring_run(check, experiment_of(model.run_id), model.run_id, drift)
    drifted = sorted(drift.loc[drift["drifted"], "unique_id"])
    get_run_logger().info(
        "version %s: realised MASE %.3f on %d points (%s); %s; %d series drifted",
        version,
        check.metrics.get("realised_mase", float("nan")),
        check.points,
        f"promised {promise.source} {promise.mase:.3f}" if promise.source else "no promise",
        "; ".join(check.reasons) or "within the tolerances",
        len(drifted),
    )
    return check, run_id, drifted


@task(name="champion-version", cache_policy=NO_CACHE)
def champion_version(cfg: PipelineConfig) -> str | None:
    """The version holding `tracking.alias` (champion) now, if any: the only one whose verdict emits an event."""
    from lstm_pipeline.registry import holder

    held = holder(cfg.tracking.model_name, cfg.tracking.alias)
    return None if held is None else str(held.version)


@task(name="publish-checks", cache_policy=NO_CACHE)
def publish(checks: list[Check], drifted: dict[str, list[str]]) -> None:
    rows = [
        {
            "version": c.version,
            "points": c.points,
            "series": c.series,
            **{key: round(value, 4) for key, value in c.metrics.items()},
            "promised_mase": round(c.promise.mase, 4),
            "degraded": "; ".join(c.reasons) or "no",
            "drifted_series": len(drifted.get(c.version, [])),
        }
        for c in checks
    ]
    create_table_artifact(key="realised-accuracy", table=rows, description="Realised accuracy per model version")


def announce(check: Check, run_id: str, drifted: list[str], drift_share: float) -> None:
    """Emit `lstm-pipeline.model.degraded` with the evidence, when the check or the data says so.

    Drift counts when at least `drift_share` of the version's series drifted: at a 1 % test level,
    one series in a hundred drifts by chance.
    """
    data_drifted = len(drifted) >= max(1.0, drift_share * check.series)
    if not check.degraded and not data_drifted:
        return
    emit(
        DEGRADED,
        check.model_name,
        check.version,
        {
            "version": check.version,
            "reasons": check.reasons
            + ([f"data drifted in {len(drifted)} of {check.series} series"] if data_drifted else []),
            "metrics": {key: value for key, value in check.metrics.items() if math.isfinite(value)},
            "promised": {
                "mase": check.promise.mase if math.isfinite(check.promise.mase) else None,
                "source": check.promise.source,
            },
            "drifted_series": drifted[:50],
            "monitoring_run_id": run_id,
        },
    )
    get_run_logger().warning("%s v%s degraded: %s", check.model_name, check.version, check.reasons or drifted[:5])


@flow(name="monitor", log_prints=True)
@tracking_errors
def monitor(
    model_name: str | None = None,
    version: str | None = None,
    data: str | None = None,
    config_path: str | None = None,
    config: PipelineConfig | None = None,
) -> MonitorSummary:
    """Join the actuals with the forecasts written earlier and check each model version's realised accuracy.

    Args:
        model_name: the registered model (default: tracking.model_name).
        version: one version to check (default: every version with forecasts that actuals exist for).
        data: a CSV or Parquet file of actuals (default: the configured source).
        config_path: a YAML config file; none = the built-in defaults.
        config: settings laid over the file, by section (`{"monitor": {"mase_tolerance": 0.3}}`).

    """
    from lstm_pipeline.config import output_dir
    from lstm_pipeline.forecasting import store_id
    from lstm_pipeline.monitoring import find_slots, realised
    from lstm_pipeline.store import use_tracking_store

    given = {"tracking.model_name": model_name} if model_name else {}
    cfg = load_config(config_path, config, given, file_source(data))
    root = output_dir("forecast.output_dir", cfg.forecast.output_dir) / f"store={store_id(use_tracking_store())}"
    actuals = load_actuals(cfg)
    rows = realised(find_slots(root, cfg.tracking.model_name, version), actuals)
    champion = champion_version(cfg)
    checks, run_ids, drifted = [], {}, {}
    for each, part in rows.groupby("version", sort=True):
        check, run_id, series = check_version(cfg, str(each), part, actuals)
        if check.version == champion:  # an older version's verdict is history, not a reason to retrain
            announce(check, run_id, series, cfg.monitor.drift_share)
        checks.append(check)
        run_ids[check.version], drifted[check.version] = run_id, series
    if not checks:
        get_run_logger().warning("no forecasts of %s have actuals yet under %s", cfg.tracking.model_name, root)
    publish(checks, drifted)
    return MonitorSummary(checks, run_ids, drifted)
