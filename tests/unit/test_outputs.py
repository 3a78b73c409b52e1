"""Where outputs may go (under the project home, or roots the operator allows) and forecast slots."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lstm_pipeline.config import OUTPUT_ROOT_ENV, check_output_dirs, load_config, output_dir
from lstm_pipeline.errors import ConfigError, DataValidationError, OutputConflictError
from lstm_pipeline.forecasting import check_slot_free, history_as_of, parse_as_of, slot_path, store_id


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LSTM_PIPELINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(OUTPUT_ROOT_ENV, raising=False)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


def test_relative_and_absolute_paths_under_the_home_are_taken_from_the_home(home):
    assert output_dir("forecast.output_dir", "outputs/forecasts") == home / "outputs" / "forecasts"
    assert output_dir("forecast.output_dir", str(home / "elsewhere")) == home / "elsewhere"
    assert not (home / "outputs").exists()  # checking creates nothing


@pytest.mark.parametrize("escape", ["/", "/tmp/x", "../x", "outputs/../../x", "~"])
def test_paths_that_leave_the_home_are_refused(home, escape):
    with pytest.raises(ConfigError, match=rf"forecast\.output_dir .* outside the project home .*{OUTPUT_ROOT_ENV}"):
        output_dir("forecast.output_dir", escape)


def test_a_symlink_out_of_the_home_is_refused(home, tmp_path):
    (tmp_path / "outside").mkdir()
    (home / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(ConfigError, match="outside the project home"):
        output_dir("validation.report_dir", "link/reports")


def test_the_operator_can_allow_another_root_but_a_config_cannot(home, tmp_path, monkeypatch):
    monkeypatch.setenv(OUTPUT_ROOT_ENV, str(tmp_path / "shared"))
    assert output_dir("forecast.output_dir", str(tmp_path / "shared" / "f")) == tmp_path / "shared" / "f"
    with pytest.raises(ConfigError, match="outside the project home"):
        output_dir("forecast.output_dir", str(tmp_path / "shared-not"))


def test_an_output_dir_that_is_a_file_is_refused(home):
    (home / "taken").write_text("x")
    with pytest.raises(ConfigError, match=r"forecast\.output_dir: .*taken is a file, not a folder"):
        output_dir("forecast.output_dir", "taken")
    with pytest.raises(ConfigError, match=r"would be inside .*taken, which is a file"):
        output_dir("forecast.output_dir", "taken/below")


def test_every_output_setting_of_a_config_is_checked(home):
    with pytest.raises(ConfigError, match=r"validation\.report_dir '/etc'"):
        check_output_dirs(load_config(None, {"validation.report_dir": "/etc"}))


def test_the_store_names_the_slot_and_credentials_do_not_change_it():
    local, team = store_id("sqlite:////home/me/mlruns/mlflow.db"), store_id("http://127.0.0.1:5000")
    assert local != team and len(local) == 10
    assert store_id("http://alice:secret@127.0.0.1:5000/") == team
    path = slot_path(Path("/o"), team, "m", "1", "2026-01-05")
    assert path == Path(f"/o/store={team}/m/version=1/as_of=2026-01-05/forecasts.parquet")


def test_a_slot_of_another_run_is_never_replaced(tmp_path):
    slot = tmp_path / "forecasts.parquet"
    check_slot_free(slot, "run-a")  # nothing there yet
    pd.DataFrame({"unique_id": ["s"], "yhat": [1.0], "run_id": ["run-a"]}).to_parquet(slot)
    check_slot_free(slot, "run-a")  # the same model again: a rerun replaces its own slot
    held = r"holds forecasts of training run\(s\) \['run-a'\], not of run run-b"
    with pytest.raises(OutputConflictError, match=held):
        check_slot_free(slot, "run-b")
    slot.write_text("not parquet")
    with pytest.raises(OutputConflictError, match="is not a forecast file"):
        check_slot_free(slot, "run-a")


def test_as_of_cuts_dated_history_and_leaves_integer_steps_whole():
    daily = pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2025-04-28", periods=6, freq="D"), "y": 1.0})
    cut, later = history_as_of(daily, pd.Timestamp(parse_as_of("2025-05-01")))
    assert cut["ds"].max() == pd.Timestamp("2025-05-01") and later == 2
    utc = daily.assign(ds=daily["ds"].dt.tz_localize("UTC"))
    assert history_as_of(utc, pd.Timestamp("2025-05-01"))[1] == 2
    assert history_as_of(daily, pd.Timestamp("2025-05-01T00:00", tz="UTC"))[1] == 2
    with pytest.raises(DataValidationError, match="no row is dated on or before 2025-01-01 00:00:00"):
        history_as_of(daily, pd.Timestamp("2025-01-01"))
    steps = pd.DataFrame({"unique_id": "a", "ds": range(5), "y": 1.0})
    assert history_as_of(steps, pd.Timestamp("2025-05-01"))[0] is steps


@pytest.mark.parametrize("bad", ["yesterday", "2025-13-01", "2025-05-01T12:00"])
def test_a_bad_as_of_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="is not a date"):
        parse_as_of(bad)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "yesterday"], "as_of 'yesterday' is not a date"),
        (["--horizon", "100000000"], "forecast.horizon: Input should be less than or equal to 10000"),
        (["--set", "forecast.output_dir=/"], "outside the project home"),
        (["--model", "../../elsewhere"], "tracking.model_name: Value error, '../../elsewhere' must be letters"),
    ],
)
def test_forecast_arguments_are_refused_before_any_server_or_library_starts(args, message):
    script = (
        "import sys\n"
        "from lstm_pipeline.cli import app\n"
        f"try:\n    app(['forecast', *{args!r}])\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('tensorflow', 'mlflow', 'prefect', 'great_expectations') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "HEAVY [] CODE 2" in done.stdout, done.stdout + done.stderr[-2000:]
    assert message in done.stderr
