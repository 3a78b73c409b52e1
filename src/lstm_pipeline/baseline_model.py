"""The fallback pyfunc, logged as code: a classic baseline that forecasts like the LSTM pyfunc.

Registered under the same name as the LSTM models when none of them beats seasonal naive
(`promotion.fallback: classic`), so batch forecasts keep flowing. It has no fitted state: its
only artifact is a JSON file naming the method (`seasonal_naive` or a statsforecast classic),
the season and the horizon; `predict` fits that method on each series' history it is given.
Input contract and output columns are the LSTM pyfunc's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

MAX_HORIZON = 10_000  # as `config.MAX_HORIZON`; the served model imports no config


class ClassicForecaster(PythonModel):
    """Forecast `params["horizon"]` steps (default: the model's horizon) for every series given."""

    def load_context(self, context: PythonModelContext) -> None:
        """Read the method and its settings once per process."""
        # Import everything predict needs now: the model's files may be gone once it is loaded.
        from lstm_pipeline import contract, crossval, forecasting  # noqa: F401

        state = json.loads(Path(context.artifacts["baseline"]).read_text(encoding="utf-8"))
        self.method = str(state["method"])
        self.season_length = int(state["season_length"])
        self.horizon = int(state["horizon"])
        self.min_history = int(state["min_history"])
        self.levels = [float(level) for level in state.get("interval_levels", [])]

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast from the history of each series in `model_input` (at least `min_history` points, no gaps)."""
        from lstm_pipeline.contract import check_series

        history = model_input.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        check_series(history, min_length=self.min_history, regular=True)
        horizon = int((params or {}).get("horizon") or self.horizon)
        if not 1 <= horizon <= MAX_HORIZON:  # `mlflow models serve` reaches here without the CLI's checks
            raise ValueError(f"horizon must be between 1 and {MAX_HORIZON} steps, got {horizon}")
        return forecast_classic(history, self.method, self.season_length, horizon, self.levels)


def forecast_classic(
    history: pd.DataFrame, method: str, season_length: int, horizon: int, levels: list[float]
) -> pd.DataFrame:
    """`unique_id, ds, yhat` (and interval bounds) with the future `ds` the LSTM forecasts would have."""
    from lstm_pipeline.crossval import classic_forecast
    from lstm_pipeline.forecasting import future_timestamps

    predicted = classic_forecast(
        history[["unique_id", "ds", "y"]], method, season_length=season_length, horizon=horizon, levels=levels
    )
    predicted = predicted.sort_values(["unique_id", "step"], kind="stable", ignore_index=True)
    ds = future_timestamps(history, horizon).reshape(-1)  # series in unique_id order, as `predicted`
    out = predicted.assign(unique_id=predicted["unique_id"].astype(str), ds=ds)  # str ids, as the LSTM's
    return out[["unique_id", "ds", *predicted.columns[2:]]]


mlflow.models.set_model(ClassicForecaster())
