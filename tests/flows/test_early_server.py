"""The CLI's early start of Prefect's temporary server: a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from flows import early_server

pytestmark = pytest.mark.flows


def test_an_existing_server_is_used_as_it_is(monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert early_server.start() is None


def test_starts_a_real_server_points_the_process_at_it_and_stops_it(monkeypatch, tmp_path):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("PREFECT_UI_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    server = early_server.start()
    assert server is not None
    try:
        assert server.api_url.startswith("http://127.0.0.1:")
        assert os.environ["PREFECT_API_URL"] == server.api_url
        server.wait_healthy()
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{server.api_url}/health", timeout=5) as response:
            assert response.status == 200
    finally:
        server.stop()
    assert server.process.poll() is not None
    with pytest.raises(RuntimeError, match="exited with code"):
        server.wait_healthy()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_a_cli_killed_by_sigkill_leaves_no_orphan_server(tmp_path):
    script = (
        "import time\n"
        "from flows import early_server\n"
        "server = early_server.start()\n"
        "server.wait_healthy()\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path)}
    cli = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    server_pid = 0
    try:
        server_pid = int(cli.stdout.readline())
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(server_pid):
            time.sleep(0.1)
        assert not _alive(server_pid), "the temporary server outlived the CLI that started it"
    finally:
        cli.kill()
        if server_pid and _alive(server_pid):  # leave nothing behind, even when the test fails
            os.kill(server_pid, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    return state != "Z"  # a zombie has exited; only its entry waits to be reaped


def test_a_signal_to_the_cli_s_process_group_leaves_the_server_to_the_cli(tmp_path):
    """Ctrl-C and `timeout` signal the whole group: the server must outlive the CLI's own shutdown."""
    script = (
        "import time, urllib.request\n"
        "from flows import early_server\n"
        "server = early_server.start()\n"
        "server.wait_healthy()\n"
        "try:\n    print('READY', flush=True)\n    time.sleep(600)\n"
        "except KeyboardInterrupt:\n"
        "    time.sleep(1.0)  # what the flow does now: report its state to the server\n"
        "    server.wait_healthy()\n"
        "    print('SERVER UP', flush=True)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PREFECT_HOME": str(tmp_path)}
    cli = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert cli.stdout.readline().strip() == "READY"
        os.killpg(cli.pid, signal.SIGINT)
        out, err = cli.communicate(timeout=60)
        assert "SERVER UP" in out, err[-2000:]
    finally:
        cli.kill()
