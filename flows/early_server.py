"""Prefect's temporary API server, started before the heavy imports so that both happen at once.

Without `PREFECT_API_URL`, every CLI command would import Prefect's server code (~3 s, measured)
and then wait for a temporary server to boot before its flow starts. Starting the same server
process first and importing TensorFlow, MLflow and Great Expectations while it boots hides most
of that on a second core. The process is the one Prefect itself starts for a temporary server
(`prefect.server.api.server.SubprocessASGIServer`); nothing here imports Prefect.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class TemporaryServer:
    """A Prefect API server process this process started, and the port it serves on."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def api_url(self) -> str:
        """What `PREFECT_API_URL` is set to."""
        return f"http://{HOST}:{self.port}/api"

    def wait_healthy(self) -> None:
        """Poll `/api/health` until it answers 200, or fail with what the server process did."""
        timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never via a proxy
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Prefect's temporary server exited with code {self.process.returncode}")
            try:
                with opener.open(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Prefect's temporary server on port {self.port} did not answer within {timeout:g} s")

    def stop(self) -> None:
        """Terminate the server, and kill it if it has not exited 5 s later (as Prefect does)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start() -> TemporaryServer | None:
    """Start a temporary server unless `PREFECT_API_URL` names one; do not wait for it to boot.

    Sets `PREFECT_API_URL` for this process (before Prefect is imported: it reads it once) and
    stops the server at exit. Returns None when a server is already configured.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    port = _free_port()
    # A session of its own: Ctrl-C or `timeout` signal the whole process group, and a server stopped with
    # the CLI would leave the flow retrying its state updates for minutes. The CLI stops it at exit.
    process = subprocess.Popen(_server_command(port), env={**os.environ, **_SERVER_ENV}, start_new_session=True)
    server = TemporaryServer(process, port)
    atexit.register(server.stop)
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ.setdefault("PREFECT_UI_URL", "")  # no UI on a temporary server: no dead "View at" links
    return server


# What Prefect sets for its own temporary server: no UI, and marked as ephemeral.
_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


# On Linux the server asks the kernel for SIGTERM when its parent dies (PR_SET_PDEATHSIG), so a CLI
# ended by SIGKILL, or by a signal Python does not handle, leaves no orphan server behind.
_LINKED_TO_PARENT = """
import ctypes, os, runpy, signal, sys
parent = int(sys.argv.pop(1))
ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
if os.getppid() != parent:  # the parent died before the link was made
    sys.exit(0)
sys.argv[0] = "uvicorn"
runpy.run_module("uvicorn", run_name="__main__", alter_sys=True)
"""


def _server_command(port: int) -> list[str]:
    spec = importlib.util.find_spec("prefect")  # its location, without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("prefect is not installed in this environment")
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    launch = ["-c", _LINKED_TO_PARENT, str(os.getpid())] if sys.platform.startswith("linux") else ["-m", "uvicorn"]
    return [
        sys.executable, *launch, "--app-dir", str(app_dir),
        "--factory", "prefect.server.api.server:create_app",
        "--host", HOST, "--port", str(port), "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
