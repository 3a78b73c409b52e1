"""The `lstm-pipeline` command: train, forecast, or run the whole demo loop.

Flows (and with them Prefect, TensorFlow and MLflow) are imported only inside the commands,
so `lstm-pipeline --help` answers at once.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lstm_pipeline.config import MAX_HORIZON, PipelineConfig
from lstm_pipeline.console import NativeLogFilter, command, quiet_console_logs
from lstm_pipeline.errors import LstmPipelineError

if TYPE_CHECKING:
    from flows.batch_forecast import ForecastSummary
    from flows.monitor import MonitorSummary
    from flows.sweep import SweepSummary
    from flows.train import TrainSummary

app = typer.Typer(
    help="Train a Keras LSTM forecaster, track it in MLflow and write batch forecasts, as Prefect flows.\n\n"
    "Start with `lstm-pipeline demo`. Results go to the MLflow store (mlruns/ by default, "
    "or $MLFLOW_TRACKING_URI) and forecasts to outputs/.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Set by `main` (the console script) and the --verbose option; the CLI's tests call `app` directly.
_STATE = {"console_script": False, "verbose": bool(os.environ.get("LSTM_PIPELINE_VERBOSE"))}


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Show everything: TensorFlow's native log lines, and Prefect's tracebacks for expected errors "
            "(or set LSTM_PIPELINE_VERBOSE=1).",
        ),
    ] = False,
) -> None:
    """Options for every command (before its name: lstm-pipeline --verbose train ...)."""
    _STATE["verbose"] = _STATE["verbose"] or verbose


def main() -> None:
    """The console entry point: run the command, then leave without the interpreter's slow teardown.

    Tearing down TensorFlow, MLflow and friends takes ~3.6 s after every command (measured). The
    exit hook is registered before any flow import, so it runs after the other exit handlers
    (Prefect's temporary server stop and log flush among them) and only for a command that succeeded.
    """
    outcome: dict[str, object] = {}
    atexit.register(_exit_now_if_succeeded, outcome)
    _STATE["console_script"] = True
    try:
        app()
    except SystemExit as exc:
        outcome["code"] = exc.code
        raise


def _exit_now_if_succeeded(outcome: dict[str, object]) -> None:
    if "code" in outcome and outcome["code"] in (0, None):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config, e.g. configs/seed.yaml (default: built-in defaults)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set", "-s", metavar="KEY=VALUE", help="Override one setting, e.g. --set train.epochs=50 (repeatable)."
    ),
]
DataOption = Annotated[
    Path | None, typer.Option("--data", "-d", help="CSV or Parquet file with columns unique_id, ds, y.")
]


@app.command()
def train(
    config: ConfigOption = None,
    set_: SetOption = None,
    data: DataOption = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, help="Steps ahead the model forecasts (default: from the data's frequency).")
    ] = None,
    auto: Annotated[
        bool, typer.Option("--auto", help="Choose the recipe by backtest and ensemble the best (a few minutes).")
    ] = False,
    budget: Annotated[
        float | None, typer.Option(min=1, help="--auto: seconds to spend scoring candidates (default 240).")
    ] = None,
) -> None:
    """Train on the configured series (or --data), log the run to MLflow and register the model.

    With only --data, the season, horizon, held-out parts and lookback come from the data.
    """
    chosen = {"window.horizon": horizon, "auto.budget_seconds": budget, "auto.enabled": True if auto else None}
    extra = [f"{key}={json.dumps(value)}" for key, value in chosen.items() if value is not None]
    summary = _run_train(config, [*(set_ or []), *extra], data)
    _print_train(summary)
    _print_ui_hint(summary.tracking_uri)


@app.command()
def backtest(
    config: ConfigOption = None,
    set_: SetOption = None,
    data: DataOption = None,
    windows: Annotated[int | None, typer.Option(min=1, help="Forecast origins (default: config, else 5).")] = None,
) -> None:
    """Rolling-origin backtest: refit at each origin, score against naive baselines, log one MLflow run."""
    extra = [f"backtest.windows={windows}"] if windows else []
    with _user_errors():
        cfg = _checked_config(config, [*(set_ or []), *extra], data)
        _start_flow_runtime()
        from flows.backtest import backtest as backtest_flow

        summary = backtest_flow(config=cfg)
    m = summary.metrics
    typer.echo(f"\nMLflow run     {summary.run_id} (experiment {summary.experiment_id})")
    typer.echo(
        f"backtest MASE  {m['backtest_mase']:.3f}  (naive {m['backtest_naive_mase']:.3f}, "
        f"seasonal naive {m['backtest_seasonal_naive_mase']:.3f}; lower is better)"
    )
    for key in sorted(k for k in m if k.startswith("interval_coverage_")):
        level = key.removeprefix("interval_coverage_")
        typer.echo(f"{level}% interval  coverage {m[key]:.2f}, mean width {m[f'interval_width_{level}']:.3g}")
    for note in summary.notes:
        typer.echo(f"note           {note}")
    _print_ui_hint(summary.tracking_uri)


@app.command()
def sweep(
    config: ConfigOption = None,
    set_: SetOption = None,
    data: DataOption = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Local Dask worker processes; 1 = trials one after another (default 2).")
    ] = None,
    trials: Annotated[
        int | None, typer.Option(min=1, help="Random: trials drawn; grid: the most it may hold (default 8).")
    ] = None,
    scheduler: Annotated[
        str | None, typer.Option(help="A running Dask scheduler to use instead, e.g. tcp://10.0.0.5:8786.")
    ] = None,
) -> None:
    """Hyperparameter sweep over the config's `sweep.space`, trials in parallel on Dask; the best is registered.

    Each trial is a child MLflow run of one parent run. A parallel sweep needs a Prefect server
    (export PREFECT_API_URL); --workers 1 runs without one.
    """
    chosen = {"sweep.workers": workers, "sweep.trials": trials, "sweep.scheduler_address": scheduler}
    extra = [f"{key}={json.dumps(value)}" for key, value in chosen.items() if value is not None]
    with _user_errors():
        cfg = _checked_config(config, [*(set_ or []), *extra], data)
        from flows.sweep import check_prefect_server
        from flows.sweep import sweep as sweep_flow

        check_prefect_server(cfg)  # before any server starts
        _start_flow_runtime()
        summary = sweep_flow(config=cfg)
    _print_sweep(summary)
    _print_ui_hint(summary.tracking_uri)


@app.command()
def forecast(
    model: Annotated[str | None, typer.Option(help="Registered model name (default from config).")] = None,
    alias: Annotated[str | None, typer.Option(help="Alias or version number (default: champion).")] = None,
    horizon: Annotated[
        int | None, typer.Option(min=1, help=f"Steps ahead, at most {MAX_HORIZON} (default: the model's horizon).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Forecast as of this date, YYYY-MM-DD: the history is cut there (default: today)."),
    ] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    data: DataOption = None,
) -> None:
    """Forecast every series with a registered model into outputs/forecasts/store=ID/<model>/version=N/as_of=DATE/.

    ID names the MLflow store. Running the same slot again replaces it atomically (one output per
    slot); a slot holding another model's forecasts is never replaced.
    """
    _print_forecast(_run_forecast(model, alias, horizon, config, set_, data, as_of))


@app.command()
def monitor(
    model: Annotated[str | None, typer.Option(help="Registered model name (default from config).")] = None,
    version: Annotated[str | None, typer.Option(help="One version (default: every version with forecasts).")] = None,
    config: ConfigOption = None,
    set_: SetOption = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="CSV or Parquet file of actuals: unique_id, ds, y.")
    ] = None,
) -> None:
    """Realised accuracy: join actuals with the forecasts written earlier; score, judge and log each version.

    A version whose realised MASE or coverage falls past `monitor.*` tolerances, or whose data
    drifted, emits the Prefect event lstm-pipeline.model.degraded (team mode retrains on it).
    """
    with _user_errors():
        chosen = [f"tracking.model_name={json.dumps(model)}"] if model else []
        cfg = _checked_config(config, [*(set_ or []), *chosen], data)
        _start_flow_runtime(with_gx=False)
        from flows.monitor import monitor as monitor_flow

        summary = monitor_flow(model_name=model, version=version, config=cfg)
    _print_monitor(summary)


@app.command()
def demo(
    config: ConfigOption = None,
    set_: SetOption = None,
    horizon: Annotated[
        int, typer.Option(min=1, help=f"Steps to forecast after training (at most {MAX_HORIZON}).")
    ] = 10,
) -> None:
    """The whole loop on the noisy sine: train, gate, register, forecast from the champion."""
    with _user_errors():
        _checked_config(config, [*(set_ or []), *_horizon_setting(horizon)], None)  # before training
    summary = _run_train(config, set_, None)
    _print_train(summary)
    _print_forecast(_run_forecast(None, None, horizon, config, set_, None))
    _print_ui_hint(summary.tracking_uri)


def _run_train(config: Path | None, overrides: list[str] | None, data: Path | None) -> TrainSummary:
    with _user_errors():
        cfg = _checked_config(config, overrides, data)
        _start_flow_runtime()
        from flows.train import train as train_flow

        return train_flow(config=cfg)


def _run_forecast(
    model: str | None,
    alias: str | None,
    horizon: int | None,
    config: Path | None,
    overrides: list[str] | None,
    data: Path | None,
    as_of: str | None = None,
) -> ForecastSummary:
    with _user_errors():
        chosen = [*_horizon_setting(horizon), *([f"tracking.model_name={json.dumps(model)}"] if model else [])]
        cfg = _checked_config(config, [*(overrides or []), *chosen], data)
        if as_of is not None:
            from lstm_pipeline.forecasting import parse_as_of

            parse_as_of(as_of)  # before the server boots
        _start_flow_runtime(with_gx=False)
        from flows.batch_forecast import batch_forecast

        return batch_forecast(
            model_name=model,
            alias=alias,
            data=str(data) if data else None,
            horizon=horizon,
            as_of=as_of,
            config=cfg,
        )


def _horizon_setting(horizon: int | None) -> list[str]:
    return [] if horizon is None else [f"forecast.horizon={horizon}"]


def _checked_config(config: Path | None, overrides: list[str] | None, data: Path | None) -> PipelineConfig:
    """The run's config (file, `--set` pairs, `--data`), its output folders checked: now, before Prefect starts."""
    from lstm_pipeline.config import check_output_dirs, file_source, load_config

    cfg = load_config(config, overrides, file_source(data))
    check_output_dirs(cfg)
    return cfg


@contextmanager
def _user_errors() -> Iterator[None]:
    """Show our typed errors as one clear message and exit code 2, not as a traceback."""
    try:
        yield
    except LstmPipelineError as exc:
        if _STATE["verbose"]:
            traceback.print_exc()
        typer.secho(f"error ({type(exc).__name__}): {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from None


def _start_flow_runtime(*, with_gx: bool = True) -> None:
    """Boot Prefect's temporary server in the background and import the heavy libraries meanwhile.

    Measured: this overlaps ~4 s of server start-up with the TensorFlow, MLflow and Great
    Expectations imports the flow needs anyway (when a second core is free). A forecast imports
    GX only when its data breaks a rule (`validation.validate`), so it leaves GX out here.
    """
    _quiet_defaults()
    quiet = not _STATE["verbose"]
    if quiet and _STATE["console_script"]:  # before TensorFlow loads: its first lines come at import
        native = NativeLogFilter()
        native.start()
        atexit.register(native.stop)  # after the temporary server stops, before the fast exit
    from flows.early_server import start

    server = start()
    if with_gx:
        import great_expectations  # noqa: F401
    import keras  # noqa: F401
    import mlflow  # noqa: F401

    import flows.data_gate  # noqa: F401 - every flow imports it; importing Prefect sets up its logging

    if quiet:
        quiet_console_logs()
    if server:
        server.wait_healthy()


def _quiet_defaults() -> None:
    """Defaults for a laptop run; anything already set in the environment wins. --verbose keeps TF's log level."""
    defaults = {
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }
    if not _STATE["verbose"]:
        defaults["TF_CPP_MIN_LOG_LEVEL"] = "2"  # must be set before TensorFlow is imported
    for key, value in defaults.items():
        os.environ.setdefault(key, value)


def _print_train(summary: TrainSummary) -> None:
    from lstm_pipeline.evaluation import versus_baselines

    m = summary.metrics
    typer.echo(f"\nMLflow run     {summary.run_id} (experiment {summary.experiment_id})")
    typer.echo(f"test MASE      {versus_baselines(m, after='; lower is better')}")
    if summary.registered and summary.decision:
        reg, decision = summary.registered, summary.decision
        typer.echo(f"registered     {reg.name} version {reg.version} -> @{decision.alias}: {decision.reason}")
    if summary.fallback:
        typer.echo(f"fallback       {summary.fallback.summary}")


def _print_sweep(summary: SweepSummary) -> None:
    typer.echo(f"\nMLflow run     {summary.parent_run_id} (experiment {summary.experiment_id}, the sweep's parent run)")
    for r in sorted(summary.trials, key=lambda r: (r.score, r.index)):
        mark = "best" if r.index == summary.best.index else ""
        typer.echo(f"trial {r.index:<4d}     score {r.score:.4f}  {r.seconds:6.1f} s  run {r.run_id}  {mark}")
    if summary.registered and summary.decision:
        reg, decision = summary.registered, summary.decision
        typer.echo(f"registered     {reg.name} version {reg.version} -> @{decision.alias}: {decision.reason}")
    if summary.fallback:
        typer.echo(f"fallback       {summary.fallback.summary}")


def _print_monitor(summary: MonitorSummary) -> None:
    for check in summary.checks:
        m, nan = check.metrics, float("nan")
        levels = [(k.removeprefix("realised_coverage_"), v) for k, v in m.items() if "coverage" in k]
        coverage = "".join(f", {level}% coverage {v:.2f}" for level, v in levels)
        promise = f"{check.promise.source} {check.promise.mase:.3f}" if check.promise.source else "none"
        typer.echo(
            f"version {check.version:<4} realised MASE {m.get('realised_mase', nan):.3f}, sMAPE "
            f"{m.get('realised_smape', nan):.2f}{coverage} on {check.points} points of {check.series} series; "
            f"promised {promise}"
        )
        drifted = len(summary.drifted.get(check.version, []))
        verdict = "; ".join(check.reasons) or "within the tolerances"
        typer.echo(f"             {verdict}; {drifted} series drifted; MLflow run {summary.run_ids[check.version]}")
    if not summary.checks:
        typer.echo("no forecasts have actuals yet: nothing to check")


def _print_forecast(summary: ForecastSummary) -> None:
    typer.echo(
        f"forecasts      {summary.rows} rows for {summary.series} series from "
        f"{summary.model.name} v{summary.model.version} -> {summary.path}"
    )


def _print_ui_hint(tracking_uri: str) -> None:
    if tracking_uri.startswith("sqlite:"):
        typer.echo(f"browse runs    {command('mlflow')} ui --backend-store-uri {tracking_uri}")
    else:
        typer.echo(f"browse runs    {tracking_uri}")
