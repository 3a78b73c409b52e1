"""Processes for the end-to-end tests: free loopback ports, servers in their own process groups, CLI calls.

Every long-lived process starts in a new session (its own process group) with its output in a log
file, and is stopped by signalling the whole group: SIGTERM, then SIGKILL after a timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # loopback only, always

# Log files worth showing when a test fails (name -> path); conftest adds their tails to failure reports.
LOGS: dict[str, Path] = {}


def executable(name: str) -> str:
    """A console script of this environment (beside sys.executable), else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is neither beside {sys.executable} nor on PATH")
    return found


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    """The last `lines` lines of a log file (progress bars and TensorFlow chatter included)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc.strerror}>"
    return "\n".join(text.replace("\r", "\n").splitlines()[-lines:])


# Loopback never goes through a proxy, whatever the environment says.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    """Status and body of a GET; (0, reason) when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def http_status(method: str, url: str, *, user_password: str | None = None, payload: Any = None) -> int:
    """The status of one request, with HTTP basic auth when `user_password` ("user:password") is given."""
    import base64

    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if user_password is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(user_password.encode()).decode())
    try:
        with _OPENER.open(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def http_json(method: str, url: str, payload: Any = None, timeout: float = 30.0) -> Any:
    """Send JSON, return the decoded JSON answer; raise with the body on an HTTP error."""
    data = None if payload is None else json.dumps(payload).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{method} {url} -> {exc.code}: {exc.read().decode(errors='replace')[:2000]}") from None


ADDRESS_IN_USE = ("address already in use", "errno 98", "[errno 48]")


@dataclass
class Service:
    """A server (or worker) process in its own process group, logging to `log`.

    `command(port)` builds the argv; a server that finds its port taken (the port was free when
    picked, but another process bound it before the server did) is restarted on a new port.
    """

    name: str
    command: Callable[[int], list[str]]
    env: dict[str, str]
    log: Path
    cwd: Path = PROJECT
    health_path: str | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = 0.0
    restarts: int = 0
    # What the process gets (Linux) if the test process dies without stopping it. A Prefect worker
    # waits for a server that may be gone too: it gets SIGKILL.
    death_signal: signal.Signals = signal.SIGTERM

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def argv(self) -> list[str]:
        return self.command(self.port)

    def start(self) -> Service:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        LOGS[self.name] = self.log
        with self.log.open("ab") as out:
            out.write(f"$ {' '.join(self.argv)}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own session and process group: stopped as a whole
                preexec_fn=functools.partial(_signal_on_parent_death, self.death_signal),
            )
        self.started_at = time.monotonic()
        return self

    def wait_healthy(self, timeout: float) -> float:
        """Poll the health URL until it answers 200; seconds since start. Fail fast if the process dies."""
        assert self.proc is not None and self.health_path
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if self.restarts < 3 and any(s in tail(self.log, 30).lower() for s in ADDRESS_IN_USE):
                    self.restarts += 1
                    self.port = free_port()
                    self.start()
                    deadline = self.started_at + timeout
                    continue
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before answering "
                    f"{self.url}{self.health_path}\n--- {self.log} (tail) ---\n{tail(self.log)}"
                )
            status, _ = http_get(self.url + self.health_path, timeout=3)
            if status == 200 and self.proc.poll() is None:
                return time.monotonic() - self.started_at
            time.sleep(0.5)
        raise TimeoutError(
            f"{self.name} did not answer {self.url}{self.health_path} within {timeout:.0f} s\n"
            f"--- {self.log} (tail) ---\n{tail(self.log)}"
        )

    def stop(self, timeout: float = 20.0) -> float:
        """SIGTERM the process group, SIGKILL it after `timeout`; seconds it took. Safe to call twice."""
        if self.proc is None:
            return 0.0
        began = time.monotonic()
        stop_group(self.proc.pid, timeout, leader=self.proc)
        return time.monotonic() - began


# prctl(2), resolved in the parent: the child runs only this call between fork and exec.
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
_PR_SET_PDEATHSIG = 1


