"""Multi-step forecasts for every series from its latest history, one batched model call per step block."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_pipeline.contract import series_frequency
from lstm_pipeline.errors import ConfigError, DataValidationError, OutputConflictError, TrainingDivergedError
from lstm_pipeline.recipe import Scaler

Predict = Callable[[np.ndarray], np.ndarray]
_MAX_BATCH = 8192


def predict_batched(model: object, X: np.ndarray) -> np.ndarray:
    """Run a Keras model on `X` with `predict_on_batch` (~0.6 ms a call vs ~47 ms for `predict`)."""
    outputs = [np.asarray(model.predict_on_batch(X[i : i + _MAX_BATCH])) for i in range(0, len(X), _MAX_BATCH)]  # type: ignore[attr-defined]
    return np.concatenate(outputs) if outputs else np.empty((0, 0), "float32")


def median_forecast(forecasts: list[pd.DataFrame]) -> pd.DataFrame:
    """Combine forecasts of the same rows (`unique_id, ds, yhat`, in the same order) by their median."""
    values = np.median(np.stack([f["yhat"].to_numpy("float64") for f in forecasts]), axis=0)
    return forecasts[0][["unique_id", "ds"]].assign(yhat=values)


def forecast(
    predict: Predict, history: pd.DataFrame, *, lookback: int, model_horizon: int, horizon: int, scaler: Scaler
) -> pd.DataFrame:
    """Forecast `horizon` steps after the last `ds` of every series in `history`.

    Beyond the model's own horizon, forecasts are fed back as inputs (recursive strategy), with the
    calendar covariates of the future timestamps they stand for; each block of `model_horizon`
    steps is one model call for all series together.
    Returns the long frame `unique_id, ds, yhat`.
    """
    latest = _latest_windows(history, lookback, scaler)
    values, dates = latest.values, latest.dates
    n_steps = math.ceil(horizon / model_horizon) * model_horizon
    future = [_future(last, step, n_steps) for last, step in zip(latest.last_ds, latest.steps, strict=True)]
    blocks: list[np.ndarray] = []
    for start in range(0, n_steps, model_horizon):
        X = scaler.inputs(values, dates)
        block = np.asarray(predict(X.astype("float32")), dtype="float64")[:, :model_horizon]
        if (base := scaler.baseline(values, model_horizon)) is not None:
            block = block + base[1]
        blocks.append(block)
        values = np.concatenate([values, block], axis=1)[:, -lookback:]
        if scaler.covariates:  # the fed-back steps' own timestamps
            ahead = np.stack([f[start : start + model_horizon] for f in future])
            dates = np.concatenate([dates, ahead], axis=1)[:, -lookback:]
    scaled = np.concatenate(blocks, axis=1)[:, :horizon]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(latest.uids, horizon),
            "ds": np.concatenate([f[:horizon] for f in future]),
            "yhat": scaler.restore(latest.uids, scaled, latest.cycles).reshape(-1),
        }
    )


@dataclass(frozen=True)
class LatestWindows:
    """Per series, in sorted order: the last `lookback` scaled values and timestamps, what follows them."""

    uids: np.ndarray
    values: np.ndarray  # float64[n, lookback]
    dates: np.ndarray  # [n, lookback]
    cycles: np.ndarray  # float64[n, season]: the seasonal part of the steps ahead (zeros without one)
    last_ds: list[object]
    steps: list[str]


def _latest_windows(history: pd.DataFrame, lookback: int, scaler: Scaler) -> LatestWindows:
    """The inputs of every series' next forecast; the whole history shapes its seasonal part."""
    uids, windows, dates, cycles, last_ds, steps = [], [], [], [], [], []
    for uid, group in history.groupby("unique_id", sort=True):
        if len(group) < max(lookback, 2):
            raise DataValidationError(
                f"rule 'enough history': series {uid!r} has {len(group)} points; the model needs {max(lookback, 2)}"
            )
        adjusted, cycle = scaler.adjust(str(uid), group["y"].to_numpy("float64"))
        uids.append(str(uid))
        windows.append(adjusted[-lookback:])
        cycles.append(cycle)
        dates.append(group["ds"].to_numpy()[-lookback:])
        last_ds.append(group["ds"].iloc[-1])
        steps.append(series_step(group["ds"]))
    return LatestWindows(
        np.array(uids, dtype=object), np.stack(windows), np.stack(dates), _stack_cycles(cycles), last_ds, steps
    )


def _stack_cycles(cycles: list[np.ndarray]) -> np.ndarray:
    """One row per series; a series too short for a seasonal part gets zeros of the common length."""
    width = max(len(c) for c in cycles)
    return np.stack([c if len(c) == width else np.zeros(width) for c in cycles])


def series_step(ds: pd.Series) -> str:
    """The step forecasts of a series advance by: its frequency in its latest 200 points, else 1."""
    return series_frequency(ds.iloc[-200:]) or "1"


