"""What-if prototype for BENCHMARKS.md: `lstm-pipeline` with proposed start-up/exit changes applied
from the outside, so their gain is measured without touching src/ or flows/.

--early-server  first thing, start Prefect's temporary server ourselves (the same uvicorn command
                Prefect's SubprocessASGIServer runs) and point PREFECT_API_URL at it, so it boots on
                the other core while this process imports; Prefect then neither imports
                prefect.server nor waits. The server is stopped at exit.
--preimport     import keras (TensorFlow), mlflow and great_expectations before the flow starts:
                in the main thread with --early-server, else in a daemon thread (GIL-bound).
--fast-exit     registered as the first atexit handler, so it runs after the others (Prefect stops
                its server there): shut logging down, flush, `os._exit`, skipping the
                interpreter's module teardown.

Usage: .venv/bin/python bench/_whatif_cli.py [flags] -- train --config configs/seed.yaml
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

EXIT = {"code": 0}


def preload() -> None:
    import great_expectations  # noqa: F401
    import keras  # noqa: F401  (imports TensorFlow)
    import mlflow  # noqa: F401


def start_server() -> subprocess.Popen:
    """Prefect's own ephemeral-server command, started by us; PREFECT_API_URL points at it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    prefect_dir = Path(importlib.util.find_spec("prefect").submodule_search_locations[0]).parent
    env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(prefect_dir), "--factory",
           "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "error", "--lifespan", "on"]  # fmt: skip
    os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{port}/api"
    return subprocess.Popen(cmd, env=env)


def wait_healthy(timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(os.environ["PREFECT_API_URL"] + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("temporary Prefect server did not start")


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=5)
    except subprocess.TimeoutExpired:
        server.kill()


def fast_exit() -> None:
    logging.shutdown()  # normally an atexit handler that would run after this one: flush log handlers now
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT["code"])


def main() -> None:
    split = sys.argv.index("--")
    flags, args = sys.argv[1:split], sys.argv[split + 1 :]
    if "--fast-exit" in flags:
        atexit.register(fast_exit)  # registered first, so it runs last
    if "--early-server" in flags:
        server = start_server()
        atexit.register(stop, server)
    if "--preimport" in flags:
        if "--early-server" in flags:
            preload()
        else:
            threading.Thread(target=preload, name="preimport", daemon=True).start()
    from lstm_pipeline.cli import app

    if "--early-server" in flags:
        wait_healthy()
    try:
        app(args, prog_name="lstm-pipeline")
    except SystemExit as exc:
        EXIT["code"] = exc.code if isinstance(exc.code, int) else 1
    sys.exit(EXIT["code"])


if __name__ == "__main__":
    main()
