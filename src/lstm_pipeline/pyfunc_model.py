"""The MLflow pyfunc, logged as code: raw history in (`unique_id, ds, y`), forecasts out.

MLflow loads this file with the model's artifacts: the `.keras` network (its config checked for
Lambda layers and non-Keras classes, then loaded with `safe_mode=True`) and a JSON file with the
window sizes and the per-series scaler. Nothing is unpickled: `registry.load` refuses a model
that is not logged from code before MLflow opens it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext


class LstmForecaster(PythonModel):
    """Forecast `params["horizon"]` steps (default: the model's horizon) for every series given."""

    def load_context(self, context: PythonModelContext) -> None:
        """Load the network and the preprocessing state once per process."""
        # Import everything predict needs now: the model's files may be gone once it is loaded.
        from lstm_pipeline import contract, forecasting, intervals  # noqa: F401
        from lstm_pipeline.model import load_network
        from lstm_pipeline.windowing import Scaler

        self.network = load_network(context.artifacts["keras_model"])
        state = json.loads(Path(context.artifacts["preprocessing"]).read_text(encoding="utf-8"))
        self.lookback, self.horizon = int(state["lookback"]), int(state["horizon"])
        self.scaler = Scaler.from_dict(state["scaler"])
        self.intervals = state.get("intervals") or {}  # level -> conformal quantile per step

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast from the latest `lookback` points of each series in `model_input`."""
        from lstm_pipeline.contract import check_series
        from lstm_pipeline.forecasting import forecast, predict_batched
        from lstm_pipeline.intervals import add_intervals

        history = model_input.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        check_series(history, min_length=self.lookback)
        horizon = int((params or {}).get("horizon") or self.horizon)
        forecasts = forecast(
            lambda X: predict_batched(self.network, X),
            history,
            lookback=self.lookback,
            model_horizon=self.horizon,
            horizon=horizon,
            scaler=self.scaler,
        )
        return add_intervals(forecasts, self.intervals, self.scaler.scale)


mlflow.models.set_model(LstmForecaster())
