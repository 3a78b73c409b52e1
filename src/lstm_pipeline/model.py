"""The Keras 3 LSTM, built from config: stacked LSTM layers, optional dropout, a Dense head."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from lstm_pipeline.config import ModelConfig

if TYPE_CHECKING:
    import keras


def build_model(cfg: ModelConfig, *, lookback: int, horizon: int, seed: int = 0) -> keras.Model:
    """`Input(lookback, 1) -> LSTM(units[0]) -> ... -> Dense(horizon)`; uncompiled.

    Every initializer and dropout gets its own seed derived from `seed`: otherwise Keras falls back
    on Python's global random state, which every thread in the process (Prefect's and MLflow's
    included) shares, so two trainings with the same seed could differ.
    Only built-in layers are used, so the saved `.keras` file loads with `safe_mode=True`.
    """
    import keras

    inputs = keras.Input(shape=(lookback, 1), name="history")
    x = inputs
    for depth, units in enumerate(cfg.units):
        layer_seed = seed * 1000 + 10 * depth
        x = keras.layers.LSTM(
            units,
            activation=cfg.activation,
            return_sequences=depth < len(cfg.units) - 1,
            kernel_initializer=keras.initializers.GlorotUniform(seed=layer_seed),
            recurrent_initializer=keras.initializers.Orthogonal(seed=layer_seed + 1),
            seed=layer_seed + 2,
            name=f"lstm_{depth}",
        )(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, seed=layer_seed + 3, name=f"dropout_{depth}")(x)
    head = keras.initializers.GlorotUniform(seed=seed * 1000 + 999)
    outputs = keras.layers.Dense(horizon, kernel_initializer=head, name="forecast")(x)
    return keras.Model(inputs, outputs, name="lstm_forecaster")


def load_network(path: str | Path) -> keras.Model:
    """Load a saved network; only the `.keras` format, and only with `safe_mode=True`.

    Safe mode refuses to deserialize arbitrary code (Lambda layers, pickled functions).
    """
    import keras

    if Path(path).suffix != ".keras":
        raise ValueError(f"refusing to load {path}: only the .keras format is accepted")
    return keras.saving.load_model(path, safe_mode=True)
