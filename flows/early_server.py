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
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"


def start() -> Callable[[], None] | None:
    """Start a temporary server unless `PREFECT_API_URL` names one; return a wait-until-healthy call.

    Sets `PREFECT_API_URL` for this process (before Prefect is imported, which reads it once) and
    stops the server at exit. Returns None when a server is already configured.
    """
    if os.environ.get("PREFECT_API_URL"):
        return None
    port = _free_port()
    process = subprocess.Popen(_server_command(port), env={**os.environ, **_SERVER_ENV})
    atexit.register(_stop, process)
    os.environ["PREFECT_API_URL"] = f"http://{HOST}:{port}/api"
    os.environ.setdefault("PREFECT_UI_URL", "")  # no UI on a temporary server: no dead "View at" links
    return lambda: _wait_healthy(process, port)


# What Prefect sets for its own temporary server: no UI, and marked as ephemeral.
_SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}


def _server_command(port: int) -> list[str]:
    spec = importlib.util.find_spec("prefect")  # its location, without importing it
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("prefect is not installed in this environment")
    app_dir = Path(next(iter(spec.submodule_search_locations))).parent
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir),
        "--factory", "prefect.server.api.server:create_app",
        "--host", HOST, "--port", str(port), "--log-level", "error", "--lifespan", "on",
    ]  # fmt: skip


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    """Poll `/api/health` until it answers 200, or fail with what the server process did."""
    timeout = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never via a proxy
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Prefect's temporary server on port {port} exited with code {process.returncode}")
        try:
            with opener.open(f"http://{HOST}:{port}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"Prefect's temporary server on port {port} did not answer within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
