"""Point-forecast metrics and the naive baselines every model is scored against on the same windows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lstm_pipeline.errors import ConfigError


def mae(y: np.ndarray, yhat: np.ndarray) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(y - yhat)))


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def smape(y: np.ndarray, yhat: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200); a point where both are 0 counts as a perfect 0."""
    denom = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(y - yhat), denom, out=np.zeros_like(denom, dtype="float64"), where=denom > 0)
    return float(200.0 * np.mean(ratio))


def mase(y: np.ndarray, yhat: np.ndarray, insample: np.ndarray, season_length: int) -> float:
    """MAE scaled by the in-sample MAE of the seasonal-naive forecast (1.0 = as good as it)."""
    scale = np.mean(np.abs(insample[season_length:] - insample[:-season_length]))
    return float(mae(y, yhat) / scale) if scale > 0 else float("nan")


def naive_forecast(history: np.ndarray, cutoffs: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value: row i forecasts the `horizon` steps after `cutoffs[i]`."""
    return np.repeat(history[cutoffs][:, np.newaxis], horizon, axis=1)


def seasonal_naive_forecast(history: np.ndarray, cutoffs: np.ndarray, horizon: int, season_length: int) -> np.ndarray:
    """Repeat the last observed season: step h takes the value one or more seasons before it."""
    steps = np.arange(1, horizon + 1)
    lag = season_length * np.ceil(steps / season_length).astype(int)
    positions = cutoffs[:, np.newaxis] + steps - lag
    return history[positions]


def score_forecasts(
    frame: pd.DataFrame, forecasts: pd.DataFrame, *, train_sizes: dict[str, int], season_length: int
) -> pd.DataFrame:
    """Score the model and both baselines per series on the model's own test windows.

    `forecasts` has one row per test window: `unique_id`, `cutoff` and `yhat` (an array of the
    horizon). Returns a tidy frame `unique_id, model, metric, value`.
    """
    rows = []
    for uid, group in frame.groupby("unique_id", sort=True):
        mine = forecasts[forecasts["unique_id"] == uid]
        if mine.empty:
            continue
        history = group["y"].to_numpy("float64")
        cutoffs = np.searchsorted(group["ds"].to_numpy(), mine["cutoff"].to_numpy())
        _check_season(str(uid), cutoffs, train_sizes[str(uid)], season_length)
        predictions = _predictions(history, cutoffs, np.stack(list(mine["yhat"])), season_length)
        actual = history[cutoffs[:, np.newaxis] + np.arange(1, predictions["model"].shape[1] + 1)]
        insample = history[: train_sizes[str(uid)]]
        for model, yhat in predictions.items():
            rows += _metric_rows(str(uid), model, actual, yhat, insample, season_length)
    return pd.DataFrame(rows, columns=["unique_id", "model", "metric", "value"])


def summarize(scores: pd.DataFrame) -> dict[str, float]:
    """Average per-series scores into MLflow metric names: `test_mase`, `test_naive_mase`, ..."""
    means = scores.groupby(["model", "metric"])["value"].mean()
    names = [f"test_{metric}" if model == "model" else f"test_{model}_{metric}" for model, metric in means.index]
    return dict(zip(names, means.astype(float).tolist(), strict=True))


def _predictions(
    history: np.ndarray, cutoffs: np.ndarray, model_yhat: np.ndarray, season_length: int
) -> dict[str, np.ndarray]:
    horizon = model_yhat.shape[1]
    return {
        "model": model_yhat,
        "naive": naive_forecast(history, cutoffs, horizon),
        "seasonal_naive": seasonal_naive_forecast(history, cutoffs, horizon, season_length),
    }


def _metric_rows(
    uid: str, model: str, y: np.ndarray, yhat: np.ndarray, insample: np.ndarray, season_length: int
) -> list[tuple[str, str, str, float]]:
    values = {
        "mae": mae(y, yhat),
        "rmse": rmse(y, yhat),
        "smape": smape(y, yhat),
        "mase": mase(y, yhat, insample, season_length),
    }
    return [(uid, model, metric, value) for metric, value in values.items()]


def _check_season(uid: str, cutoffs: np.ndarray, train_size: int, season_length: int) -> None:
    if train_size <= season_length or int(cutoffs.min()) + 1 < season_length:
        raise ConfigError(
            f"evaluate.season_length ({season_length}) needs more history than series {uid!r} "
            f"has before its test part ({train_size} training points); lower it"
        )