def _signal_on_parent_death(sig: signal.Signals) -> None:
    """In the child, before exec: on Linux, get `sig` if the test process dies (even by SIGKILL).

    A server in its own session would otherwise outlive a killed pytest.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(sig))


def _gone_within(pgid: int, seconds: float, leader: subprocess.Popen[bytes] | None) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if leader is not None:
            leader.poll()  # reap our own child: a zombie leader still counts as a member
        if not group_alive(pgid):
            return True
        time.sleep(0.2)
    return False


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies of other parents included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_group(pgid: int, timeout: float = 20.0, leader: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM every process of the group, then SIGKILL whatever is left after `timeout`.

    The group is signalled even when its leader has exited: children (uvicorn workers, flow runs)
    may outlive it. `leader`, our own child, is reaped so that it does not linger as a zombie.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        if _gone_within(pgid, wait, leader):
            break
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(timeout=5)


@dataclass(frozen=True)
class Result:
    """A finished CLI call."""

    argv: list[str]
    returncode: int
    output: str
    seconds: float

    def describe(self) -> str:
        return f"$ {' '.join(self.argv)}\n(exit {self.returncode} after {self.seconds:.1f} s)\n{self.output[-6000:]}"


def run(
    argv: list[str], env: dict[str, str], *, cwd: Path = PROJECT, timeout: float = 120.0, check: bool = True
) -> Result:
    """Run a command to completion in its own process group (killed as a whole on timeout)."""
    began = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc.pid, timeout=5)
        out, _ = proc.communicate()
        result = Result(argv, -1, out.decode(errors="replace"), time.monotonic() - began)
        raise AssertionError(f"timed out after {timeout:.0f} s:\n{result.describe()}") from None
    result = Result(argv, proc.returncode, out.decode(errors="replace"), time.monotonic() - began)
    if check and result.returncode != 0:
        raise AssertionError(f"command failed:\n{result.describe()}")
    return result


def isolated_env(root: Path, **extra: str) -> dict[str, str]:
    """This process's environment without Prefect/MLflow/pipeline settings, plus a private Prefect home.

    Subprocesses get exactly the MLflow/Prefect settings a test passes in `extra`, nothing inherited.
    Their temporary files go to <root>/tmp: models downloaded from the MLflow server land in
    temporary folders that nobody deletes.
    """
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PREFECT_", "MLFLOW_")) and key not in {"LSTM_PIPELINE_HOME", "PWD", "OLDPWD"}
    }
    env.update(
        PREFECT_HOME=str(root / "prefect-home"),
        TMPDIR=str(root / "tmp"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_CLI_COLORS="false",
        PREFECT_CLI_WRAP_LINES="false",
        PREFECT_LOGGING_LEVEL="INFO",
        MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
    )
    env.update(extra)
    return env


@dataclass
class Stack:
    """The running servers, the folder that holds their state, and helpers for what tests start."""

    root: Path
    mlflow: Service
    prefect: Service
    extra: list[Service] = field(default_factory=list)

    @property
    def mlflow_url(self) -> str:
        return self.mlflow.url

    @property
    def prefect_api_url(self) -> str:
        return f"{self.prefect.url}/api"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a CLI subprocess talking to the Prefect server (MLflow only if passed)."""
        return isolated_env(self.root, PREFECT_API_URL=self.prefect_api_url, **extra)

    @contextmanager
    def started(self, service: Service) -> Iterator[Service]:
        """Start a process of a test (worker, model server); stop its group on the way out."""
        self.extra.append(service)
        service.start()
        try:
            yield service
        finally:
            service.stop(timeout=15)


def mlflow_service(name: str, root: Path, env: dict[str, str]) -> Service:
    """An MLflow tracking server (one worker, no job runner) on a SQLite store under `root`, not started."""
    (root / "mlflow").mkdir(parents=True, exist_ok=True)
    return Service(
        name,
        lambda port: [
            executable("mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow' / 'mlflow.db'}",
            "--artifacts-destination",
            str(root / "mlflow" / "artifacts"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env={**env, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        log=root / "logs" / f"{name}.log",
        cwd=root,
        # The REST API backed by the database, not only the liveness route.
        health_path="/api/2.0/mlflow/experiments/search?max_results=1",
    )


def prefect_service(name: str, root: Path, env: dict[str, str]) -> Service:
    """A Prefect server with its own home (from `env`), not started."""
    return Service(
        name,
        lambda port: [executable("prefect"), "server", "start", "--host", HOST, "--port", str(port)],
        env=env,
        log=root / "logs" / f"{name}.log",
        cwd=root,
        health_path="/api/health",
    )
