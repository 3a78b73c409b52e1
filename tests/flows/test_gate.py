"""The promotion gate in the train flow: candidate, seasonal naive and champion scored on the same windows."""

from __future__ import annotations

import sys
import threading

import mlflow
import pytest

from flows.train import train
from lstm_pipeline.config import load_config
from lstm_pipeline.data_defaults import resolve
from lstm_pipeline.promotion import promote
from lstm_pipeline.registry import RegisteredModel, holder, register
from lstm_pipeline.sources import seed_sine

pytestmark = pytest.mark.flows

BAD = {"model.units": [4], "train.epochs": 2, "train.learning_rate": 0.001, "train.early_stopping_patience": None}
GOOD: dict[str, object] = {}  # the default config: beats seasonal naive on the demo sine


def run(name: str, settings: dict[str, object], **more: object):
    return train(
        config=load_config(None, {"tracking.experiment": name, "tracking.model_name": name, **settings, **more})
    )


def version_tags(name: str, version: str) -> dict[str, str]:
    return dict(mlflow.MlflowClient().get_model_version(name, version).tags)


def test_worse_never_takes_champion_better_does(pipeline_home):
    weak = run("promo", BAD, **{"promotion.max_vs_seasonal_naive": 1000})  # a poor first champion
    assert weak.decision.promote and holder("promo", "champion").version == "1"

    strong = run("promo", GOOD)
    assert strong.decision.promote, strong.decision.reason
    assert strong.decision.candidate_mase < 1 < strong.decision.champion_mase
    assert holder("promo", "champion").version == "2"
    tags = version_tags("promo", "2")
    assert tags["gate.decision"] == "champion" and tags["gate.champion_version"] == "1"
    assert "beats seasonal naive's" in tags["gate.reason"] and "and the champion v1's" in tags["gate.reason"]
    assert tags["gate.window"].startswith("last 10 points of 1 series")

    worse = run("promo", {**BAD, "train.seed": 5})
    assert not worse.decision.promote
    assert holder("promo", "champion").version == "2"
    assert holder("promo", "challenger").version == "3"
    assert version_tags("promo", "3")["gate.decision"] == "challenger"
    run_tags = mlflow.MlflowClient().get_run(worse.run_id).data.tags
    assert run_tags["gate.decision"] == "challenger" and run_tags["gate.version"] == "3"


def test_a_candidate_that_does_not_beat_seasonal_naive_is_only_challenger(pipeline_home):
    summary = run("naive-bar", BAD)
    assert not summary.decision.promote
    assert "does not beat seasonal naive" in summary.decision.reason
    assert holder("naive-bar", "champion") is None
    assert holder("naive-bar", "challenger").version == "1"


def test_two_racing_promotions_leave_the_better_one(pipeline_home):
    good = run("race-src", GOOD, **{"tracking.register_model": False})
    bad = run("race-src", BAD, **{"tracking.register_model": False})
    frame = seed_sine()
    cfg = resolve(load_config(None, {"tracking.model_name": "race", "promotion.max_vs_seasonal_naive": 1000}), frame)
    runs = (bad, good)  # the worse one first
    candidates = [register(s.model_uri, name="race", tags={}) for s in runs]
    start = threading.Barrier(2)
    decisions: dict[str, bool] = {}

    def promote_one(candidate: RegisteredModel, metrics: dict[str, float]) -> None:
        start.wait()
        decisions[candidate.version] = promote(candidate, frame, metrics, cfg).promote

    threads = [threading.Thread(target=promote_one, args=(c, s.metrics)) for c, s in zip(candidates, runs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert holder("race", "champion").version == candidates[1].version
    assert decisions[candidates[1].version] is True
    assert "dbutils" not in sys.modules  # MLflow's stand-in must not leak from concurrent loads
