import hashlib

import numpy as np
import pytest

from lstm_pipeline.config import load_config
from lstm_pipeline.forecasting import predict_batched
from lstm_pipeline.model import build_model, load_network
from lstm_pipeline.training import compile_model, fit, train_and_save, train_dataset
from tests.integration.conftest import TINY

pytestmark = pytest.mark.integration


def weights_digest(path) -> str:
    digest = hashlib.sha256()
    for array in load_network(path).get_weights():
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def test_a_tiny_lstm_learns_and_round_trips(tmp_path, tiny_cfg, sine_data):
    _, data = sine_data
    path = tmp_path / "m.keras"
    result = train_and_save(data, tiny_cfg, path)
    assert result.loss[-1] < 0.5 * result.loss[0]
    assert result.steps == 30 * int(np.ceil(len(data.train) / tiny_cfg.train.batch_size))
    assert len(result.loss) == len(result.val_loss) == 30 // 5
    reloaded = load_network(path)
    assert reloaded.input_shape == (None, tiny_cfg.window.lookback, 1)
    assert reloaded.output_shape == (None, tiny_cfg.window.horizon)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny_cfg, sine_data):
    _, data = sine_data
    train_and_save(data, tiny_cfg, tmp_path / "a.keras")
    train_and_save(data, tiny_cfg, tmp_path / "b.keras")
    other = load_config(None, {**TINY, "train.seed": 7})
    train_and_save(data, other, tmp_path / "c.keras")
    assert weights_digest(tmp_path / "a.keras") == weights_digest(tmp_path / "b.keras")
    assert weights_digest(tmp_path / "a.keras") != weights_digest(tmp_path / "c.keras")


def test_early_stopping_keeps_the_best_validation_weights(tiny_cfg, sine_data):
    _, data = sine_data
    cfg = load_config(
        None,
        {
            "model.units": [8],
            "train.epochs": 400,
            "train.epochs_per_check": 2,
            "train.early_stopping_patience": 2,
            "train.learning_rate": 0.05,
        },
    )
    model = build_model(cfg.model, lookback=cfg.window.lookback, horizon=cfg.window.horizon)
    compile_model(model, cfg.train, train_windows=len(data.train))
    result = fit(model, data.train, data.val, cfg.train)
    assert len(result.val_loss) < 200, "patience 2 should stop long before 400 epochs"
    assert result.best_check == int(np.argmin(result.val_loss))
    restored = float(model.evaluate(data.val.X, data.val.y, verbose=0))
    assert restored == pytest.approx(min(result.val_loss), rel=1e-4)


def test_input_pipeline_batches_like_fit(sine_data):
    _, data = sine_data
    n = len(data.train)
    per_pass = -(-n // 32)
    batches = list(train_dataset(data.train, batch_size=32, seed=0).take(2 * per_pass).as_numpy_iterator())
    sizes = [len(x) for x, _ in batches]
    assert sizes == ([32] * (per_pass - 1) + [n - 32 * (per_pass - 1)]) * 2  # short last batch, then repeat
    first_pass = np.concatenate([y for _, y in batches[:per_pass]]).ravel()
    second_pass = np.concatenate([y for _, y in batches[per_pass:]]).ravel()
    assert sorted(first_pass) == sorted(data.train.y.ravel())
    assert not np.array_equal(first_pass, second_pass), "each pass should be reshuffled"


def test_only_keras_format_loads(tmp_path, tiny_cfg):
    model = build_model(tiny_cfg.model, lookback=5, horizon=1)
    model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"only the \.keras format"):
        load_network(tmp_path / "m.h5")


def test_predict_batched_matches_keras_predict(tiny_cfg, sine_data):
    _, data = sine_data
    model = build_model(tiny_cfg.model, lookback=tiny_cfg.window.lookback, horizon=1)
    np.testing.assert_allclose(predict_batched(model, data.train.X), model.predict(data.train.X, verbose=0), rtol=1e-5)


def test_a_long_series_gets_fewer_passes_not_more_steps_than_max_steps():
    from lstm_pipeline.config import TrainConfig
    from lstm_pipeline.training import schedule

    short = TrainConfig(epochs=200, epochs_per_check=10, batch_size=32, max_steps=4000)
    assert schedule(100, short) == short  # 4 steps a pass: 800 steps, under the cap
    long = schedule(4000, short)  # 125 steps a pass: 200 passes would be 25,000 steps
    assert (long.epochs, long.epochs_per_check) == (32, 1)
    assert long.epochs * 125 <= 4000 and long.epochs // long.epochs_per_check >= 20  # as many checks, or more
    uncapped = short.model_copy(update={"max_steps": None})
    assert schedule(4000, uncapped) == uncapped
