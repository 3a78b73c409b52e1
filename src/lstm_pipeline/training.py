"""Seeding, the tf.data input pipeline and `fit` with early stopping on the validation windows."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lstm_pipeline.config import ModelConfig, PipelineConfig, TrainConfig, WindowConfig

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from lstm_pipeline.windowing import WindowedData, Windows


@dataclass(frozen=True)
class TrainingResult:
    """What a fit did: losses per check (`epochs_per_check` passes each) and how long it took."""

    loss: list[float]
    val_loss: list[float]
    epochs_per_check: int
    steps: int
    best_check: int | None
    seconds: float


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic, so a rerun gives equal weights."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def train_dataset(windows: Windows, *, batch_size: int, seed: int) -> tf.data.Dataset:
    """Shuffle each pass, batch like `fit(x, y)` would (a short last batch), and repeat forever.

    One repeated pipeline lets `fit` run many passes per Keras epoch, which removes the ~40 ms of
    per-epoch overhead that dominates small data sets. Like Keras does for numpy input, a pass
    shuffles one index vector and gathers whole batches: no per-window work, and no shuffle buffer
    holding a second copy of the windows.
    """
    import tensorflow as tf

    X, y, n = tf.constant(windows.X), tf.constant(windows.y), len(windows)
    full = n // batch_size * batch_size

    def one_pass(_: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.shuffle(tf.range(n, dtype=tf.int64), seed=seed)
        batches = tf.data.Dataset.from_tensor_slices(tf.reshape(order[:full], (-1, batch_size)))
        if full < n:
            batches = batches.concatenate(tf.data.Dataset.from_tensors(order[full:]))
        return batches

    data = tf.data.Dataset.range(1).repeat().flat_map(one_pass)
    data = data.map(lambda i: (tf.gather(X, i), tf.gather(y, i)), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_optimization.apply_default_optimizations = False  # measured: they only add overhead here
    return data.prefetch(tf.data.AUTOTUNE).with_options(options)


def schedule(train_windows: int, cfg: TrainConfig) -> TrainConfig:
    """`cfg` with fewer passes when `epochs` of them would exceed `max_steps` gradient steps.

    200 passes over 100 windows are 800 steps; over 4,000 windows (a year of half-hours) they are
    25,000, which costs minutes per network and buys nothing a few passes over that much data do
    not. There are as many validation checks or more, so early stopping keeps its meaning.
    """
    steps_per_pass = math.ceil(train_windows / cfg.batch_size)
    if cfg.max_steps is None or cfg.epochs * steps_per_pass <= cfg.max_steps:
        return cfg
    epochs = max(1, cfg.max_steps // steps_per_pass)
    checks = math.ceil(cfg.epochs / cfg.epochs_per_check)
    return cfg.model_copy(update={"epochs": epochs, "epochs_per_check": max(1, epochs // checks)})


def steps_per_execution(train_windows: int, cfg: TrainConfig, most: int = 100) -> int:
    """Gradient steps per compiled call: the largest divisor of the steps per check up to `most`.

    Fewer Python round trips per step; it must divide the steps per check because Keras advances
    an epoch in whole executions, and on a repeated dataset a remainder would train extra steps.
    """
    steps_per_check = math.ceil(train_windows / cfg.batch_size) * cfg.epochs_per_check
    return max(d for d in range(1, min(most, steps_per_check) + 1) if steps_per_check % d == 0)


def compile_model(model: keras.Model, cfg: TrainConfig, *, train_windows: int) -> None:
    """Attach the optimizer and loss from config, with `steps_per_execution` for `train_windows` windows."""
    import keras

    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    model.compile(
        optimizer=optimizers[cfg.optimizer](learning_rate=cfg.learning_rate),
        loss=cfg.loss,
        steps_per_execution=steps_per_execution(train_windows, cfg),
    )


def fit(model: keras.Model, train: Windows, val: Windows, cfg: TrainConfig) -> TrainingResult:
    """Train a compiled model for `cfg.epochs` passes, keeping the weights of the best check."""
    import keras

    steps_per_pass = math.ceil(len(train) / cfg.batch_size)
    checks = math.ceil(cfg.epochs / cfg.epochs_per_check)
    callbacks = []
    if cfg.early_stopping_patience is not None and len(val) > 0:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=cfg.early_stopping_patience, restore_best_weights=True
            )
        )
    started = time.perf_counter()
    history = model.fit(
        train_dataset(train, batch_size=cfg.batch_size, seed=cfg.seed),
        epochs=checks,
        steps_per_epoch=steps_per_pass * cfg.epochs_per_check,
        validation_data=(val.X, val.y) if len(val) else None,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself each pass
        verbose=0,
    ).history
    val_loss = [float(v) for v in history.get("val_loss", [])]
    return TrainingResult(
        loss=[float(v) for v in history["loss"]],
        val_loss=val_loss,
        epochs_per_check=cfg.epochs_per_check,
        steps=len(history["loss"]) * steps_per_pass * cfg.epochs_per_check,
        best_check=int(np.argmin(val_loss)) if val_loss else None,
        seconds=time.perf_counter() - started,
    )


def train_network(
    data: WindowedData, window: WindowConfig, model_cfg: ModelConfig, train: TrainConfig
) -> tuple[keras.Model, TrainingResult]:
    """Seed, build, compile and fit the configured LSTM; return the network and what the fit did."""
    from lstm_pipeline.model import build_model

    seed_everything(train.seed)
    train = schedule(len(data.train), train)
    channels = int(data.train.X.shape[-1])  # y, then a sin and a cos per calendar covariate
    model = build_model(model_cfg, lookback=window.lookback, horizon=window.horizon, channels=channels, seed=train.seed)
    compile_model(model, train, train_windows=len(data.train))
    return model, fit(model, data.train, data.val, train)


def train_and_save(data: WindowedData, cfg: PipelineConfig, path: str | Path) -> TrainingResult:
    """Train the configured LSTM (`train_network`), then save it to `path` (`.keras`)."""
    model, result = train_network(data, cfg.window, cfg.model, cfg.train)
    model.save(path)
    return result
