"""What it takes to reproduce a run: the same seed gives the same weights across processes, and the
logged run records the environment (seed, Python, platform, lock hash, every installed package).
"""

from __future__ import annotations

import hashlib
import platform
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import mlflow
import pytest

from lstm_pipeline.config import load_config
from lstm_pipeline.provenance import ENVIRONMENT_ARTIFACT, VERSION_TAGS
from lstm_pipeline.training import train_and_save
from tests.integration.conftest import TINY, fit_and_log
from tests.integration.test_training import weights_digest

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]

TRAIN_AND_HASH = textwrap.dedent("""
    import sys
    from lstm_pipeline.config import load_config
    from lstm_pipeline.sources import load_series
    from lstm_pipeline.training import train_and_save
    from lstm_pipeline.windowing import make_windows
    from tests.integration.conftest import TINY
    from tests.integration.test_training import weights_digest

    cfg = load_config(None, TINY)
    train_and_save(make_windows(load_series(cfg.source), cfg.window), cfg, sys.argv[1])
    print("DIGEST", weights_digest(sys.argv[1]))
""")


def test_same_seed_gives_the_same_weights_in_separate_processes(tmp_path, tiny_cfg, sine_data):
    # A fresh interpreter, started while this one (which has trained before) trains too.
    other = subprocess.Popen(
        [sys.executable, "-c", TRAIN_AND_HASH, str(tmp_path / "other.keras")],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, data = sine_data
    train_and_save(data, tiny_cfg, tmp_path / "here.keras")
    out, err = other.communicate(timeout=300)
    assert other.returncode == 0, err[-3000:]
    digests = [line.split()[1] for line in out.splitlines() if line.startswith("DIGEST ")]
    assert digests == [weights_digest(tmp_path / "here.keras")]


def test_a_logged_run_records_what_reproducing_it_needs(tmp_path, pipeline_home, sine_data):
    cfg = load_config(None, {**TINY, "train.seed": 11, "tracking.experiment": "reproducibility"})
    frame, _ = sine_data
    _, logged = fit_and_log(frame, cfg)
    params = mlflow.MlflowClient().get_run(logged.run_id).data.params
    assert params["train.seed"] == "11" and not any(k.startswith(("sweep.", "auto.", "backtest.")) for k in params)
    logged_config = mlflow.artifacts.download_artifacts(
        run_id=logged.run_id, artifact_path="config.yaml", dst_path=str(tmp_path)
    )
    assert load_config(logged_config) == cfg  # the resolved config, read back with the project's own loader
    tags = mlflow.MlflowClient().get_run(logged.run_id).data.tags
    assert tags["seed"] == "11"
    assert tags["python"] == platform.python_version()
    assert tags["platform"] == platform.platform()
    assert tags["uv.lock.sha256"] == hashlib.sha256((PROJECT / "uv.lock").read_bytes()).hexdigest()
    for name in VERSION_TAGS:
        assert tags[f"version.{name}"] == metadata.version(name)

    local = mlflow.artifacts.download_artifacts(
        run_id=logged.run_id, artifact_path=ENVIRONMENT_ARTIFACT, dst_path=tmp_path
    )
    pins = dict(line.split("==", 1) for line in Path(local).read_text(encoding="utf-8").splitlines())
    lowered = {name.lower(): version for name, version in pins.items()}
    for name in ("tensorflow", "keras", "mlflow", "prefect", "numpy", "pandas", "pytest"):
        assert lowered[name] == metadata.version(name), name
    installed = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower() for d in metadata.distributions()}
    assert {re.sub(r"[-_.]+", "-", name).lower() for name in pins} == installed
