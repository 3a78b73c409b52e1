"""The Keras 3 LSTM, built from config: stacked LSTM layers, optional dropout, a Dense head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lstm_pipeline.config import ModelConfig

if TYPE_CHECKING:
    import keras


def build_model(cfg: ModelConfig, *, lookback: int, horizon: int) -> keras.Model:
    """`Input(lookback, 1) -> LSTM(units[0]) -> ... -> Dense(horizon)`; uncompiled.

    Only built-in layers are used, so the saved `.keras` file loads with `safe_mode=True`.
    """
    import keras

    inputs = keras.Input(shape=(lookback, 1), name="history")
    x = inputs
    for depth, units in enumerate(cfg.units):
        last = depth == len(cfg.units) - 1
        x = keras.layers.LSTM(units, activation=cfg.activation, return_sequences=not last, name=f"lstm_{depth}")(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, name=f"dropout_{depth}")(x)
    outputs = keras.layers.Dense(horizon, name="forecast")(x)
    return keras.Model(inputs, outputs, name="lstm_forecaster")


def load_network(path: str | Path) -> keras.Model:
    """Load a saved network; only the `.keras` format, and only with `safe_mode=True`.

    Safe mode refuses to deserialize arbitrary code (Lambda layers, pickled functions).
    """
    import keras

    if Path(path).suffix != ".keras":
        raise ValueError(f"refusing to load {path}: only the .keras format is accepted")
    return keras.saving.load_model(path, safe_mode=True)
