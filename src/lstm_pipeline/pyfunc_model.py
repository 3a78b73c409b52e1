"""The MLflow pyfunc, logged as code: raw history in (`unique_id, ds, y`), forecasts out.

MLflow loads this file with the model's artifacts: the `.keras` network (its config checked for
Lambda layers and non-Keras classes, then loaded with `safe_mode=True`) and a JSON file with the
window sizes and the per-series scaler. Nothing is unpickled: `registry.load` refuses a model
that is not logged from code before MLflow opens it.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext

MAX_HORIZON = 10_000  # as `config.MAX_HORIZON`; the served model imports no config


class LstmForecaster(PythonModel):
    """Forecast `params["horizon"]` steps (default: the model's horizon) for every series given.

    A version holds one or more networks (an ensemble); its forecast is their median, step by step.
    """

    def load_context(self, context: PythonModelContext) -> None:
        """Load the networks and their preprocessing state once per process."""
        # Import everything predict needs now: the model's files may be gone once it is loaded.
        from lstm_pipeline import contract, forecasting, intervals, panel  # noqa: F401
        from lstm_pipeline.model import load_network
        from lstm_pipeline.recipe import Scaler

        state = json.loads(Path(context.artifacts["preprocessing"]).read_text(encoding="utf-8"))
        members = state.get("members") or [state]  # a one-network model logged before ensembles
        self.members = [
            (
                load_network(context.artifacts[_network_key(i)]),
                int(m["lookback"]),
                int(m["horizon"]),
                Scaler.from_dict(m["scaler"]),
            )
            for i, m in enumerate(members)
        ]
        self.lookback = max(lookback for _, lookback, _, _ in self.members)
        self.horizon = int(state["horizon"])
        self.season_length = int(state.get("season_length", 1))
        self.intervals = state.get("intervals") or {}  # level -> conformal quantile per step

    def predict(
        self, context: PythonModelContext, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Forecast from the history of each series in `model_input` (at least `lookback` points)."""
        from lstm_pipeline.contract import check_series
        from lstm_pipeline.forecasting import forecast, median_forecast, predict_batched
        from lstm_pipeline.intervals import add_intervals, history_scales
        from lstm_pipeline.panel import Panel

        history = model_input.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
        check_series(history, min_length=self.lookback)
        horizon = int((params or {}).get("horizon") or self.horizon)
        if not 1 <= horizon <= MAX_HORIZON:  # `mlflow models serve` reaches here without the CLI's checks
            raise ValueError(f"horizon must be between 1 and {MAX_HORIZON} steps, got {horizon}")
        panel = Panel(history)  # laid out once for every member
        forecasts = median_forecast(
            [
                forecast(
                    partial(predict_batched, network),
                    panel,
                    lookback=lookback,
                    model_horizon=model_horizon,
                    horizon=horizon,
                    scaler=scaler,
                )
                for network, lookback, model_horizon, scaler in self.members
            ]
        )
        if not self.intervals:
            return forecasts
        return add_intervals(forecasts, self.intervals, history_scales(history, self.season_length))


def _network_key(member: int) -> str:
    """The artifact name of a member's network: `keras_model`, `keras_model_1`, ..."""
    return "keras_model" if member == 0 else f"keras_model_{member}"


mlflow.models.set_model(LstmForecaster())
