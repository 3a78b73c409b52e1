"""The Great Expectations contract against the bad inputs a forecasting pipeline meets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_pipeline.config import RepairConfig, ValidationConfig
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.repairs import repair
from lstm_pipeline.validation import validate, write_report

pytestmark = pytest.mark.integration
CFG = ValidationConfig()


def panel(n_series: int = 2, length: int = 30, *, hourly: bool = False) -> pd.DataFrame:
    ds = pd.date_range("2024-01-01", periods=length, freq="h") if hourly else np.arange(length)
    rng = np.random.default_rng(0)
    return pd.concat(
        [pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": rng.normal(size=length)}) for i in range(n_series)],
        ignore_index=True,
    )


def broken_rules(frame: pd.DataFrame, min_length: int = 10, **kwargs) -> dict[str, int]:
    report = validate(frame, context="training", min_length=min_length, cfg=kwargs.pop("cfg", CFG), **kwargs)
    return {r.rule.split(" (")[0]: r.unexpected for r in report.failures}


def test_a_clean_panel_passes_every_rule():
    report = validate(panel(hourly=True), context="training", min_length=10, cfg=CFG)
    assert report.success, report.message()
    assert report.frequencies == {"s0": "h", "s1": "h"}
    assert len(report.rules) >= 12  # every rule is reported, broken or not


@pytest.mark.parametrize(
    ("position", "count"),
    [
        (pytest.param([5], 1, id="isolated")),
        (pytest.param([0], 1, id="leading")),
        (pytest.param(range(30), 30, id="all")),
    ],
)
def test_nan_values(position, count):
    frame = panel()
    frame.loc[list(position), "y"] = np.nan
    assert broken_rules(frame) == {"y not null": count}


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e308])
def test_infinite_and_huge_values(value):
    frame = panel()
    frame.loc[7, "y"] = value
    broken = broken_rules(frame)
    assert list(broken) == ["finite y within [-1e+15, 1e+15]"] and broken["finite y within [-1e+15, 1e+15]"] == 1


def test_bounds_are_configurable():
    frame = panel()
    frame.loc[3, "y"] = 50.0
    assert broken_rules(frame, cfg=ValidationConfig(min_value=-10, max_value=10)) == {"finite y within [-10, 10]": 1}


def test_duplicate_timestamps_name_the_series_and_rows():
    frame = pd.concat([panel(), panel().iloc[[4]]]).sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    report = validate(frame, context="training", min_length=10, cfg=CFG)
    rule = next(r for r in report.failures if r.rule == "unique (unique_id, ds)")
    assert rule.unexpected == 2
    assert rule.examples[0] == {"unique_id": "s0", "ds": "4", "y": str(frame.loc[4, "y"])}
    with pytest.raises(DataValidationError, match=r"rule 'unique \(unique_id, ds\)': 2 of 61 rows"):
        report.raise_if_failed()


def test_gaps_and_irregular_steps_are_told_apart():
    gap = panel().drop(index=[10, 11]).reset_index(drop=True)
    assert broken_rules(gap) == {"no gaps": 1}
    off_grid = panel(hourly=True)
    off_grid.loc[12, "ds"] += pd.Timedelta(minutes=30)
    assert broken_rules(off_grid) == {"regular frequency": 2, "no gaps": 2}


def test_configured_frequency_overrides_inference():
    weekly = panel(length=20, hourly=False)
    weekly["ds"] = pd.date_range("2024-01-07", periods=20, freq="W-SUN").repeat(1).tolist() * 2
    assert broken_rules(weekly, cfg=ValidationConfig(freq="W-SUN")) == {}
    assert "regular frequency" in broken_rules(weekly, cfg=ValidationConfig(freq="MS"))


def test_unsorted_rows():
    frame = panel()
    frame.loc[[3, 4]] = frame.loc[[4, 3]].to_numpy()
    assert broken_rules(frame) == {"ds strictly increasing per series": 1}  # no gap: the timestamps are all there


def test_a_file_newest_first_breaks_only_the_order_and_the_sort_repair_says_what_it_moved():
    frame = panel().iloc[::-1].reset_index(drop=True)
    assert broken_rules(frame) == {"ds strictly increasing per series": 58}
    repaired, done = repair(frame, RepairConfig(sort=True))
    assert [(r.name, r.rows) for r in done] == [("sort", 60)] and broken_rules(repaired) == {}


def test_series_shorter_than_the_model_needs():
    frame = pd.concat([panel(1, 30), panel(1, 8).assign(unique_id="short")], ignore_index=True)
    report = validate(frame, context="training", min_length=10, cfg=CFG)
    assert [r.rule for r in report.failures] == ["enough history (at least 10 points per series)"]
    assert report.failures[0].unexpected == 8
    assert {e["unique_id"] for e in report.failures[0].examples} == {"short"}


def test_constant_series_is_valid_data():
    assert broken_rules(panel().assign(y=3.0)) == {}


def test_string_values_in_y():
    frame = panel().astype({"y": object})
    frame.loc[2, "y"] = "n/a"
    assert "y numeric" in broken_rules(frame)


def test_dst_change_in_local_time_is_regular():
    ds = pd.date_range("2024-03-30 22:00", periods=10, freq="h", tz="Europe/Paris")
    frame = pd.DataFrame({"unique_id": "paris", "ds": ds, "y": 1.0})
    assert ds[2].utcoffset() != ds[-1].utcoffset()
    assert broken_rules(frame, min_length=5) == {}


def test_no_rows_and_missing_columns():
    assert broken_rules(panel().iloc[:0]) == {"at least one series": 1}
    assert broken_rules(panel().drop(columns="ds")) == {"required column ds": 1}


def test_forecast_time_rules_against_the_model():
    hourly = panel(hourly=True)
    trained = {"s0": "h", "s1": "D"}  # s1 was trained on daily data
    assert broken_rules(hourly, model_freq=trained, known_series=set(trained)) == {"frequency as trained": 30}
    renamed = hourly.assign(unique_id=hourly["unique_id"].replace("s1", "s9"))
    assert broken_rules(renamed, known_series={"s0", "s1"}) == {"known series": 30}


def test_report_files(tmp_path):
    frame = panel()
    frame.loc[5, "y"] = np.nan
    report = validate(frame, context="forecast", min_length=10, cfg=CFG, docs_dir=tmp_path / "data_docs")
    write_report(report, tmp_path)
    assert (tmp_path / "data_docs" / "index.html").is_file()
    assert '"success": false' in (tmp_path / "gx_result.json").read_text()
    assert "| y not null (no NaN) | broken | 1 / 60 |" in (tmp_path / "summary.md").read_text()
    passing = validate(panel(), context="forecast", min_length=10, cfg=CFG, docs_dir=tmp_path / "clean_docs")
    assert passing.success and not (tmp_path / "clean_docs").exists()  # Data Docs only for a failure


# Repairs: explicit, off by default, each one reported.


def test_repairs_are_off_by_default():
    frame = panel().iloc[::-1].reset_index(drop=True)
    repaired, done = repair(frame, RepairConfig())
    assert done == [] and repaired is frame


def test_sort_and_drop_duplicates_make_a_valid_frame():
    messy = pd.concat([panel(), panel().iloc[[3, 9]]]).sample(frac=1.0, random_state=1).reset_index(drop=True)
    repaired, done = repair(messy, RepairConfig(sort=True, drop_duplicates=True))
    assert {r.name: r.rows for r in done}["drop_duplicates"] == 2
    assert "sort" in {r.name for r in done}
    pd.testing.assert_frame_equal(repaired, panel())
    assert broken_rules(repaired) == {}


def test_fill_gaps_fills_short_holes_only():
    frame = panel(1, 40, hourly=True)
    frame.loc[5, "y"] = np.nan
    holed = frame.drop(index=[10, 11, *range(20, 26)]).reset_index(drop=True)
    repaired, done = repair(holed, RepairConfig(fill_gaps=True, max_gap=3))
    assert [(r.name, r.rows) for r in done] == [("fill_gaps", 3)]
    assert repaired["y"].notna().all()
    assert broken_rules(repaired) == {"no gaps": 1}  # the 6-step hole is left for validation to name
    original = frame.set_index("ds")["y"]
    filled = repaired.set_index("ds")["y"]
    assert filled[original.index[10]] == pytest.approx((original.iloc[9] * 2 + original.iloc[12]) / 3)


# Properties over generated panels.

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def clean_panels(draw):
    n_series = draw(st.integers(1, 4))
    length = draw(st.integers(12, 40))
    freq = draw(st.sampled_from(["int", "h", "D", "MS"]))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    ds = np.arange(length) * 3 if freq == "int" else pd.date_range("2023-01-01", periods=length, freq=freq)
    frame = pd.concat(
        [pd.DataFrame({"unique_id": f"u{i}", "ds": ds, "y": rng.normal(size=length)}) for i in range(n_series)],
        ignore_index=True,
    )
    return frame


@SETTINGS
@given(clean_panels())
def test_generated_clean_panels_pass(frame):
    report = validate(frame, context="training", min_length=12, cfg=CFG)
    assert report.success, report.message()


@SETTINGS
@given(clean_panels(), st.data())
def test_one_injected_defect_is_named_with_its_series(frame, data):
    row = data.draw(st.integers(1, len(frame) - 2))
    uid = frame.loc[row, "unique_id"]
    defect = data.draw(st.sampled_from(["nan", "inf", "duplicate", "gap"]))
    if defect == "nan":
        frame.loc[row, "y"], expected = np.nan, "y not null"
    elif defect == "inf":
        frame.loc[row, "y"], expected = np.inf, "finite y within [-1e+15, 1e+15]"
    elif defect == "duplicate":
        frame = pd.concat([frame, frame.iloc[[row]]]).sort_values(["unique_id", "ds"], kind="stable")
        frame, expected = frame.reset_index(drop=True), "unique (unique_id, ds)"
    else:
        if frame.loc[row + 1, "unique_id"] != uid or frame.loc[row - 1, "unique_id"] != uid:
            return  # a gap needs neighbours in the same series
        frame, expected = frame.drop(index=row).reset_index(drop=True), "no gaps"
    report = validate(frame, context="training", min_length=2, cfg=CFG)
    named = [r for r in report.failures if r.rule.startswith(expected)]
    assert named, report.message()
    assert uid in {e["unique_id"] for e in named[0].examples}


@SETTINGS
@given(clean_panels(), st.randoms(use_true_random=False))
def test_sort_repair_restores_any_shuffle(frame, rnd):
    shuffled = frame.sample(frac=1.0, random_state=rnd.randint(0, 10_000)).reset_index(drop=True)
    repaired, _ = repair(shuffled, RepairConfig(sort=True))
    pd.testing.assert_frame_equal(repaired, frame)


# The forecast's path: the same rules judged in pandas first, GX only when one breaks.

DEFECTS = [
    "none",
    "nan",
    "inf",
    "huge",
    "nat",
    "duplicate",
    "gap",
    "unsorted",
    "short",
    "unknown",
    "float32",
    "off-grid",
]


def with_defect(frame: pd.DataFrame, defect: str) -> pd.DataFrame:
    """`frame` (one series or more, 30 hourly points each) with one defect of the kind named."""
    frame = frame.copy()
    if defect in ("nan", "inf", "huge"):
        frame.loc[7, "y"] = {"nan": np.nan, "inf": np.inf, "huge": 1e16}[defect]
    elif defect == "nat":
        frame.loc[7, "ds"] = pd.NaT
    elif defect == "duplicate":
        frame = pd.concat([frame, frame.iloc[[7]]]).sort_values(["unique_id", "ds"], kind="stable")
    elif defect == "gap":
        frame = frame.drop(index=7)
    elif defect == "unsorted":
        frame = frame.iloc[[1, 0, *range(2, len(frame))]]
    elif defect == "short":
        frame = frame.iloc[:5]
    elif defect == "unknown":
        frame["unique_id"] = frame["unique_id"].replace({"s0": "stranger"})
    elif defect == "float32":
        frame["y"] = frame["y"].astype("float32")
    elif defect == "off-grid":
        frame.loc[7, "ds"] += pd.Timedelta(minutes=30)
    return frame.reset_index(drop=True)


@pytest.mark.parametrize("defect", DEFECTS)
def test_the_pandas_judgement_agrees_with_great_expectations(defect):
    frame = with_defect(panel(hourly=True), defect)
    rules = {"min_length": 10, "cfg": CFG, "model_freq": {"s0": "h", "s1": "h"}, "known_series": {"s0", "s1"}}
    by_gx = validate(frame, context="forecast", **rules)
    first_pandas = validate(frame, context="forecast", great_expectations="on_failure", **rules)
    assert by_gx.success == (defect == "none")
    assert first_pandas.success == by_gx.success
    assert sorted(r.rule for r in first_pandas.rules) == sorted(r.rule for r in by_gx.rules)
    assert sorted(r.rule for r in first_pandas.failures) == sorted(r.rule for r in by_gx.failures)
    assert bool(first_pandas.gx_result) == (defect != "none")  # GX ran exactly when a rule broke
