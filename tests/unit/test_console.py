"""What the terminal shows: native TensorFlow lines dropped, typed errors not repeated, runnable hints."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from lstm_pipeline.console import TypedErrorFilter, command, is_native_log_line
from lstm_pipeline.errors import DataValidationError

NATIVE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796154235.689427    3028 port.cc:153] oneDNN custom operations are on.",
    b"E0000 00:00:1796154264.559079    3117 cuda_platform.cc:52] failed call to cuInit: INTERNAL",
    b"W0000 00:00:1796154264.559079    3117 grappler/op_level.cc:9] NodeDef mentions attribute use_unbounded",
]
OURS = [
    b"error (DataValidationError): the training data breaks the data contract:",
    b"19:46:43.261 | ERROR   | Task run 'record-validation-failure-d90' - data validation failed",
    b"2026/12/01 19:47:07 INFO mlflow.utils.uv_utils: Copied uv.lock to model artifacts",
]


def test_native_lines_are_recognised_and_ours_are_not():
    assert all(is_native_log_line(line) for line in NATIVE)
    assert not any(is_native_log_line(line) for line in OURS)


def record(message: str, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc else None
    return logging.LogRecord("prefect.flow_runs", logging.ERROR, __file__, 1, message, (), exc_info)


def test_typed_errors_are_kept_off_the_console_but_other_errors_are_not():
    typed = DataValidationError("broken")
    keep = TypedErrorFilter().filter
    assert not keep(record("Encountered exception during execution: DataValidationError('broken')", typed))
    assert not keep(record("Finished in state Failed('Flow run encountered an exception: DataValidationError: x')"))
    assert keep(record("Encountered exception during execution: KeyError('x')", KeyError("x")))
    assert keep(record("Finished in state Failed('Flow run encountered an exception: KeyError: x')"))
    assert keep(record("data validation failed; report in /tmp/x"))


def test_the_native_filter_drops_tensorflow_lines_written_to_fd_2():
    written = b"\n".join([*NATIVE, *OURS]) + b"\n"
    script = (
        "import os, sys\n"
        "from lstm_pipeline.console import NativeLogFilter\n"
        "f = NativeLogFilter(); f.start()\n"
        f"os.write(2, {written!r})\n"
        "print('from python', file=sys.stderr)\n"
        "f.stop()\n"
        "print('after stop', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, check=True)
    lines = done.stderr.splitlines()
    assert lines == [*OURS, b"from python", b"after stop"]


def test_hints_name_a_command_that_runs_without_an_activated_environment(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # .venv/bin not on PATH, as after `make demo`
    hinted = command("mlflow")
    assert hinted == str(Path(sys.executable).parent / "mlflow")
    runs = subprocess.run([hinted, "--version"], capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert runs.returncode == 0, runs.stderr
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:/usr/bin")
    assert command("mlflow") == "mlflow"  # on PATH: the short name runs the same program
