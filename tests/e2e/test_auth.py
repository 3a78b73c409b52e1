"""Team mode's opt-in auth (scripts/team.sh with TEAM_MLFLOW_AUTH=1 and TEAM_PREFECT_AUTH=1), on real servers.

The script itself starts both servers on free loopback ports in a temporary TEAM_DIR: MLflow's
basic-auth app with a generated admin password, Prefect with a generated auth string. Requests
without the credentials get 401; with them, 200.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest
from helpers import HOST, PROJECT, free_port, http_status, isolated_env, run, stop_group

pytestmark = pytest.mark.e2e
TEAM_SH = str(PROJECT / "scripts" / "team.sh")


def exports(output: str) -> dict[str, str]:
    """The variables of `team.sh env` output, as the shell's eval would set them."""
    found = {}
    for line in output.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = shlex.split(value)[0]
    return found


def private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_team_auth_mode_refuses_requests_without_credentials(tmp_path):
    team_dir = tmp_path / "team"
    mlflow_port, prefect_port = free_port(), free_port()
    env = isolated_env(
        tmp_path,
        TEAM_DIR=str(team_dir),
        TEAM_MLFLOW_PORT=str(mlflow_port),
        TEAM_PREFECT_PORT=str(prefect_port),
        TEAM_MLFLOW_AUTH="1",
        TEAM_PREFECT_AUTH="1",
    )
    try:
        started = run([TEAM_SH, "servers"], env, timeout=420)
        assert "password in" in started.output and "readable by you only" in started.output
        shell = exports(run([TEAM_SH, "env"], env).output)

        # Secrets: generated (no default), private, and what `env` hands to clients.
        password = shell["MLFLOW_TRACKING_PASSWORD"]
        assert shell["MLFLOW_TRACKING_USERNAME"] == "admin"
        assert len(password) >= 24 and password not in {"password", "password1234"}
        assert private(team_dir / "mlflow" / "auth.ini") and private(team_dir / "prefect" / "auth-string")
        assert private(team_dir / "mlflow" / "basic_auth.db")  # the users' password hashes
        assert f"admin_password = {password}\n" in (team_dir / "mlflow" / "auth.ini").read_text()
        auth_string = shell["PREFECT_API_AUTH_STRING"]
        assert auth_string == (team_dir / "prefect" / "auth-string").read_text().strip()

        mlflow_api = f"http://{HOST}:{mlflow_port}/api/2.0/mlflow/experiments/search?max_results=1"
        assert http_status("GET", mlflow_api) == 401
        assert http_status("GET", mlflow_api, user_password="admin:not-the-password") == 401
        assert http_status("GET", mlflow_api, user_password=f"admin:{password}") == 200

        prefect_api = f"http://{HOST}:{prefect_port}/api/flows/filter"
        assert http_status("POST", prefect_api, payload={}) == 401
        assert http_status("POST", prefect_api, payload={}, user_password="admin:wrong") == 401
        assert http_status("POST", prefect_api, payload={}, user_password=auth_string) == 200
        assert http_status("GET", f"http://{HOST}:{prefect_port}/api/health") == 200  # probes stay open
    finally:
        run([TEAM_SH, "down"], env, check=False, timeout=120)
        for pid_file in (team_dir / "run").glob("*.pid"):  # whatever `down` could not stop
            stop_group(int(pid_file.read_text()), timeout=10)
