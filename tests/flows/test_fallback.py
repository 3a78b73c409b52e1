"""`promotion.fallback`: when no LSTM beats seasonal naive, the best classic baseline keeps batch forecasts flowing."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from flows.batch_forecast import batch_forecast
from flows.train import train
from lstm_pipeline.config import load_config
from lstm_pipeline.registry import holder, load
from lstm_pipeline.sources import seed_sine
from tests.integration.test_pyfunc import predict_in_fresh_process

pytestmark = pytest.mark.flows

QUICK = {"train.epochs": 2, "train.ensemble": 1, "model.units": [4], "train.early_stopping_patience": None}
REFUSED = {**QUICK, "promotion.max_vs_seasonal_naive": 0.01}  # no LSTM clears this bar


def run(name: str, **settings: object):
    return train(config=load_config(None, {"tracking.experiment": name, "tracking.model_name": name, **settings}))


def version_tags(name: str, version: str) -> dict[str, str]:
    return dict(mlflow.MlflowClient().get_model_version(name, version).tags)


def test_a_refused_lstm_hands_over_to_the_best_classic_baseline(pipeline_home, tmp_path):
    summary = run("fallback", **REFUSED, **{"promotion.fallback": "classic"})
    m = summary.metrics
    assert not summary.decision.promote and summary.decision.alias == "challenger"
    assert "does not beat seasonal naive" in summary.decision.reason
    fallback = summary.fallback
    scores = {name: m[f"test_{name}_mase"] for name in ("seasonal_naive", "AutoETS", "AutoTheta")}
    assert fallback.method == min(scores, key=scores.__getitem__)
    assert fallback.decision.promote and fallback.registered.version == "2"
    assert fallback.summary == (
        f"no LSTM beat seasonal naive; fallback {fallback.method} v2 is champion (MASE {scores[fallback.method]:.3f})"
    )
    assert holder("fallback", "champion").version == "2"
    assert holder("fallback", "challenger").version == "1"

    tags = version_tags("fallback", "2")
    assert tags["lstm_pipeline.kind"] == "baseline" and tags["baseline.method"] == fallback.method
    assert tags["gate.decision"] == "champion" and "no champion yet" in tags["gate.reason"]
    assert "lstm_pipeline.kind" not in version_tags("fallback", "1")
    assert version_tags("fallback", "1")["gate.fallback"] == fallback.summary
    client = mlflow.MlflowClient()
    baseline_run = client.get_run(fallback.run_id)
    assert baseline_run.info.run_name == f"fallback-{fallback.method}" and baseline_run.info.status == "FINISHED"
    assert baseline_run.data.tags["lstm_pipeline.kind"] == "baseline"
    assert baseline_run.data.metrics["test_mase"] == pytest.approx(scores[fallback.method])
    assert baseline_run.data.metrics["test_seasonal_naive_mase"] == pytest.approx(scores["seasonal_naive"])
    assert client.get_run(summary.run_id).data.tags["gate.fallback"] == fallback.summary

    champion = load(holder("fallback", "champion"))
    frame = seed_sine()
    got = pd.DataFrame(champion.predict(frame, params={"horizon": 10}))
    assert list(got.columns) == ["unique_id", "ds", "yhat"] and len(got) == 10
    assert got["ds"].tolist() == list(range(100, 110)) and np.isfinite(got["yhat"]).all()

    done = predict_in_fresh_process(fallback.registered.uri, frame, tmp_path)  # the model brings its own code
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), got.head(7), rtol=1e-6)
    assert "CODE_FROM" in done.stdout

    written = pd.read_parquet(batch_forecast(model_name="fallback", horizon=5).path)
    assert list(written.columns) == ["unique_id", "ds", "yhat", "model_name", "model_version", "run_id"]
    assert written["model_version"].unique().tolist() == ["2"]
    np.testing.assert_allclose(written["yhat"], got["yhat"][:5])


def test_the_next_lstm_is_scored_against_the_baseline_champion_on_the_same_windows(pipeline_home):
    run("fallback-then-lstm", **REFUSED, **{"promotion.fallback": "classic"})
    method = version_tags("fallback-then-lstm", "2")["baseline.method"]
    lenient = {**QUICK, "promotion.max_vs_seasonal_naive": 1000, "promotion.fallback": "classic"}
    second = run("fallback-then-lstm", **lenient)  # past the seasonal-naive bar: the champion decides
    assert second.fallback is None
    # The baseline champion, loaded from the registry, forecasts the test windows as the evaluation did.
    assert second.decision.champion_mase == pytest.approx(second.metrics[f"test_{method}_mase"], rel=1e-6)
    assert second.decision.promote == (second.decision.candidate_mase < second.decision.champion_mase)
    assert holder("fallback-then-lstm", "champion").version == ("3" if second.decision.promote else "2")


def test_with_fallback_off_the_user_reads_that_no_model_clears_the_bar(pipeline_home):
    summary = run("no-fallback", **REFUSED)
    assert summary.fallback is None
    assert holder("no-fallback", "champion") is None
    assert len(mlflow.MlflowClient().search_model_versions("name = 'no-fallback'")) == 1
    reason = summary.decision.reason
    assert "no model clears the bar" in reason and "--set promotion.fallback=classic" in reason
    assert version_tags("no-fallback", "1")["gate.reason"] == reason
