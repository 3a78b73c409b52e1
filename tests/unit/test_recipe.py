"""The preprocessing recipe (transforms, STL, anchors), settings from the data, and the gate's decision."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.config import PromotionConfig, load_config
from lstm_pipeline.data_defaults import resolve
from lstm_pipeline.promotion import Champion, comparability, decide
from lstm_pipeline.recipe import Scaler
from lstm_pipeline.registry import RegisteredModel
from lstm_pipeline.seasonality import calendar_defaults, project_cycle, seasonal_component

RNG = np.random.default_rng(7)


def monthly(n: int, values: np.ndarray | None = None, uid: str = "a") -> pd.DataFrame:
    y = values if values is not None else 100 + 10 * np.sin(2 * np.pi * np.arange(n) / 12) + np.arange(n)
    return pd.DataFrame({"unique_id": uid, "ds": pd.date_range("2000-01-01", periods=n, freq="MS"), "y": y})


# --- transforms invert exactly -----------------------------------------------------------------


@pytest.mark.parametrize("transform", ["none", "log"])
@pytest.mark.parametrize("season", [1, 12])
def test_adjust_then_restore_gives_the_raw_values_back(transform, season):
    """Points after the fit part are adjusted with the projected season; restore must undo that exactly."""
    low = 0.5 if transform == "log" else -50.0  # log1p needs y > -1; the identity takes any sign
    raw = RNG.uniform(low, 80.0, size=60)
    scaler = Scaler.fit("standard", {"a": raw[:48]}, value_transform=transform, season_length=season)
    adjusted, _ = scaler.adjust("a", raw, fit_points=48)
    _, cycle_after_fit = scaler.adjust("a", raw[:48])
    restored = scaler.restore(np.array(["a"]), adjusted[None, 48:], cycle_after_fit[None, :])
    np.testing.assert_allclose(restored[0], raw[48:], rtol=1e-10)


def test_the_seasonal_part_of_a_pure_cycle_is_the_cycle_and_projects_forward():
    cycle = np.sin(2 * np.pi * np.arange(12) / 12)
    values = np.tile(cycle, 8) + 0.01 * np.arange(96)
    seasonal, last = seasonal_component(values, 12)
    np.testing.assert_allclose(seasonal, np.tile(cycle, 8), atol=1e-6)
    np.testing.assert_allclose(project_cycle(last, 5), cycle[:5], atol=1e-6)


def test_the_seasonal_part_uses_only_the_points_it_is_fit_on():
    """`adjust(fit_points=k)` must give the same first k values whatever follows them."""
    values = 100 + 10 * np.sin(2 * np.pi * np.arange(72) / 12)
    shifted = values.copy()
    shifted[48:] = shifted[48:] * 50 + 1000
    scaler = Scaler.fit("standard", {"a": values[:48]}, season_length=12)
    before = scaler.adjust("a", values, fit_points=48)[0][:48]
    after = scaler.adjust("a", shifted, fit_points=48)[0][:48]
    np.testing.assert_array_equal(before, after)


def test_too_short_for_two_seasons_has_no_seasonal_part():
    seasonal, cycle = seasonal_component(np.arange(20.0), 12)
    assert not seasonal.any() and not cycle.any()


def test_the_season_anchor_makes_a_zero_forecast_seasonal_naive():
    scaler = Scaler.fit("none", {"a": np.zeros(3)}, anchor="season", anchor_period=3)
    inputs, ahead = scaler.baseline(np.arange(7.0)[None, :], 5)
    np.testing.assert_array_equal(ahead, [[4.0, 5.0, 6.0, 4.0, 5.0]])
    np.testing.assert_array_equal(inputs[0, -3:], [4.0, 5.0, 6.0])  # the last season's inputs become 0


def test_the_trend_anchor_extends_the_least_squares_line():
    scaler = Scaler.fit("none", {"a": np.zeros(3)}, anchor="trend")
    inputs, ahead = scaler.baseline(np.array([[1.0, 3.0, 5.0, 7.0]]), 2)
    np.testing.assert_allclose(inputs, [[1.0, 3.0, 5.0, 7.0]])
    np.testing.assert_allclose(ahead, [[9.0, 11.0]])


def test_scaler_state_round_trips_with_the_new_fields():
    scaler = Scaler.fit("standard", {"a": np.arange(30.0)}, season_length=12, anchor="season", anchor_period=12)
    assert Scaler.from_dict(scaler.to_dict()) == scaler


# --- settings from the data --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("freq", "expected"),
    [
        *[("MS", (12, 18)), ("QS-OCT", (4, 8)), ("W-SUN", (52, 13)), ("D", (7, 14)), ("h", (24, 48))],
        *[("YE-DEC", (1, 6)), ("B", (5, 10)), ("BMS", (12, 18)), ("BQE-DEC", (4, 8)), ("BYE-DEC", (1, 6))],
    ],
)
def test_calendar_defaults_per_frequency(freq, expected):
    assert calendar_defaults(freq) == expected


def test_integer_steps_have_no_calendar():
    assert calendar_defaults("1") is None and calendar_defaults(None) is None


def test_a_monthly_file_gets_season_12_and_sizes_from_the_horizon():
    cfg = resolve(load_config(None, {"source.kind": "file", "source.path": "x.csv"}), monthly(144))
    w = cfg.window
    assert cfg.evaluate.season_length == 12
    assert (w.horizon, w.test_size, w.val_size, w.lookback) == (18, 18, 18, 23)


def test_a_given_horizon_and_season_are_kept_and_short_data_drops_validation():
    given = {"window.horizon": 36, "evaluate.season_length": 6}
    cfg = resolve(load_config(None, given), monthly(108))
    w = cfg.window
    assert (cfg.evaluate.season_length, w.horizon, w.test_size) == (6, 36, 36)
    assert w.val_size == 0 and cfg.train.early_stopping_patience is None  # 72 points left: no room
    assert 108 - 36 - w.lookback - 36 + 1 >= 12  # the lookback shrank to keep 12 training windows


def test_the_demo_sine_keeps_its_period_and_explicit_settings_win():
    cfg = resolve(load_config(None), pd.DataFrame({"unique_id": "s", "ds": np.arange(100), "y": np.zeros(100)}))
    assert cfg.evaluate.season_length == 63 and cfg.window.horizon == 10 and cfg.window.lookback == 20
    again = resolve(cfg, pd.DataFrame({"unique_id": "s", "ds": np.arange(100), "y": np.zeros(100)}))
    assert again == cfg  # resolving a resolved config changes nothing


# --- the gate's decision -----------------------------------------------------------------------


def champion(**fields: object) -> Champion:
    return Champion(RegisteredModel("m", "1", "run", "models:/m/1"), **fields)  # type: ignore[arg-type]


def test_the_gate_refuses_a_candidate_that_loses_to_seasonal_naive_on_the_same_windows():
    decision = decide(0.9, 0.8, None, PromotionConfig())
    assert not decision.promote and "does not beat seasonal naive's 0.8000 on the same windows" in decision.reason


def test_the_gate_promotes_a_candidate_that_beats_seasonal_naive_by_the_margin():
    assert decide(0.7, 0.8, None, PromotionConfig(margin=0.1)).promote
    assert not decide(0.75, 0.8, None, PromotionConfig(margin=0.1)).promote  # bar 0.72


def test_the_gate_needs_the_champion_beaten_too():
    assert decide(0.5, 0.8, champion(mase=0.6), PromotionConfig()).promote
    refused = decide(0.7, 0.8, champion(mase=0.6), PromotionConfig())
    assert not refused.promote and "but not the champion v1's 0.6000" in refused.reason


def test_a_champion_on_other_data_is_not_comparable_and_stays():
    decision = decide(0.5, 0.8, champion(not_comparable="it was trained on other series"), PromotionConfig())
    assert not decision.promote and "not comparable" in decision.reason and "tracking.model_name" in decision.reason


def test_a_broken_champion_is_replaced_by_a_candidate_that_beats_seasonal_naive():
    assert decide(0.5, 0.8, champion(broken="MLmodel missing"), PromotionConfig()).promote


def test_comparability_names_what_differs():
    assert comparability({"a": "1"}, {"a": "1"}) == ""
    assert "never saw ['b']" in comparability({"a": "1"}, {"a": "1", "b": "1"})
    assert "frequency 'D' here, '1'" in comparability({"a": "1"}, {"a": "D"})


# --- a mixed ensemble takes turns through the window shapes ------------------------------------


@pytest.mark.parametrize("season", [1, 12])
def test_a_mixed_ensemble_gives_each_member_the_next_shape_and_its_own_seed(season):
    from lstm_pipeline.ensemble import Recipe, seeded, shapes

    cfg = load_config(None, {"train.ensemble": 7, "train.seed": 3})
    assert cfg.window.anchor == "mixed"  # the default
    members = seeded(Recipe(cfg.window, cfg.model, cfg.train, season))
    turns = shapes(season)
    assert [(m.window.anchor, m.window.deseasonalise) for m in members] == [turns[i % len(turns)] for i in range(7)]
    assert [m.train.seed for m in members] == list(range(3, 10))
    assert all(m.train.ensemble == 1 for m in members)


def test_a_fixed_anchor_keeps_every_member_on_it():
    from lstm_pipeline.ensemble import Recipe, seeded

    cfg = load_config(None, {"train.ensemble": 3, "window.anchor": "trend", "window.deseasonalise": False})
    members = seeded(Recipe(cfg.window, cfg.model, cfg.train, 12))
    assert {(m.window.anchor, m.window.deseasonalise) for m in members} == {("trend", False)}


def test_mixed_windows_are_refused_uncut():
    from lstm_pipeline.windowing import make_windows

    with pytest.raises(ValueError, match="mixed"):
        make_windows(monthly(60), load_config(None, {}).window, season_length=12)


def test_a_short_window_is_unanchored_unless_the_series_trends():
    t = np.arange(120, dtype="float64")
    season = np.sin(2 * np.pi * t / 12)
    short = {"window.horizon": 4, "window.lookback": 6}  # half a season
    level = resolve(load_config(None, short), monthly(120).assign(y=10 + season))
    rising = resolve(load_config(None, short), monthly(120).assign(y=10 + season + 0.1 * t))
    assert (level.window.anchor, rising.window.anchor) == ("none", "mixed")
    spanning = resolve(load_config(None, {"window.horizon": 4, "window.lookback": 12}), monthly(120).assign(y=season))
    assert spanning.window.anchor == "mixed"  # a window over a whole season is anchored anyway
