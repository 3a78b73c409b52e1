"""The sweep's plan (grid and random over dotted config keys), its ranking, and its refusal to run without a server."""

import math
import re

import pytest
from typer.testing import CliRunner

from lstm_pipeline.cli import app
from lstm_pipeline.config import load_config
from lstm_pipeline.errors import ConfigError
from lstm_pipeline.sweep import TrialResult, best_trial, plan_trials, require_prefect_server, trial_score

SPACE = {"window.lookback": [10, 20], "model.units": [[4], [8, 4]], "train.learning_rate": [0.01]}


def cfg(**sweep):
    return load_config(None, {"sweep.space": SPACE, **{f"sweep.{k}": v for k, v in sweep.items()}})


def test_grid_runs_every_combination_in_order_each_with_its_own_seed():
    trials = plan_trials(cfg(method="grid", trials=4))
    assert [t.overrides for t in trials] == [
        {"window.lookback": 10, "model.units": [4], "train.learning_rate": 0.01},
        {"window.lookback": 10, "model.units": [8, 4], "train.learning_rate": 0.01},
        {"window.lookback": 20, "model.units": [4], "train.learning_rate": 0.01},
        {"window.lookback": 20, "model.units": [8, 4], "train.learning_rate": 0.01},
    ]
    assert [t.config.train.seed for t in trials] == [42, 43, 44, 45]
    assert trials[3].config.window.lookback == 20
    assert trials[3].config.model.units == [8, 4]
    assert trials[3].config.window.horizon == 1  # untouched settings keep the base config's value
    assert trials[1].name == "trial-001 lookback=10 units=[8, 4] learning_rate=0.01"  # told apart in the run list


def test_a_grid_larger_than_trials_is_refused():
    with pytest.raises(ConfigError, match=re.escape("4 grid points, more than sweep.trials=3")):
        plan_trials(cfg(method="grid", trials=3))


def test_random_draws_distinct_points_reproducibly():
    space = {"window.lookback": [5, 10, 15, 20], "train.batch_size": [8, 16, 32], "model.dropout": [0.0, 0.1]}
    base = load_config(None, {"sweep.space": space, "sweep.method": "random", "sweep.trials": 5, "sweep.seed": 7})
    first, again = plan_trials(base), plan_trials(base)
    points = [tuple(sorted(t.overrides.items())) for t in first]
    assert len(first) == 5
    assert len(set(points)) == 5
    assert [t.overrides for t in first] == [t.overrides for t in again]
    other = plan_trials(base.model_copy(update={"sweep": base.sweep.model_copy(update={"seed": 8})}))
    assert [t.overrides for t in other] != [t.overrides for t in first]


def test_random_with_more_trials_than_points_runs_the_whole_grid():
    assert len(plan_trials(cfg(method="random", trials=50))) == 4


def test_the_space_may_set_the_seed_itself():
    base = load_config(None, {"sweep.space": {"train.seed": [1, 1]}, "sweep.method": "grid"})
    assert [t.config.train.seed for t in plan_trials(base)] == [1, 1]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"model.nope": [1]}, "'model.nope' is not a config setting"),
        ({"nowhere.units": [1]}, "'nowhere' is not a config setting"),
        ({"model.dropout": [1.5]}, "model.dropout"),
        ({"model.units": []}, "has no values"),
        ({"sweep.workers": [1, 2]}, "cannot vary the sweep itself"),
        ({}, "sweep.space is empty"),
    ],
)
def test_bad_spaces_fail_with_the_key_named(space, message):
    with pytest.raises(ConfigError, match=message):
        plan_trials(load_config(None, {"sweep.space": space}))


def test_the_space_can_be_given_on_the_command_line_as_a_yaml_mapping():
    base = load_config(None, ["sweep.space={window.lookback: [5, 10], model.units: [[4]]}", "sweep.method=grid"])
    assert [t.config.window.lookback for t in plan_trials(base)] == [5, 10]


def result(index, score):
    return TrialResult(index, f"run{index}", "1", f"models:/m-{index}", score, {}, 0.0, 1.0, "w")


def test_the_best_trial_has_the_lowest_score_ties_to_the_lower_index_nan_never_wins():
    assert best_trial([result(0, 0.9), result(1, 0.5), result(2, 0.7)]).index == 1
    assert best_trial([result(0, math.nan), result(1, 2.0)]).index == 1
    assert best_trial([result(3, 0.5), result(1, 0.5)]).index == 1


def test_the_score_is_the_backtest_mase_when_there_is_one():
    assert trial_score({"test_mase": 0.8}) == 0.8
    assert trial_score({"test_mase": 0.8, "backtest_mase": 0.6}) == 0.6


def test_parallel_sweeps_need_a_prefect_server():
    sweep = load_config().sweep
    with pytest.raises(ConfigError, match="2 workers needs a Prefect server"):
        require_prefect_server(sweep, None)
    remote = sweep.model_copy(update={"scheduler_address": "tcp://10.0.0.5:8786", "workers": 1})
    with pytest.raises(ConfigError, match=re.escape("Dask scheduler tcp://10.0.0.5:8786")):
        require_prefect_server(remote, None)
    require_prefect_server(sweep, "http://127.0.0.1:4200/api")
    require_prefect_server(sweep.model_copy(update={"workers": 1}), None)


def test_the_command_refuses_a_parallel_sweep_without_a_server_before_starting_anything():
    outcome = CliRunner().invoke(app, ["sweep", "--workers", "2", "--trials", "2"])
    assert outcome.exit_code == 2
    assert "ConfigError" in outcome.output
    assert "PREFECT_API_URL" in outcome.output
