import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lstm_pipeline.cli import app

runner = CliRunner()


def test_help_lists_the_commands_without_loading_heavy_libraries():
    script = (
        "import sys\n"
        "from lstm_pipeline.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mlflow', 'prefect', 'great_expectations') if m in sys.modules]\n"
        "print('HEAVY', heavy, 'CODE', code)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "HEAVY [] CODE 0" in out
    for command in ("train", "forecast", "demo"):
        assert command in out


def test_unknown_setting_fails_fast_with_a_clear_message():
    result = runner.invoke(app, ["train", "--set", "train.nope=1"])
    assert result.exit_code == 2
    assert "ConfigError" in result.output
    assert "train.nope" in result.output


def test_missing_config_file(tmp_path):
    result = runner.invoke(app, ["forecast", "--config", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "cannot read config file" in result.output


def test_bad_horizon_is_refused_by_the_parser():
    result = runner.invoke(app, ["forecast", "--horizon", "0"])
    assert result.exit_code != 0


def test_the_console_script_keeps_exit_codes_and_output_with_its_fast_exit():
    script = str(Path(sys.executable).with_name("lstm-pipeline"))
    ok = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "backtest" in ok.stdout  # flushed before the fast exit
    bad = subprocess.run([script, "train", "--set", "train.nope=1"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "train.nope" in bad.stderr  # errors keep the normal exit


def test_malformed_yaml_in_set_is_a_config_error_not_a_traceback():
    result = runner.invoke(app, ["train", "--set", "model.units=[32"])
    assert result.exit_code == 2
    assert "error (ConfigError): override 'model.units=[32': the value is not valid YAML" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
