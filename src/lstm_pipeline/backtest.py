"""Rolling-origin backtests: at each origin, fit on the past only, forecast ahead, score against baselines.

Fold `i` hides the last `horizon + (windows - 1 - i) * step` points of every series. The network
and the scaler of a fold are fit on what is left (minus its validation part), so a fold never sees
its own future. The scored errors also give split-conformal intervals (`intervals.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig
from lstm_pipeline.errors import ConfigError, DataValidationError
from lstm_pipeline.forecasting import Predict, forecast, predict_batched
from lstm_pipeline.intervals import conformal_quantiles, interval_coverage
from lstm_pipeline.metrics import mae, seasonal_naive_forecast, smape
from lstm_pipeline.windowing import Scaler, make_windows, min_history

BASELINES = ("naive", "seasonal_naive")


@dataclass(frozen=True)
class FoldPlan:
    """Where the folds are: points hidden per fold (oldest origin first), horizon, and which folds refit."""

    hidden: list[int]
    horizon: int
    refit: list[bool]


@dataclass(frozen=True)
class Fitted:
    """A fold's network (as a predict function) and the scaler fit with it."""

    predict: Predict
    scaler: Scaler


# (fold frame, config) -> Fitted: trains on everything but the fold's last `horizon` points.
Trainer = Callable[[pd.DataFrame, PipelineConfig, int], Fitted]


@dataclass(frozen=True)
class BacktestResult:
    """Every scored point, the summary metrics, and the conformal quantiles per horizon step.

    `errors` has one row per series, fold and step: `unique_id, fold, cutoff, step, ds, y`, the
    forecasts of the model and each baseline, `scale` (the fold's in-sample seasonal-naive MAE,
    MASE's denominator) and `y_scale` (the fold's scaler scale, the unit of the conformal scores).
    """

    errors: pd.DataFrame
    metrics: dict[str, float]
    quantiles: dict[str, list[float]]
    notes: list[str]

    def by_step(self) -> pd.DataFrame:
        """Mean scaled error per horizon step for the model and each baseline (MASE per step)."""
        return _scaled(self.errors).groupby("step")[["model", *BASELINES]].mean()

    def by_series(self) -> pd.DataFrame:
        """MASE per series for the model and each baseline."""
        return _scaled(self.errors).groupby("unique_id")[["model", *BASELINES]].mean()

    def by_fold(self) -> pd.DataFrame:
        """MASE per fold for the model and each baseline."""
        return _scaled(self.errors).groupby("fold")[["model", *BASELINES]].mean()


def plan_folds(cfg: PipelineConfig) -> FoldPlan:
    """The fold layout `cfg.backtest` asks for."""
    b = cfg.backtest
    if b.windows < 1:
        raise ConfigError("backtest.windows must be at least 1 to run a backtest")
    horizon = b.horizon or cfg.window.horizon
    step = b.step or horizon
    hidden = [horizon + (b.windows - 1 - i) * step for i in range(b.windows)]
    refit = [i == 0 or (b.refit > 0 and i % b.refit == 0) for i in range(b.windows)]
    return FoldPlan(hidden, horizon, refit)


def run_backtest(frame: pd.DataFrame, cfg: PipelineConfig, trainer: Trainer | None = None) -> BacktestResult:
    """Backtest the configured LSTM on `frame` (validated, sorted by `unique_id, ds`)."""
    plan = plan_folds(cfg)
    _check_history(frame, cfg, plan)
    train = trainer or train_fold
    fitted: Fitted | None = None
    folds = []
    for number, (hidden, refit) in enumerate(zip(plan.hidden, plan.refit, strict=True)):
        fold_frame = drop_last(frame, hidden - plan.horizon)
        if refit or fitted is None:
            fitted = train(fold_frame, cfg, plan.horizon)
        folds.append(score_fold(number, fold_frame, fitted, cfg, plan.horizon))
    errors = pd.concat(folds, ignore_index=True)
    quantiles, notes = conformal_quantiles(errors, cfg.backtest.interval_levels)
    return BacktestResult(errors, summarize(errors, cfg.backtest.interval_levels), quantiles, notes)