def future_timestamps(ds: pd.Series, horizon: int) -> np.ndarray:
    """The `horizon` timestamps after a series' last `ds`, as every forecast of this package makes them."""
    return _future(ds.iloc[-1], series_step(ds), horizon)


def _future(last: object, step: str, horizon: int) -> np.ndarray:
    """The `horizon` timestamps after `last`, `step` apart (an integer step or an offset alias)."""
    if step.lstrip("-").isdigit():
        return np.asarray(last) + int(step) * np.arange(1, horizon + 1)
    dates = pd.date_range(start=pd.Timestamp(last), periods=horizon + 1, freq=step)  # type: ignore[arg-type, call-overload]
    return np.asarray(dates[1:])


def check_finite_forecasts(forecasts: pd.DataFrame, model: str) -> pd.DataFrame:
    """Raise TrainingDivergedError if any point forecast is NaN or infinite; NaN or inf is never written.

    Interval columns are not checked: they are NaN by design past the calibrated horizon.
    """
    bad = ~np.isfinite(forecasts["yhat"].to_numpy("float64"))
    if bad.any():
        series = sorted({str(uid) for uid in forecasts.loc[bad, "unique_id"]})
        raise TrainingDivergedError(
            f"{model} forecast {int(bad.sum())} NaN or infinite value(s) (series {series[:5]}); nothing was "
            "written. Its network has diverged or the history is far outside what it was trained on"
        )
    return forecasts


def slot_path(root: Path, store: str, model_name: str, version: str, as_of: str) -> Path:
    """Where one forecast slot lives: partitioned by MLflow store, model, version and as-of date.

    Version numbers are per store: without the store in the path, a team server's version 1 and
    the local store's version 1 would write the same file.
    """
    return root / f"store={store}" / model_name / f"version={version}" / f"as_of={as_of}" / "forecasts.parquet"


def store_id(tracking_uri: str) -> str:
    """A short, stable name for an MLflow store: 10 hex digits of the SHA-256 of its URI.

    Credentials in an http(s) URI and a trailing slash are left out, so every user of one server
    shares its id.
    """
    import hashlib
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(tracking_uri.strip())
    if parts.scheme in ("http", "https"):
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        tracking_uri = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return hashlib.sha256(tracking_uri.encode()).hexdigest()[:10]


def check_slot_free(path: Path, run_id: str) -> None:
    """Raise OutputConflictError if `path` holds forecasts of another training run (or something else).

    The same model version writing its slot again replaces it (a rerun or a retry); a different
    model (a store recreated from scratch reuses version numbers) never silently does.
    """
    if not path.exists():
        return
    try:
        held = set(pd.read_parquet(path, columns=["run_id"])["run_id"].astype(str))
    except Exception as exc:  # Arrow raises several unrelated types
        raise OutputConflictError(f"{path} exists but is not a forecast file ({exc}); move it away first") from None
    if held != {run_id}:
        raise OutputConflictError(
            f"{path} holds forecasts of training run(s) {sorted(held)}, not of run {run_id} that this model "
            "version comes from (was the MLflow store recreated?); move the old slot away to write it"
        )


def parse_as_of(as_of: str) -> date:
    """A forecast slot's date from `YYYY-MM-DD`; ConfigError otherwise."""
    try:
        return date.fromisoformat(as_of.strip())
    except ValueError:
        raise ConfigError(f"as_of {as_of!r} is not a date (YYYY-MM-DD)") from None


def history_as_of(history: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, int]:
    """The rows with `ds <= cutoff` (what was known then) and how many were left out.

    Integer steps carry no date: such a history is returned whole.
    """
    ds = history["ds"]
    if not pd.api.types.is_datetime64_any_dtype(ds):
        return history, 0
    tz = getattr(ds.dt, "tz", None)
    if tz is not None:
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
    elif cutoff.tzinfo is not None:
        cutoff = cutoff.tz_convert("UTC").tz_localize(None)
    keep = (ds <= cutoff).to_numpy()
    if len(history) and not keep.any():
        raise DataValidationError(
            f"rule 'history before as_of': no row is dated on or before {cutoff}; the history starts at {ds.min()}"
        )
    return history[keep].reset_index(drop=True), int((~keep).sum())


def write_figure(figure: object, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically, like the forecasts beside it."""
    return _atomic(path, lambda tmp: figure.savefig(tmp, format="png", dpi=100))  # type: ignore[attr-defined]


def write_forecasts(forecasts: pd.DataFrame, path: str | Path) -> Path:
    """Write Parquet atomically (a temporary file beside it, then a rename): never a partial file."""
    return _atomic(Path(path), lambda tmp: forecasts.to_parquet(tmp, index=False))


def _atomic(target: Path, write: Callable[[str], object]) -> Path:
    """Run `write` on a temporary file in the target's folder, then rename it over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes it owner-only; readers need it
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
