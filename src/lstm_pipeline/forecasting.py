"""Multi-step forecasts for every series from its latest history, one batched model call per step block."""

from __future__ import annotations

import math
import os
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from lstm_pipeline.errors import ConfigError, DataValidationError, OutputConflictError, TrainingDivergedError
from lstm_pipeline.panel import Panel
from lstm_pipeline.recipe import Scaler
from lstm_pipeline.seasonality import seasonal_component

Predict = Callable[[np.ndarray], np.ndarray]
_MAX_BATCH = 8192
_CALLED: weakref.WeakSet[object] = weakref.WeakSet()  # models predict_batched has run once


def predict_batched(model: object, X: np.ndarray) -> np.ndarray:
    """Run a Keras model on `X` with `predict_on_batch` (~0.6 ms a call vs ~47 ms for `predict`).

    A model's first call runs eagerly instead: tracing `predict_on_batch`'s graph costs ~0.2 s
    (measured, an LSTM of 50 units), which a one-off forecast, such as a cold `lstm-pipeline
    forecast` with six networks, never earns back; from the second call on the graph is traced
    and reused. Both give the same numbers.
    """
    if model not in _CALLED and 0 < len(X) <= _MAX_BATCH:
        _CALLED.add(model)
        return np.asarray(model(X, training=False))  # type: ignore[operator]
    outputs = [np.asarray(model.predict_on_batch(X[i : i + _MAX_BATCH])) for i in range(0, len(X), _MAX_BATCH)]  # type: ignore[attr-defined]
    return np.concatenate(outputs) if outputs else np.empty((0, 0), "float32")


def median_forecast(forecasts: list[pd.DataFrame]) -> pd.DataFrame:
    """Combine forecasts of the same rows (`unique_id, ds, yhat`, in the same order) by their median."""
    values = np.median(np.stack([f["yhat"].to_numpy("float64") for f in forecasts]), axis=0)
    return forecasts[0][["unique_id", "ds"]].assign(yhat=values)


def forecast(
    predict: Predict,
    history: pd.DataFrame | Panel,
    *,
    lookback: int,
    model_horizon: int,
    horizon: int,
    scaler: Scaler,
) -> pd.DataFrame:
    """Forecast `horizon` steps after the last `ds` of every series in `history`.

    Beyond the model's own horizon, forecasts are fed back as inputs (recursive strategy), with the
    calendar covariates of the future timestamps they stand for; each block of `model_horizon`
    steps is one model call for all series together. `history` may come as its `Panel`, built
    once when several members forecast the same history.
    Returns the long frame `unique_id, ds, yhat`.
    """
    panel = history if isinstance(history, Panel) else Panel(history)
    latest = _latest_windows(panel, lookback, scaler)
    values, dates = latest.values, latest.dates
    n_steps = math.ceil(horizon / model_horizon) * model_horizon
    future = panel.future(n_steps)
    blocks: list[np.ndarray] = []
    for start in range(0, n_steps, model_horizon):
        X = scaler.inputs(values, dates)
        block = np.asarray(predict(X.astype("float32")), dtype="float64")[:, :model_horizon]
        if (base := scaler.baseline(values, model_horizon)) is not None:
            block = block + base[1]
        blocks.append(block)
        values = np.concatenate([values, block], axis=1)[:, -lookback:]
        if scaler.covariates:  # the fed-back steps' own timestamps
            dates = np.concatenate([dates, future[:, start : start + model_horizon]], axis=1)[:, -lookback:]
    scaled = np.concatenate(blocks, axis=1)[:, :horizon]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(panel.uids, horizon),
            "ds": future[:, :horizon].reshape(-1),
            "yhat": scaler.restore(panel.uids, scaled, latest.cycles).reshape(-1),
        }
    )


@dataclass(frozen=True)
class LatestWindows:
    """Per series, in `Panel` order: the last `lookback` scaled values and timestamps, the cycle after them."""

    values: np.ndarray  # float64[n, lookback]
    dates: np.ndarray  # [n, lookback]
    cycles: np.ndarray  # float64[n, season]: the seasonal part of the steps ahead (zeros without one)


def _latest_windows(panel: Panel, lookback: int, scaler: Scaler) -> LatestWindows:
    """The inputs of every series' next forecast; the whole history shapes its seasonal part."""
    _refuse_unusable(panel, max(lookback, 2), scaler)
    rows = panel.latest(lookback)
    loc, scale = scaler.params(panel.uids)
    seasonal, cycles = _seasonal(panel, scaler, lookback)
    values = (scaler.forward(panel.y[rows]) - seasonal - loc[:, np.newaxis]) / scale[:, np.newaxis]
    return LatestWindows(values, panel.dates(rows), cycles)


def _refuse_unusable(panel: Panel, need: int, scaler: Scaler) -> None:
    """Raise what a loop over the series in order would raise first: too short, unknown, outside log1p's domain."""
    if not len(panel):
        raise DataValidationError("rule 'at least one series': the history has no rows")
    outside = panel.per_series(scaler.out_of_domain(panel.y)) > 0
    bad = (panel.lengths < need) | ~scaler.knows(panel.uids) | outside
    if not bad.any():
        return
    i = int(np.argmax(bad))
    if panel.lengths[i] < need:
        raise DataValidationError(
            f"rule 'enough history': series {panel.key(i)!r} has {int(panel.lengths[i])} points; the model needs {need}"
        )
    scaler.adjust(panel.uids[i], panel.y[panel.rows_of(i)])  # raises the unknown-series or log-domain error


def _seasonal(panel: Panel, scaler: Scaler, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Per series, the seasonal part at its last `lookback` points and the cycle after them (zeros without one).

    Members with the same transform and season share one fit per history (`Panel.memo`).
    """
    if scaler.season_length < 2:
        return np.zeros((len(panel), lookback)), np.zeros((len(panel), 1))
    key = ("seasonal", scaler.value_transform, scaler.season_length, lookback)
    return panel.memo(key, lambda: _fit_seasonal(panel, scaler, lookback))  # type: ignore[no-any-return]


def _fit_seasonal(panel: Panel, scaler: Scaler, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """STL is one fit per series: only the series with two full seasons get one."""
    m = scaler.season_length
    seasonal, cycles = np.zeros((len(panel), lookback)), np.zeros((len(panel), m))
    for i in np.flatnonzero(panel.lengths >= 2 * m).tolist():
        part, cycles[i] = seasonal_component(scaler.forward(panel.y[panel.rows_of(i)]), m)
        seasonal[i] = part[-lookback:]
    return seasonal, cycles


def future_timestamps(history: pd.DataFrame | Panel, horizon: int) -> np.ndarray:
    """[n, horizon]: the timestamps after each series' last `ds` (series in `unique_id` order).

    Every forecast of this package makes them this way: each series steps by its own step.
    """
    return (history if isinstance(history, Panel) else Panel(history)).future(horizon)


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
