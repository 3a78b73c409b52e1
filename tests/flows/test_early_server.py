"""The CLI's early start of Prefect's temporary server: a real server process on 127.0.0.1."""

from __future__ import annotations

import os
import urllib.request

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
