"""The Keras 3 LSTM, built from config: stacked LSTM layers, optional dropout, a Dense head."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lstm_pipeline.errors import ModelLoadError

if TYPE_CHECKING:
    import keras

    from lstm_pipeline.config import ModelConfig  # type only: a served model loads without the config


# Short sequences run faster as straight-line code than in a loop over timesteps (measured: ~1/3 off a
# warm fit at lookback 5); long ones would make the graph, its memory and its compile time grow.
UNROLL_UP_TO = 32


def build_model(cfg: ModelConfig, *, lookback: int, horizon: int, channels: int = 1, seed: int = 0) -> keras.Model:
    """`Input(lookback, channels) -> LSTM(units[0]) -> ... -> Dense(horizon)`; uncompiled.

    `channels` is 1 (the scaled y) plus a sin and a cos per calendar covariate.

    Every initializer and dropout gets its own seed derived from `seed`: otherwise Keras falls back
    on Python's global random state, which every thread in the process (Prefect's and MLflow's
    included) shares, so two trainings with the same seed could differ.
    Only built-in layers are used, so the saved `.keras` file loads with `safe_mode=True`.
    """
    import keras

    inputs = keras.Input(shape=(lookback, channels), name="history")
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
            unroll=lookback <= UNROLL_UP_TO,
            name=f"lstm_{depth}",
        )(x)
        if cfg.dropout > 0:
            x = keras.layers.Dropout(cfg.dropout, seed=layer_seed + 3, name=f"dropout_{depth}")(x)
    # A zero head makes the untrained forecast the anchor's baseline (the last level, or the trend
    # line), a strong start on small data; training learns the correction.
    head = "zeros" if cfg.zero_head else keras.initializers.GlorotUniform(seed=seed * 1000 + 999)
    outputs = keras.layers.Dense(horizon, kernel_initializer=head, name="forecast")(x)
    return keras.Model(inputs, outputs, name="lstm_forecaster")


class UnsafeModelError(ModelLoadError, ValueError):
    """A saved network that could run code when loaded: not `.keras`, a Lambda layer, a non-Keras class."""


# Keras serialises a Python function as one of these: loading it means running its byte code.
_CODE_CLASSES = frozenset({"Lambda", "__lambda__", "TFOpLambda"})


def load_network(path: str | Path) -> keras.Model:
    """Load a saved network; only the `.keras` format, only built-in Keras classes, with `safe_mode=True`.

    The archive's config is checked before Keras reads it (`check_network_file`), and safe mode
    stays on as a second guard: neither a Lambda layer nor a pickled function ever runs.
    """
    import keras

    check_network_file(path)
    return keras.saving.load_model(path, safe_mode=True)


def check_network_file(path: str | Path) -> None:
    """Raise UnsafeModelError unless `path` is a `.keras` archive made only of built-in Keras objects."""
    path = Path(path)
    if not path.is_file():  # a store that lost the file: nothing unsafe, just not there
        raise ModelLoadError(f"the model's network {path.name} is missing from its artifacts; retrain or restore it")
    if path.suffix != ".keras":
        raise UnsafeModelError(
            f"refusing to load {path}: only the .keras format is accepted (HDF5 and SavedModel files can carry code)"
        )
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise UnsafeModelError(f"refusing to load {path}: not a readable .keras archive ({exc})") from exc
    if unsafe := sorted(_unsafe_objects(config)):
        raise UnsafeModelError(
            f"refusing to load {path}: its config names {', '.join(unsafe)}; "
            "only built-in Keras layers are accepted (a Lambda or custom class runs code when loaded)"
        )


def _unsafe_objects(node: Any) -> set[str]:
    """Every serialised object in a Keras config that is a function or lives outside Keras."""
    found: set[str] = set()
    if isinstance(node, dict):
        name, module = node.get("class_name"), node.get("module")
        if isinstance(name, str) and (
            name in _CODE_CLASSES or (isinstance(module, str) and module != "keras" and not module.startswith("keras."))
        ):
            found.add(f"{module}.{name}" if isinstance(module, str) else name)
        for value in node.values():
            found |= _unsafe_objects(value)
    elif isinstance(node, list):
        for value in node:
            found |= _unsafe_objects(value)
    return found
