"""Where data enters every flow: load it, choose the settings it implies, repair (opt-in), validate.

On failure the report (GX result JSON, Data Docs HTML, summary) stays under outputs/validation/,
a FAILED MLflow run carries it, a Prefect markdown artifact summarises it, and the flow stops
with a DataValidationError before anything is trained, registered or written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from lstm_pipeline.config import PipelineConfig, output_dir

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.repairs import Repair
    from lstm_pipeline.validation import ValidationReport


@task(name="load-series", cache_policy=NO_CACHE)
def load_series(cfg: PipelineConfig) -> pd.DataFrame:
    from lstm_pipeline.sources import load_series as load

    return load(cfg.source)


@task(name="choose-settings", cache_policy=NO_CACHE)
def choose_settings(frame: pd.DataFrame, cfg: PipelineConfig) -> PipelineConfig:
    """Settings the config leaves open (season, horizon, held-out parts, lookback), from the data."""
    from lstm_pipeline.data_defaults import describe, resolve

    resolved = resolve(cfg, frame)
    print(f"settings: {describe(resolved, frame)}")
    return resolved


@task(name="repair-series", cache_policy=NO_CACHE)
def repair_series(frame: pd.DataFrame, cfg: PipelineConfig) -> tuple[pd.DataFrame, list[Repair]]:
    from lstm_pipeline.repairs import repair

    repaired, done = repair(frame, cfg.validation.repair, freq=cfg.validation.freq)
    for applied in done:
        get_run_logger().info("repair %s: %d rows (%s)", applied.name, applied.rows, applied.detail)
    return repaired, done


@task(name="validate-series", cache_policy=NO_CACHE)
def validate_series(
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    context: str,
    min_length: int,
    trained_freq: dict[str, str] | None = None,
) -> tuple[ValidationReport, Path]:
    from lstm_pipeline.validation import history_needed, report_folder, validate, write_report

    folder = report_folder(output_dir("validation.report_dir", cfg.validation.report_dir), context)
    report = validate(
        frame,
        context=context,
        min_length=min_length,
        cfg=cfg.validation,
        model_freq=trained_freq,
        known_series=None if trained_freq is None else set(trained_freq),
        docs_dir=folder / "data_docs",
        history_why=history_needed(cfg.window, context, min_length),
        # A training run logs GX's whole result with its model; a forecast, cold and frequent, skips
        # GX's import unless a rule breaks (then GX judges and reports it as always).
        great_expectations="on_failure" if context == "forecast" else "always",
    )
    write_report(report, folder)
    create_markdown_artifact(
        key=f"data-validation-{context}",
        markdown=f"{report.markdown()}\n\nReport: `{folder}`"
        + ("" if report.success else " (Data Docs: `data_docs/index.html`)"),
        description=f"Great Expectations contract on the {context} data",
    )
    return report, folder


@task(name="record-validation-failure", cache_policy=NO_CACHE)
def record_failure(
    cfg: PipelineConfig, context: str, folder: Path, message: str, experiment_id: str | None = None
) -> str:
    from lstm_pipeline.tracking import log_failed_validation

    run_id = log_failed_validation(
        cfg, context=context, report_dir=folder, message=message, experiment_id=experiment_id
    )
    get_run_logger().error("data validation failed; report in %s and on MLflow run %s", folder, run_id)
    return run_id


def data_gate(
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    *,
    context: str,
    min_length: int,
    trained_freq: dict[str, str] | None = None,
    experiment_id: str | None = None,
) -> tuple[pd.DataFrame, list[Repair], Path]:
    """Repair (if asked), validate, and stop the flow on a broken contract; return what passed.

    `trained_freq` (series -> frequency the model was trained on) adds the forecast-time rules:
    known series, same frequency. A failure is recorded as a FAILED MLflow run in `experiment_id`
    (default: the configured one).
    """
    repaired, repairs = repair_series(frame, cfg)
    report, folder = validate_series(repaired, cfg, context, min_length, trained_freq)
    if not report.success:
        record_failure(cfg, context, folder, report.message(), experiment_id)
        report.raise_if_failed()
    return repaired, repairs, folder
