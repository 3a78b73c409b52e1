"""The `batch-forecast` flow: registered model -> latest history -> data gate -> forecasts -> Parquet."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.data_gate import data_gate
from lstm_pipeline.config import PipelineConfig, file_source, load_config
from lstm_pipeline.config import output_dir as resolve_output_dir

if TYPE_CHECKING:
    import pandas as pd

    from lstm_pipeline.registry import RegisteredModel


@dataclass(frozen=True)
class ForecastSummary:
    """Where the forecasts went and which registered model made them."""

    path: str
    model: RegisteredModel
    rows: int
    series: int


@task(name="resolve-model", cache_policy=NO_CACHE)
def resolve_model(name: str, ref: str) -> tuple[RegisteredModel, dict[str, Any], str]:
    """The registered version, what it was trained on, and the experiment of its training run."""
    from lstm_pipeline.registry import model_contract, resolve
    from lstm_pipeline.store import experiment_of

    model = resolve(name, ref)
    return model, model_contract(model.uri), experiment_of(model.run_id)


@task(name="load-history", cache_policy=NO_CACHE)
def load_history(cfg: PipelineConfig, known_series: set[str], cutoff: pd.Timestamp | None) -> pd.DataFrame:
    """The configured history, cut at `cutoff` (what was known then), without unknown series if asked."""
    from lstm_pipeline.forecasting import history_as_of
    from lstm_pipeline.repairs import in_time_order
    from lstm_pipeline.sources import load_series

    # Forecasting reads the history as it is (no contract to break): time order is all the plot needs.
    history = in_time_order(load_series(cfg.source))
    if cutoff is not None:
        history, later = history_as_of(history, cutoff)
        if later:
            get_run_logger().info("as of %s: left out %d rows dated after it", cutoff, later)
    if cfg.forecast.unknown_series == "skip":
        unknown = sorted(set(history["unique_id"]) - known_series)
        if unknown:
            get_run_logger().warning("leaving out %d series the model never saw: %s", len(unknown), unknown[:10])
            history = history[history["unique_id"].isin(known_series)].reset_index(drop=True)
    return history


@task(name="predict", cache_policy=NO_CACHE)
def predict(model: RegisteredModel, history: pd.DataFrame, horizon: int | None) -> pd.DataFrame:
    """The model's forecasts for every series, tagged with the model; NaN or inf refused."""
    import pandas as pd

    from lstm_pipeline.forecasting import check_finite_forecasts
    from lstm_pipeline.registry import load

    params = {"horizon": horizon} if horizon else None
    forecasts = pd.DataFrame(load(model).predict(history, params=params))
    check_finite_forecasts(forecasts, f"{model.name} v{model.version}")
    return forecasts.assign(model_name=model.name, model_version=model.version, run_id=model.run_id)


