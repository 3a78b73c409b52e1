"""What the terminal shows: our messages and the libraries' own logs, without native noise or repeats.

TensorFlow's C++ core writes absl/glog lines (oneDNN, CUDA, cuInit, "NodeDef mentions attribute")
straight to file descriptor 2, some before any setting can silence them (`TF_CPP_MIN_LOG_LEVEL`
does not cover them all, measured). `NativeLogFilter` passes stderr through a pipe and drops
those lines only. `TypedErrorFilter` keeps Prefect's console from repeating an expected error
(one of ours) with tracebacks; Prefect's API handler still records them for the flow run's logs.
Nothing here imports Prefect, MLflow or TensorFlow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading

from lstm_pipeline.errors import LstmPipelineError

# `I0000 00:00:1796154235.689427    3028 port.cc:153] ...`, the absl/glog line format, and absl's banner.
_NATIVE_LINE = re.compile(
    rb"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] |WARNING: All log messages before absl::)"
)


def is_native_log_line(line: bytes) -> bool:
    """True for a line TensorFlow's C++ logging wrote (not for anything Python logged)."""
    return bool(_NATIVE_LINE.match(line))


class NativeLogFilter:
    """Route file descriptor 2 through a pipe and drop native log lines; everything else passes.

    Child processes inherit the pipe, so their native lines are dropped too. `stop` restores the
    real stderr and forwards what is still buffered.
    """

    def __init__(self) -> None:
        self._real: int | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start filtering (idempotent); without a usable stderr, leave things as they are."""
        if self._real is not None:
            return
        sys.stderr.flush()
        try:
            self._real = os.dup(2)
        except OSError:  # fd 2 closed: nothing to filter
            return
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, args=(read_end,), name="native-log-filter", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Give fd 2 back to the real stderr and wait (briefly) for the pipe to drain."""
        if self._real is None or self._thread is None:
            return
        with contextlib.suppress(ValueError, OSError):
            sys.stderr.flush()
        os.dup2(self._real, 2)  # closes our write end: the pump sees EOF once children have closed theirs
        self._thread.join(timeout=2)

    def _pump(self, read_end: int) -> None:
        assert self._real is not None
        pending = b""
        try:
            while chunk := os.read(read_end, 65536):
                *lines, pending = (pending + chunk).split(b"\n")
                _write_all(self._real, b"".join(line + b"\n" for line in lines if not is_native_log_line(line)))
            if pending and not is_native_log_line(pending):
                _write_all(self._real, pending)
        except OSError:  # the real stderr is gone: keep draining, so writers never block on a full pipe
            while os.read(read_end, 65536):
                pass
        finally:
            os.close(read_end)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _typed_error_names() -> set[str]:
    names, todo = set(), [LstmPipelineError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names


class TypedErrorFilter(logging.Filter):
    """Drop console records that only repeat one of our typed errors (the CLI prints it once)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """False for a record carrying a typed error, or a 'Finished in state Failed' naming one."""
        if record.exc_info and isinstance(record.exc_info[1], LstmPipelineError):
            return False
        message = record.getMessage()
        if "encountered an exception" not in message:
            return True
        return not any(f"{name}:" in message or f"{name}(" in message for name in _typed_error_names())


def quiet_console_logs() -> None:
    """Keep repeats of typed errors off the console handlers; quiet GX's INFO and TF's retracing chatter.

    Call after Prefect has configured logging (it does so when imported).
    """
    typed = TypedErrorFilter()
    for handler in logging.getLogger().handlers:
        filtered = any(isinstance(f, TypedErrorFilter) for f in handler.filters)
        if isinstance(handler, logging.StreamHandler) and not filtered:
            handler.addFilter(typed)
    for name in ("great_expectations", "great_expectations.data_context.types.base"):  # GX sets the second itself
        logging.getLogger(name).setLevel(logging.WARNING)
    # An ensemble's members each trace their own predict function: TensorFlow calls that "retracing".
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def command(name: str) -> str:
    """How a person runs one of this environment's commands: its name if PATH finds this very one, else its path.

    A virtual environment that is not activated is not on PATH, so `mlflow ui ...` alone would not run.
    """
    import shutil
    from pathlib import Path

    local = Path(sys.executable).parent / name
    found = shutil.which(name)
    if found and local.exists() and Path(found).resolve() == local.resolve():
        return name
    return str(local) if local.exists() else name
