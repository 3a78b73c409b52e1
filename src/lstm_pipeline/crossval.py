"""One cross-validation for every evaluation: forecasts from cutoffs, baselines beside them, one scorer.

`cross_validation` returns the long frame statsforecast's and neuralforecast's `cross_validation`
return, `unique_id, ds, cutoff, y, <one column per model>` (plus `fold`, the origin's number,
oldest first). The test part is one origin, a backtest several, the promotion gate's origins the
same ones again: all of them go through here and through `score`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from lstm_pipeline.errors import ConfigError

# (history, horizon) -> long forecasts `unique_id, ds, yhat`: what the pyfunc's predict does.
Forecaster = Callable[[pd.DataFrame, int], pd.DataFrame]
# history -> a forecaster fit on that history only.
Fit = Callable[[pd.DataFrame], Forecaster]

NAIVE_MODELS = ("naive", "seasonal_naive")
# statsforecast models that may sit beside the LSTM in every evaluation, by the name of their column.
CLASSIC_MODELS = ("AutoETS", "AutoTheta", "AutoARIMA")


def origins(*, windows: int, horizon: int, step: int | None = None) -> list[int]:
    """Points hidden at each origin, oldest first: origin i hides `horizon + (windows - 1 - i) * step`."""
    step = step or horizon
    return [horizon + (windows - 1 - i) * step for i in range(windows)]


def drop_last(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """`frame` without the last `points` rows of every series."""
    if points == 0:
        return frame
    return frame[frame.groupby("unique_id").cumcount(ascending=False) >= points].reset_index(drop=True)


def cross_validation(
    frame: pd.DataFrame,
    fit: Fit,
    *,
    hidden: Sequence[int],
    horizon: int,
    refit: Sequence[bool] | None = None,
    name: str = "model",
) -> pd.DataFrame:
    """Forecast `horizon` steps from each origin with a forecaster fit on the history before it.

    `hidden[i]` points of every series are hidden at origin i; `refit[i]` False reuses the last
    fit (default: fit at every origin). `frame` is sorted by `unique_id, ds`.
    """
    refit = list(refit) if refit is not None else [True] * len(hidden)
    forecaster: Forecaster | None = None
    folds = []
    for fold, (points, again) in enumerate(zip(hidden, refit, strict=True)):
        history = drop_last(frame, points)
        if again or forecaster is None:
            forecaster = fit(history)
        predicted = forecaster(history, horizon).rename(columns={"yhat": name})
        folds.append(_with_actuals(frame, history, predicted[["unique_id", "ds", name]], fold))
    return pd.concat(folds, ignore_index=True)


def _with_actuals(frame: pd.DataFrame, history: pd.DataFrame, predicted: pd.DataFrame, fold: int) -> pd.DataFrame:
    cutoffs = history.groupby("unique_id", sort=False)["ds"].last().rename("cutoff")
    rows = predicted.merge(cutoffs, left_on="unique_id", right_index=True, how="left")
    rows = rows.merge(frame[["unique_id", "ds", "y"]], on=["unique_id", "ds"], how="inner")
    return rows.assign(fold=fold)[["unique_id", "ds", "cutoff", "fold", "y", *predicted.columns[2:]]]


def add_baselines(
    cv: pd.DataFrame, frame: pd.DataFrame, *, season_length: int, classic: Sequence[str] = ()
) -> pd.DataFrame:
    """Add the naive and seasonal-naive forecasts (and any `CLASSIC_MODELS`) from the same cutoffs."""
    out = cv.copy()
    step = out.groupby(["unique_id", "cutoff"]).cumcount().to_numpy()
    out["naive"] = np.nan
    out["seasonal_naive"] = np.nan
    series = _by_series(frame)
    for (uid, cutoff), rows in out.groupby(["unique_id", "cutoff"], sort=False):
        past = _past(series[uid], cutoff)
        _require_season(str(uid), len(past), season_length)
        ahead = step[rows.index.to_numpy()]
        out.loc[rows.index, "naive"] = past[-1]
        # step h repeats the value one (or more) whole seasons before it
        lag = season_length * np.ceil((ahead + 1) / season_length).astype(int)
        out.loc[rows.index, "seasonal_naive"] = past[len(past) - lag + ahead]
    for model in classic:
        out[model] = _classic_forecasts(out, frame, model, season_length)
    return out


def _classic_forecasts(cv: pd.DataFrame, frame: pd.DataFrame, model: str, season_length: int) -> np.ndarray:
    """One statsforecast model, fit on each fold's history, aligned with the rows of `cv`."""
    if model not in CLASSIC_MODELS:
        raise ConfigError(f"unknown classic model {model!r}; choose from {list(CLASSIC_MODELS)}")
    values = np.full(len(cv), np.nan)
    for _, rows in cv.groupby("fold", sort=True):
        horizon = int(rows.groupby("unique_id").size().max())
        cutoffs = rows.groupby("unique_id")["cutoff"].first()
        history = frame.merge(cutoffs.rename("cutoff"), left_on="unique_id", right_index=True)
        history = history.loc[history["ds"] <= history["cutoff"], ["unique_id", "ds", "y"]]
        predicted = classic_forecast(history, model, season_length=season_length, horizon=horizon)
        step = rows.groupby("unique_id").cumcount().to_numpy()
        keyed = predicted.set_index(["unique_id", "step"])["yhat"]
        values[rows.index.to_numpy()] = keyed.reindex(list(zip(rows["unique_id"], step, strict=True))).to_numpy()
    return values


