"""A cold `lstm-pipeline forecast` (new process to Parquet) vs a bare script that loads the Keras model and predicts.

Target: at most 1.5x. Both read the same history and write the same forecasts; the pipeline also
resolves the champion in the registry, validates the data with GX and writes the plot.
"""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path

from _common import CLI, PYTHON, median, result, run

TINY = ["train.epochs=20", "model.units=[8]", "promotion.max_vs_seasonal_naive=1000"]
BARE = textwrap.dedent("""
    import sys
    import numpy as np, pandas as pd, keras
    model = keras.saving.load_model(sys.argv[1], safe_mode=True)
    t = np.arange(100)
    y = np.sin(t / 10) + np.random.default_rng(0).normal(0, 0.1, 100)
    window = y[-20:].reshape(1, 20, 1).astype("float32")
    out = []
    for _ in range(10):  # 10 steps, recursively, like the pipeline's default horizon
        step = float(model.predict_on_batch(window)[0, 0])
        out.append(step)
        window = np.concatenate([window[:, 1:], [[[step]]]], axis=1).astype("float32")
    pd.DataFrame({"unique_id": "sine", "ds": np.arange(100, 110), "yhat": out}).to_parquet(sys.argv[2])
""")


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-forecast-"))
    env = {"LSTM_PIPELINE_HOME": str(home), "MLFLOW_TRACKING_URI": ""}
    run([CLI, "train", *(a for s in TINY for a in ("--set", s))], env=env)
    keras_file = next((home / "mlruns" / "artifacts").rglob("model.keras"))
    (home / "bare.py").write_text(BARE)
    pipeline, bare = [], []
    for _ in range(3):  # interleaved: the machine's noise hits both alike
        pipeline.append(run([CLI, "forecast"], env=env)[0])
        bare.append(run([PYTHON, home / "bare.py", keras_file, home / "bare.parquet"], env=env)[0])
    ratio = median(pipeline) / median(bare)
    print(f"lstm-pipeline forecast (cold)  {median(pipeline):6.1f} s  (median of 3)")
    print(f"bare Keras script (cold)       {median(bare):6.1f} s  (reference)")
    print(f"ratio                          x{ratio:.2f}  (target <= 1.5)")
    result(
        "cold batch forecast vs bare Keras script",
        f"{median(pipeline):.1f} s vs {median(bare):.1f} s",
        ratio,
        "<= 1.5x",
        ratio <= 1.5,
        ".venv/bin/python bench/forecast_cold.py",
    )


if __name__ == "__main__":
    main()
