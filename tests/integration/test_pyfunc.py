import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.config import load_config
from lstm_pipeline.store import tracking_uri
from tests.integration.conftest import TINY, fit_and_log

pytestmark = pytest.mark.integration
PROJECT = Path(__file__).resolve().parents[2]

FRESH_PROCESS = textwrap.dedent("""
    import sys
    # Hide the checkout: the model must bring its own code.
    sys.path = [p for p in sys.path if p not in ({project!r}, {src!r}, '')]
    import mlflow, pandas as pd
    mlflow.set_tracking_uri({uri!r})
    model = mlflow.pyfunc.load_model({model_uri!r})
    out = model.predict(pd.read_parquet({history!r}), params={{"horizon": 7}})
    out.to_parquet({result!r})
    import lstm_pipeline
    print("CODE_FROM", lstm_pipeline.__file__)
    print("LOADED", sorted(m for m in sys.modules if m.startswith("lstm_pipeline.")))
""")


def test_logged_ensemble_forecasts_in_a_fresh_process_the_median_of_its_members(tmp_path, pipeline_home, sine_data):
    cfg = load_config(None, {**TINY, "train.ensemble": 3, "tracking.experiment": "pyfunc-roundtrip"})
    frame, _ = sine_data
    fitted, logged = fit_and_log(frame, cfg)
    members = [m.forecast(frame, 7)["yhat"].to_numpy() for m in fitted.ensemble.members]
    assert len(members) == 3 and not np.allclose(members[0], members[1])  # the seeds differ
    expected = fitted.ensemble.forecast(frame, 7)
    np.testing.assert_allclose(expected["yhat"], np.median(np.stack(members), axis=0))
    done = predict_in_fresh_process(logged.model_uri, frame, tmp_path)
    assert str(PROJECT / "src") not in done.stdout, "the model must load its own bundled code"
    bundled = {p.stem for p in Path(done.stdout.split("CODE_FROM ")[1].split()[0]).parent.glob("*.py")}
    assert "config" not in bundled and "tracking" not in bundled and "pyfunc_model" in bundled  # the serving core
    assert "lstm_pipeline.config" not in done.stdout.split("LOADED")[1]
    got = pd.read_parquet(tmp_path / "out.parquet")
    assert list(got["ds"]) == list(range(100, 107))
    pd.testing.assert_frame_equal(got, expected, rtol=1e-6)


def predict_in_fresh_process(model_uri: str, frame: pd.DataFrame, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Load `model_uri` and forecast `frame` in a new Python process; the forecasts land in tmp_path/out.parquet."""
    frame.to_parquet(tmp_path / "history.parquet")
    script = FRESH_PROCESS.format(
        project=str(PROJECT),
        src=str(PROJECT / "src"),
        uri=tracking_uri(),
        model_uri=model_uri,
        history=str(tmp_path / "history.parquet"),
        result=str(tmp_path / "out.parquet"),
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done