def classic_forecast(
    history: pd.DataFrame, method: str, *, season_length: int, horizon: int, levels: Sequence[float] = ()
) -> pd.DataFrame:
    """Fit one statsforecast model per series of `history` and forecast `horizon` steps.

    `method` is `seasonal_naive` or one of `CLASSIC_MODELS`. statsforecast sees each series on an
    integer grid, so any `ds` type works; the result is keyed by step number: `unique_id, step,
    yhat` and, for each of `levels` (percent), statsforecast's `yhat_lower_<L>` and `yhat_upper_<L>`.
    """
    from statsforecast import StatsForecast

    from lstm_pipeline.intervals import level_key

    model = _statsforecast_model(method, season_length)
    positions = history.assign(ds=history.groupby("unique_id").cumcount())
    predicted = StatsForecast(models=[model], freq=1).forecast(df=positions, h=horizon, level=list(levels) or None)
    predicted = predicted.reset_index() if "unique_id" not in predicted.columns else predicted
    alias = str(model.alias)  # type: ignore[attr-defined]
    names = {alias: "yhat"}
    for level in levels:
        names[f"{alias}-lo-{level}"] = f"yhat_lower_{level_key(level)}"
        names[f"{alias}-hi-{level}"] = f"yhat_upper_{level_key(level)}"
    predicted = predicted.rename(columns=names).assign(step=predicted.groupby("unique_id").cumcount())
    return predicted[["unique_id", "step", *names.values()]]


def _statsforecast_model(method: str, season_length: int) -> object:
    """The statsforecast model behind a method name (seasonal naive has its own, equal to our column)."""
    from statsforecast import models as sf_models

    if method == "seasonal_naive":
        return sf_models.SeasonalNaive(season_length=season_length)
    if method not in CLASSIC_MODELS:
        raise ConfigError(f"unknown classic model {method!r}; choose from {['seasonal_naive', *CLASSIC_MODELS]}")
    return getattr(sf_models, method)(season_length=season_length)


def score(cv: pd.DataFrame, frame: pd.DataFrame, *, season_length: int, models: Sequence[str]) -> pd.DataFrame:
    """Per series and model: MAE, RMSE, sMAPE (0-200), MAPE (%, positive series) and MASE.

    Each origin's MASE is scaled by the in-sample seasonal-naive MAE of the history before its own
    cutoff; a series' figure is the mean over its origins. Returns `unique_id, model, metric, value`.
    """
    from utilsforecast import losses

    models = list(models)
    scale = mase_scales(cv, frame, season_length)
    per_origin = {
        "mae": losses.mae(cv, models),
        "rmse": losses.rmse(cv, models),
        "smape": _times(losses.smape(cv, models), models, 200.0),
        "mape": _times(losses.mape(cv, models), models, 100.0),
    }
    mase = per_origin["mae"].merge(scale, on=["unique_id", "cutoff"])
    mase[models] = mase[models].div(mase["scale"], axis=0)
    per_origin["mase"] = mase.drop(columns="scale")
    positive = set(frame.groupby("unique_id")["y"].min().pipe(lambda low: low[low > 0]).index)
    rows = []
    for metric, table in per_origin.items():
        means = table.groupby("unique_id")[models].mean()
        if metric == "mape":
            means = means[means.index.isin(positive)]
        long = means.reset_index().melt(id_vars="unique_id", var_name="model", value_name="value")
        rows.append(long.assign(metric=metric))
    return pd.concat(rows, ignore_index=True)[["unique_id", "model", "metric", "value"]]


def summarize(scores: pd.DataFrame, *, prefix: str, reference: str = "model") -> dict[str, float]:
    """Mean over series as MLflow metric names: `<prefix>_mase` for `reference`, `<prefix>_<model>_mase` else."""
    means = scores.groupby(["model", "metric"])["value"].mean()
    names = [
        f"{prefix}_{metric}" if model == reference else f"{prefix}_{model}_{metric}" for model, metric in means.index
    ]
    return dict(zip(names, means.astype(float).tolist(), strict=True))


def _times(table: pd.DataFrame, models: list[str], factor: float) -> pd.DataFrame:
    table = table.copy()
    table[models] = table[models] * factor
    return table


def mase_scales(cv: pd.DataFrame, frame: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """`unique_id, cutoff, scale`: mean |y_t - y_(t-m)| over each series' history up to each cutoff."""
    rows, series = [], _by_series(frame)
    for uid, cutoff in cv[["unique_id", "cutoff"]].drop_duplicates().itertuples(index=False):
        past = _past(series[uid], cutoff)
        _require_season(str(uid), len(past), season_length)
        scale = float(np.mean(np.abs(past[season_length:] - past[:-season_length])))
        rows.append((uid, cutoff, scale if scale > 0 else np.nan))
    return pd.DataFrame(rows, columns=["unique_id", "cutoff", "scale"])


def _by_series(frame: pd.DataFrame) -> dict[object, tuple[np.ndarray, np.ndarray]]:
    """`unique_id -> (ds, y)` arrays, grouped once."""
    return {uid: (g["ds"].to_numpy(), g["y"].to_numpy("float64")) for uid, g in frame.groupby("unique_id", sort=False)}


def _past(series: tuple[np.ndarray, np.ndarray], cutoff: object) -> np.ndarray:
    """The values up to and including `cutoff` (`ds` is sorted)."""
    ds, y = series
    return y[: int(np.searchsorted(ds, np.asarray(cutoff, dtype=ds.dtype), side="right"))]


def _require_season(uid: str, points: int, season_length: int) -> None:
    if points <= season_length:
        raise ConfigError(
            f"evaluate.season_length ({season_length}) needs more history than series {uid!r} has "
            f"before a cutoff ({points} points); lower it or hold out less"
        )