def drop_last(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """`frame` without the last `points` rows of every series."""
    if points == 0:
        return frame
    return frame[frame.groupby("unique_id").cumcount(ascending=False) >= points].reset_index(drop=True)


def train_fold(fold_frame: pd.DataFrame, cfg: PipelineConfig, horizon: int) -> Fitted:
    """Fit scaler and network on `fold_frame` minus its last `horizon` points (and its validation part)."""
    from lstm_pipeline.training import train_network

    window = cfg.window.model_copy(update={"test_size": horizon})
    data = make_windows(fold_frame, window)
    network, _ = train_network(data, cfg)
    return Fitted(lambda X: predict_batched(network, X), data.scaler)


def score_fold(
    number: int, fold_frame: pd.DataFrame, fitted: Fitted, cfg: PipelineConfig, horizon: int
) -> pd.DataFrame:
    """Forecast the fold's last `horizon` points from the history before them; one row per point."""
    history = drop_last(fold_frame, horizon)
    predicted = forecast(
        fitted.predict,
        history,
        lookback=cfg.window.lookback,
        model_horizon=cfg.window.horizon,
        horizon=horizon,
        scaler=fitted.scaler,
    )
    actual = fold_frame.groupby("unique_id", sort=True).tail(horizon)
    rows = []
    for (uid, past), (_, ahead), (_, mine) in zip(
        history.groupby("unique_id", sort=True),
        actual.groupby("unique_id", sort=True),
        predicted.groupby("unique_id", sort=True),
        strict=True,
    ):
        rows.append(_fold_rows(str(uid), number, past, ahead, mine, fitted.scaler, cfg.evaluate.season_length))
    return pd.concat(rows, ignore_index=True)


def summarize(errors: pd.DataFrame, levels: list[float]) -> dict[str, float]:
    """MLflow metrics: `backtest_mase` (model) and per baseline, MAE, sMAPE, interval coverage and width."""
    per_series = _scaled(errors).groupby("unique_id")[["model", *BASELINES]].mean().mean()
    metrics = {"backtest_mase": float(per_series["model"])}
    metrics |= {f"backtest_{name}_mase": float(per_series[name]) for name in BASELINES}
    y, yhat = errors["y"].to_numpy(), errors["model"].to_numpy()
    metrics |= {"backtest_mae": mae(y, yhat), "backtest_smape": smape(y, yhat)}
    for level in levels:
        if (measured := interval_coverage(errors, level)) is not None:
            coverage, width = measured
            metrics[f"interval_coverage_{level:g}"] = coverage
            metrics[f"interval_width_{level:g}"] = width
    return metrics


def _fold_rows(
    uid: str,
    fold: int,
    past: pd.DataFrame,
    ahead: pd.DataFrame,
    mine: pd.DataFrame,
    scaler: Scaler,
    season_length: int,
) -> pd.DataFrame:
    history = past["y"].to_numpy("float64")
    horizon = len(ahead)
    cutoff = np.array([len(history) - 1])
    seasonal = seasonal_naive_forecast(history, cutoff, horizon, season_length)[0]
    scale = np.mean(np.abs(history[season_length:] - history[:-season_length]))
    return pd.DataFrame(
        {
            "unique_id": uid,
            "fold": fold,
            "cutoff": past["ds"].iloc[-1],
            "step": np.arange(1, horizon + 1),
            "ds": ahead["ds"].to_numpy(),
            "y": ahead["y"].to_numpy("float64"),
            "model": mine["yhat"].to_numpy("float64"),
            "naive": np.repeat(history[-1], horizon),
            "seasonal_naive": seasonal,
            "scale": scale if scale > 0 else np.nan,
            "y_scale": scaler.scale[uid],
        }
    )


def _scaled(errors: pd.DataFrame) -> pd.DataFrame:
    """Absolute errors over MASE's denominator, per point, with the grouping columns kept."""
    scaled = errors[["unique_id", "fold", "step"]].copy()
    for name in ("model", *BASELINES):
        scaled[name] = np.abs(errors["y"] - errors[name]) / errors["scale"]
    return scaled


def _check_history(frame: pd.DataFrame, cfg: PipelineConfig, plan: FoldPlan) -> None:
    """Fold 0 must leave every series enough points to train (windows + validation) and to score MASE."""
    need = min_history(cfg.window.model_copy(update={"test_size": plan.horizon})) + plan.hidden[0] - plan.horizon
    need = max(need, cfg.evaluate.season_length + plan.hidden[0] + 1)
    sizes = frame.groupby("unique_id").size()
    if not (short := sizes[sizes < need]).empty:
        raise DataValidationError(
            f"rule 'enough history': the backtest needs {need} points per series "
            f"(lookback + horizon + val_size + the hidden folds, and a season before the first origin); "
            f"too short: {dict(short.head(5))}"
        )
