"""README command 1, as a user runs it: `lstm-pipeline demo` in a fresh process on an empty home."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from lstm_pipeline.console import is_native_log_line

pytestmark = pytest.mark.flows
CLI = Path(sys.executable).with_name("lstm-pipeline")

CHAMPION_IN_PLAIN_MLFLOW = textwrap.dedent("""
    import mlflow, numpy as np, pandas as pd
    mlflow.set_tracking_uri({uri!r})
    history = pd.DataFrame({{"unique_id": "sine", "ds": np.arange(100), "y": np.sin(np.arange(100) / 10)}})
    out = mlflow.pyfunc.load_model("models:/lstm-forecaster@champion").predict(history, params={{"horizon": 3}})
    print(out.to_json(orient="records"))
""")


def test_demo_trains_registers_and_forecasts(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PREFECT_API_URL")}
    env["LSTM_PIPELINE_HOME"] = str(tmp_path)
    tiny = [
        "train.epochs=20",
        "model.units=[8]",
        "promotion.max_vs_seasonal_naive=1000",
    ]  # the gate is tested elsewhere
    cmd = [str(CLI), "demo", "--horizon", "4", *(arg for setting in tiny for arg in ("--set", setting))]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]

    out = done.stdout
    noise = [line for line in done.stderr.splitlines() if is_native_log_line(line.encode())]
    assert not noise and "cuInit" not in done.stderr and "NodeDef" not in done.stderr, noise
    assert re.search(r"MLflow run\s+[0-9a-f]{32}", out)
    assert "registered     lstm-forecaster version 1 -> @champion: MASE" in out
    db = tmp_path / "mlruns" / "mlflow.db"
    assert f"mlflow ui --backend-store-uri sqlite:///{db}" in out
    slots = list((tmp_path / "outputs" / "forecasts").glob("store=*/lstm-forecaster/version=1/as_of=*"))
    assert len(slots) == 1
    forecasts = slots[0] / "forecasts.parquet"
    assert str(forecasts) in out
    assert (slots[0] / "forecasts.png").is_file()
    assert list(pd.read_parquet(forecasts)["ds"]) == [100, 101, 102, 103]
    assert any((tmp_path / "mlruns" / "artifacts").rglob("keras_model.keras"))

    script = CHAMPION_IN_PLAIN_MLFLOW.format(uri=f"sqlite:///{db}")
    fresh = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    rows = pd.DataFrame(json.loads(fresh.stdout.strip().splitlines()[-1]))
    assert list(rows["ds"]) == [100, 101, 102]
    assert rows["yhat"].between(-2, 2).all()
