"""The alias compare-and-set on a real SQLite registry, under concurrent claims."""

from __future__ import annotations

import threading

import mlflow
import pytest

from lstm_pipeline.registry import RegisteredModel, claim_alias, holder

pytestmark = pytest.mark.integration


def versions(name: str, count: int) -> list[RegisteredModel]:
    client = mlflow.MlflowClient()
    client.create_registered_model(name)
    made = [client.create_model_version(name, source=f"file:///nowhere/{i}") for i in range(count)]
    return [RegisteredModel(name, str(v.version), "", f"models:/{name}/{v.version}") for v in made]


def race(claims: list[tuple[RegisteredModel, float]], data_key: str = "same-data") -> dict[str, bool]:
    start = threading.Barrier(len(claims))
    won: dict[str, bool] = {}
    errors: list[BaseException] = []

    def claim(model: RegisteredModel, score: float) -> None:
        start.wait()
        try:
            won[model.version] = claim_alias(model, "champion", score=score, data_key=data_key)
        except BaseException as exc:  # surface it in the test, not on a thread's stderr
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=pair) for pair in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return won


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_claims_settle_on_the_best_score(pipeline_home, round_):
    models = versions(f"race-{round_}", 6)
    scores = [0.9, 0.4, 0.7, 0.5, 0.8, 0.6]  # version 2 is the best
    won = race(list(zip(models, scores, strict=True)))
    assert holder(f"race-{round_}", "champion").version == "2"
    # The best always knows it won; a worse one may have held the alias for a moment before.
    assert won["2"] is True and len(won) == len(models)


def test_a_worse_claim_never_displaces_a_better_holder(pipeline_home):
    better, worse = versions("displace", 2)
    assert claim_alias(better, "champion", score=0.5, data_key="d")
    assert not claim_alias(worse, "champion", score=0.6, data_key="d")
    assert holder("displace", "champion").version == better.version


def test_ties_go_to_the_older_version(pipeline_home):
    first, second = versions("ties", 2)
    won = race([(second, 0.5), (first, 0.5)])
    assert holder("ties", "champion").version == first.version
    assert won[first.version] is True and len(won) == 2


def test_claims_on_other_data_are_not_rivals(pipeline_home):
    old, new = versions("other-data", 2)
    assert claim_alias(old, "champion", score=0.1, data_key="last-month")
    assert claim_alias(new, "champion", score=0.5, data_key="this-month")  # the gate already compared them
    assert holder("other-data", "champion").version == new.version


def test_a_version_is_born_pending_with_no_alias_until_the_gate_decides(pipeline_home, tmp_path):
    """A process stopped between registration and the gate leaves a version that says so, and serves nothing."""
    from lstm_pipeline.registry import register

    model = register(tmp_path.as_uri(), name="undecided", tags={"test_mase": "0.5"})
    version = mlflow.MlflowClient().get_model_version("undecided", model.version)
    assert version.tags == {"gate.decision": "pending", "test_mase": "0.5"}
    assert version.aliases == [] and holder("undecided", "champion") is None
