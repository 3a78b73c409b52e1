"""Trainer vs the seed: the same 600 gradient steps, timed both ways in one process.

Data: the seed's series (`sources.seed_sine`: sin(x/10) + N(0, 0.1), 100 points, no scaling)
cut into windows of 5 -> 1 with the seed's own loop, so all 95 windows train (nothing held out).
Reference: the seed's own model, `Sequential([LSTM(50, relu), Dense(1)])` compiled with adam/mse,
and its `model.fit(X, y, epochs=200, batch_size=32, verbose=0)` (200 epochs x 3 batches).
Candidate: the pipeline's `model.build_model` LSTM(50, relu) -> Dense(1) (unrolled: lookback 5) with
`training.compile_model` (adam 1e-3, mse, steps_per_execution from the steps per check) and
`training.fit` with TrainConfig(epochs=200, batch_size=32, epochs_per_check=200,
early_stopping_patience=None): one repeated tf.data pipeline, one Keras epoch of 600 steps.
Both start from the same initial weights.
Target: speed-up (reference seconds / candidate seconds) >= 5x, final training MSE comparable
(MSE of each trained model's predictions on the 95 windows; within a factor 1.5 of each other).

TensorFlow is warmed up once (a throwaway fit) before timing. "first call" = fit of a freshly built
model, tracing of its train function included (what the seed and the flow each pay);
"warm" = the same model fitted again after its weights and optimizer state are reset (no tracing).
3 rounds, interleaved, order alternating; medians are reported.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
from _common import command_of, median, quiet_tensorflow, result, timed

quiet_tensorflow()

import keras  # noqa: E402

from lstm_pipeline.config import ModelConfig, TrainConfig  # noqa: E402
from lstm_pipeline.model import build_model  # noqa: E402
from lstm_pipeline.sources import seed_sine  # noqa: E402
from lstm_pipeline.training import compile_model, fit  # noqa: E402
from lstm_pipeline.windowing import Windows  # noqa: E402

ROUNDS, LOOKBACK, SEED = 3, 5, 7
CFG = TrainConfig(epochs=200, batch_size=32, epochs_per_check=200, early_stopping_patience=None)


def seed_windows() -> tuple[np.ndarray, np.ndarray]:
    """The seed's windows: `X[i] = data[i:i+5]`, `y[i] = data[i+5]` for every i (95 of them)."""
    data = seed_sine(n_points=100, noise=0.1, seed=0)["y"].to_numpy()
    X = np.array([data[i : i + LOOKBACK] for i in range(len(data) - LOOKBACK)], dtype="float32")
    y = np.array([data[i + LOOKBACK] for i in range(len(data) - LOOKBACK)], dtype="float32")
    return X.reshape(-1, LOOKBACK, 1), y.reshape(-1, 1)


def new_model(seed_script: bool = False) -> keras.Model:
    keras.utils.set_random_seed(SEED)  # same initial weights for reference and candidate
    model = build_model(ModelConfig(units=[50], activation="relu"), lookback=LOOKBACK, horizon=1)
    compile_model(model, CFG, train_windows=95)
    if not seed_script:
        return model
    seed = keras.Sequential(
        [keras.Input((LOOKBACK, 1)), keras.layers.LSTM(50, activation="relu"), keras.layers.Dense(1)]
    )
    seed.compile(optimizer="adam", loss="mse")
    seed.set_weights(model.get_weights())
    return seed


def reset(model: keras.Model, weights: list[np.ndarray]) -> None:
    """Back to the initial weights and a fresh optimizer (step 0, zero moments; learning rate kept)."""
    model.set_weights(weights)
    for var in model.optimizer.variables:
        if "learning_rate" not in var.name:
            var.assign(np.zeros(var.shape, var.dtype))


def trainers(X: np.ndarray, y: np.ndarray) -> dict:
    """name -> (new_model keyword arguments, how the model is trained)."""
    train = Windows(X, y, pd.DataFrame({"unique_id": ["sine"] * len(X)}))
    empty = Windows(X[:0], y[:0], pd.DataFrame(columns=["unique_id", "cutoff"]))
    pipeline = partial(_pipeline_fit, train=train, empty=empty)
    return {
        "seed": ({"seed_script": True}, lambda m: m.fit(X, y, epochs=200, batch_size=32, verbose=0)),
        "trainer": ({}, pipeline),
    }


def _pipeline_fit(model: keras.Model, train: Windows, empty: Windows) -> object:
    return fit(model, train, empty, CFG)


def mse(model: keras.Model, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((np.asarray(model(X, training=False)) - y) ** 2))  # eager: no retracing


def measure(X: np.ndarray, y: np.ndarray) -> dict[str, dict[str, list[float]]]:
    runs = trainers(X, y)
    stats = {name: {"first": [], "warm": [], "mse": []} for name in runs}
    for rnd in range(ROUNDS):
        order = list(runs) if rnd % 2 == 0 else list(reversed(runs))
        for name in order:
            kwargs, train = runs[name]
            model = new_model(**kwargs)
            start = model.get_weights()
            first, _ = timed(partial(train, model))
            stats[name]["mse"].append(mse(model, X, y))
            reset(model, start)
            warm, _ = timed(partial(train, model))
            stats[name]["mse"].append(mse(model, X, y))
            stats[name]["first"] += [first]
            stats[name]["warm"] += [warm]
            print(f"round {rnd + 1} {name:14s} first call {first:6.2f} s   warm {warm:6.2f} s", flush=True)
    return stats


def main() -> None:
    X, y = seed_windows()
    warmup = new_model(seed_script=True)
    warmup.fit(X, y, epochs=1, batch_size=32, verbose=0)  # TensorFlow runtime start-up, not timed
    stats = measure(X, y)
    seed, trainer = stats["seed"], stats["trainer"]
    print(f"\n{len(X)} windows, 600 steps each; medians of {ROUNDS} rounds")
    for kind in ("first", "warm"):
        s, t = median(seed[kind]), median(trainer[kind])
        when = "first call" if kind == "first" else "warm"
        print(f"trainer vs seed, {when}: seed {s:.2f} s, trainer {t:.2f} s -> speed-up {s / t:.2f}x (target >= 5x)")
        result(
            f"trainer vs seed, fit, {when}",
            f"{t:.2f} s vs {s:.2f} s",
            s / t,
            ">= 5x",
            s / t >= 5,
            command_of("trainer_vs_seed.py"),
        )
    ms, mt = median(seed["mse"]), median(trainer["mse"])
    print(f"final training MSE: seed {ms:.4f}, trainer {mt:.4f} (trainer/seed {mt / ms:.2f})")
    result(
        "trainer vs seed, final training MSE",
        f"{mt:.4f} vs {ms:.4f}",
        mt / ms,
        "within 1.5x",
        1 / 1.5 <= mt / ms <= 1.5,
        command_of("trainer_vs_seed.py"),
    )


if __name__ == "__main__":
    main()