# Retried on a passing fault (a full disk, a busy share): each write replaces the slot atomically, so a retry
# leaves one forecast file and one plot per slot, never two. The plot goes first: readers take the Parquet
# file as the slot, and it appears only once the slot is whole.
@task(name="write-forecasts", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def write(forecasts: pd.DataFrame, history: pd.DataFrame, path: str, title: str = "") -> str:
    from lstm_pipeline.forecasting import write_figure, write_forecasts
    from lstm_pipeline.plots import forecast_plot

    write_figure(forecast_plot(history, forecasts, title=title), Path(path).with_name("forecasts.png"))
    written = write_forecasts(forecasts, path)
    get_run_logger().info("wrote %d forecast rows to %s", len(forecasts), written)
    return str(written)


@task(name="publish-summary", cache_policy=NO_CACHE)
def publish(model: RegisteredModel, experiment_id: str, path: str, rows: int, series: int, as_of: str) -> None:
    from lstm_pipeline.tracking import run_link

    create_markdown_artifact(
        key="batch-forecast",
        description=f"Forecasts of {model.name} v{model.version} as of {as_of}",
        markdown="\n".join(
            [
                f"## Forecasts as of {as_of}",
                f"- model: `{model.name}` version {model.version} ({model.alias or 'by version'})",
                f"- training run: {run_link(model.run_id, experiment_id)}",
                f"- {rows} rows for {series} series: `{path}`",
                f"- plot: `{Path(path).with_name('forecasts.png')}`",
            ]
        ),
    )


@flow(name="batch-forecast", log_prints=True)
def batch_forecast(
    model_name: str | None = None,
    alias: str | None = None,
    data: str | None = None,
    horizon: int | None = None,
    output_dir: str | None = None,
    as_of: str | None = None,
    config_path: str | None = None,
    config: PipelineConfig | None = None,
) -> ForecastSummary:
    """Forecast every series of the history with a registered model and write Parquet.

    `alias` is an alias (`champion`) or a version number; `data` a CSV/Parquet history file
    (default: the configured source); `horizon` the steps ahead (default: the model's horizon, at
    most `config.MAX_HORIZON`); `output_dir` the root of the partitions (default:
    outputs/forecasts, always under the project home or a root the operator allows); `as_of` the
    slot's date: the history is cut there (rows with ds <= as_of) so a backfill forecasts what
    would have been forecast then. Without it, a deployment's run takes its scheduled start time
    (and cuts there); any other run takes now. The same slot run twice gives one, identical output;
    a slot holding another model's forecasts is never replaced. The history must pass the data
    contract and match what the model was trained on.

    Args:
        model_name: the registered model (default: tracking.model_name).
        alias: an alias or a version number (default: tracking.alias, champion).
        data: a CSV or Parquet history file (default: the configured source).
        horizon: steps ahead (default: the model's horizon).
        output_dir: the root of the forecast slots (default: forecast.output_dir).
        as_of: the slot's date, YYYY-MM-DD; the history is cut there.
        config_path: a YAML config file; none = the built-in defaults.
        config: settings laid over the file, by section (`{"forecast": {"unknown_series": "skip"}}`).

    """
    from lstm_pipeline.forecasting import check_slot_free, slot_path, store_id
    from lstm_pipeline.store import use_tracking_store

    chosen = {"forecast.output_dir": output_dir, "forecast.horizon": horizon, "tracking.model_name": model_name}
    given = {k: v for k, v in chosen.items() if v is not None}
    cfg = load_config(config_path, config, given, file_source(data))
    root = resolve_output_dir("forecast.output_dir", cfg.forecast.output_dir)
    slot, cutoff = as_of_slot(as_of)
    uri = use_tracking_store()
    model, contract, experiment_id = resolve_model(cfg.tracking.model_name, alias or cfg.tracking.alias)
    target = slot_path(root, store_id(uri), model.name, model.version, slot)
    check_slot_free(target, model.run_id)  # before any work
    trained_freq: dict[str, str] = contract.get("frequencies", {})
    history, _, _ = data_gate(
        load_history(cfg, set(trained_freq), cutoff),
        cfg,
        context="forecast",
        min_length=int(contract.get("lookback", 1)),
        trained_freq=trained_freq,
        experiment_id=experiment_id,
    )
    forecasts = predict(model, history, cfg.forecast.horizon)
    path = write(forecasts, history, str(target), f"{model.name} version {model.version}, as of {slot}")
    series = int(forecasts["unique_id"].nunique())
    publish(model, experiment_id, path, len(forecasts), series, slot)
    return ForecastSummary(path, model, len(forecasts), series)


def as_of_slot(as_of: str | None) -> tuple[str, pd.Timestamp | None]:
    """The slot's date (YYYY-MM-DD) and where to cut the history (None: keep it whole).

    An explicit `as_of` cuts at that date. A run of a deployment (scheduled, or started late)
    takes its scheduled start time, not the wall clock, and cuts there; any other run is "now".
    """
    import pandas as pd
    from prefect.runtime import deployment, flow_run

    from lstm_pipeline.forecasting import parse_as_of

    if as_of is not None:
        day = parse_as_of(as_of)
        return day.isoformat(), pd.Timestamp(day)
    if deployment.id:
        scheduled = pd.Timestamp(flow_run.scheduled_start_time)
        scheduled = scheduled.tz_localize("UTC") if scheduled.tzinfo is None else scheduled.tz_convert("UTC")
        return scheduled.date().isoformat(), scheduled
    return pd.Timestamp.now(tz="UTC").date().isoformat(), None
