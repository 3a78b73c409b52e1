from pathlib import Path

import pytest

from lstm_pipeline.config import PipelineConfig, load_config, parse_overrides
from lstm_pipeline.errors import ConfigError

CONFIGS = Path(__file__).parents[2] / "configs"


def test_defaults_need_no_file():
    cfg = load_config()
    assert cfg == PipelineConfig()
    assert cfg.flat()["train.epochs"] == 200


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    assert isinstance(load_config(path), PipelineConfig)


def test_seed_config_is_the_seed_example():
    cfg = load_config(CONFIGS / "seed.yaml")
    assert (cfg.source.kind, cfg.source.n_points, cfg.source.noise) == ("sine", 100, 0.1)
    assert (cfg.window.lookback, cfg.window.horizon, cfg.window.scaling) == (5, 1, "none")
    assert (cfg.model.units, cfg.model.activation, cfg.model.dropout) == ([50], "relu", 0.0)
    assert (cfg.train.optimizer, cfg.train.loss, cfg.train.epochs, cfg.train.batch_size) == ("adam", "mse", 200, 32)
    assert cfg.train.early_stopping_patience is None


def test_overrides_are_typed_from_yaml():
    cfg = load_config(None, ["train.epochs=50", "model.units=[8, 4]", "train.early_stopping_patience=null"])
    assert cfg.train.epochs == 50
    assert cfg.model.units == [8, 4]
    assert cfg.train.early_stopping_patience is None


def test_overrides_win_over_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\n  batch_size: 4\n")
    cfg = load_config(path, {"train.epochs": 9})
    assert (cfg.train.epochs, cfg.train.batch_size) == (9, 4)


def test_a_typed_config_laid_over_the_file_changes_only_what_it_gives(tmp_path):
    """A flow's `config` parameter, as Prefect validates it from JSON: its settings win, the rest stays open."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 7\n  batch_size: 4\nwindow:\n  lookback: 9\n")
    given = PipelineConfig.model_validate({"train": {"epochs": 3}})
    cfg = load_config(path, given, {"train.seed": 5})
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.train.seed, cfg.window.lookback) == (3, 4, 5, 9)
    assert cfg.window.model_fields_set == {"lookback"}  # the horizon and held-out parts are still the data's
    assert load_config(None, cfg) == cfg and load_config(None, cfg).window.model_fields_set == {"lookback"}


def test_a_later_layer_replaces_a_mapping_setting_instead_of_merging_it():
    base = load_config(None, {"sweep.space": {"window.lookback": [5, 10]}})
    cfg = load_config(None, base, {"sweep.space": {"model.units": [[4]]}})
    assert cfg.sweep.space == {"model.units": [[4]]}


def test_unknown_key_in_file_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epoch: 7\n")
    with pytest.raises(ConfigError, match=r"train\.epoch"):
        load_config(path)


def test_unknown_section_override_is_named():
    with pytest.raises(ConfigError, match="'trian' is not a config setting"):
        load_config(None, ["trian.epochs=3"])


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"train\.epochs"):
        load_config(None, ["train.epochs=many"])


@pytest.mark.parametrize("bad", ["train.epochs", "=3", "  =3"])
def test_malformed_override(bad):
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        parse_overrides([bad])


def test_override_into_a_value_is_refused():
    with pytest.raises(ConfigError, match="not a section"):
        load_config(None, ["train.epochs=3", "train.epochs.deep=1"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["window.horizon=5", "window.test_size=3"], "test_size"),
        (["window.horizon=5", "window.val_size=2"], "val_size"),
        (["window.val_size=0"], "early_stopping_patience"),
        (["source.kind=file"], "source.path"),
        (["train.epochs=0"], "train.epochs"),
        (["model.dropout=1.5"], "model.dropout"),
    ],
)
def test_inconsistent_settings_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_that_is_not_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_empty_yaml_is_the_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("")
    assert load_config(path) == PipelineConfig()


@pytest.mark.parametrize("rate", [".inf", ".nan", "-1"])
def test_a_learning_rate_that_cannot_train_is_refused(rate):
    with pytest.raises(ConfigError, match=r"train\.learning_rate"):
        load_config(None, [f"train.learning_rate={rate}"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.units=[0]", r"model\.units\.0: Input should be greater than or equal to 1"),
        ("model.units=[-3]", r"model\.units\.0: Input should be greater than or equal to 1"),
        ("model.units=[32, 1000000]", r"model\.units\.1: Input should be less than or equal to 4096"),
        ("model.activation=rleu", r"model\.activation: Input should be 'tanh'"),
        ("model.activation=threshold", r"model\.activation"),
        ("validation.freq=fortnightly", r"validation\.freq: .*neither a positive integer step nor a pandas offset"),
        ("validation.freq=0", r"validation\.freq: .*must be at least 1"),
        ("source.freq=bogus", r"source\.freq: .*pandas offset alias"),
        ("source.start=notadate", r"source\.start: .*'notadate' is not a timestamp"),
        ("validation.min_value=.nan", r"validation\.min_value must be below validation\.max_value"),
    ],
)
def test_settings_keras_or_pandas_would_choke_on_are_refused_by_the_config(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


@pytest.mark.parametrize("freq", ["h", "15min", "W-MON", "MS", "7"])
def test_frequencies_pandas_knows_are_accepted(freq):
    assert load_config(None, [f"validation.freq={freq}"]).validation.freq == freq


@pytest.mark.parametrize("bad", ["model.units=[32", "train.epochs={", "model.units=[1, 2]]", "x.y=: :"])
def test_malformed_yaml_in_an_override_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="the value is not valid YAML"):
        parse_overrides([bad])


def test_a_longer_horizon_sizes_the_held_out_parts_unless_they_are_set_too_small():
    assert load_config(None, ["window.horizon=20"]).window.horizon == 20  # the data sizes the rest
    with pytest.raises(ConfigError) as refused:
        load_config(None, ["window.horizon=20", "window.test_size=10", "window.val_size=10"])
    assert "set window.test_size=20 or more" in str(refused.value)
    assert "set window.val_size=20 or more" in str(refused.value)


@pytest.mark.parametrize("name", ["../../x", "a/b", "it's", "", "-x", "x" * 129])
def test_a_model_name_that_could_leave_the_slot_folder_or_break_a_filter_is_refused(name):
    with pytest.raises(ConfigError, match=r"tracking\.model_name: .*must be letters, digits"):
        load_config(None, {"tracking.model_name": name})
