import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from lstm_pipeline.config import load_config
from lstm_pipeline.evaluation import evaluate_saved_model
from lstm_pipeline.forecasting import forecast, predict_batched
from lstm_pipeline.model import load_network
from lstm_pipeline.tracking import log_training_run, tracking_uri
from lstm_pipeline.training import train_and_save
from tests.integration.conftest import TINY

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
""")


def test_logged_pyfunc_forecasts_in_a_fresh_process_as_in_process(tmp_path, pipeline_home, sine_data):
    cfg = load_config(None, {**TINY, "tracking.experiment": "pyfunc-roundtrip"})
    frame, data = sine_data
    keras_path = tmp_path / "model.keras"
    training = train_and_save(data, cfg, keras_path)
    evaluation = evaluate_saved_model(keras_path, frame, data, cfg)
    logged = log_training_run(
        cfg=cfg,
        frame=frame,
        source="sine",
        training=training,
        evaluation=evaluation,
        figures={},
        keras_path=str(keras_path),
        scaler=data.scaler,
    )
    network = load_network(keras_path)
    expected = forecast(
        lambda X: predict_batched(network, X),
        frame,
        lookback=cfg.window.lookback,
        model_horizon=1,
        horizon=7,
        scaler=data.scaler,
    )
    done = predict_in_fresh_process(logged.model_uri, frame, tmp_path)
    assert str(PROJECT / "src") not in done.stdout, "the model must load its own bundled code"
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
