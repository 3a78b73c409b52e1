"""The promotion gate: the candidate must beat seasonal naive, then the champion, on the same windows.

The windows are the test part's (`evaluation.holdout_origins`): the candidate's score is the
held-out one, measured before the registered model was refit on the whole history; seasonal naive
and the champion forecast the same points from the same history. A champion that cannot forecast
this data (other series, another frequency or `ds` type) is not comparable: the gate says so and
leaves it in place. The registered candidate itself is loaded and must forecast finite values.
With `promotion.fallback: classic`, a candidate refused at the seasonal-naive bar is followed by the
best classic baseline (`best_baseline`, registered as `baseline_model`), gated against the champion only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstm_pipeline.config import EvaluateConfig, PipelineConfig, PromotionConfig
from lstm_pipeline.crossval import Forecaster, cross_validation, score, summarize
from lstm_pipeline.errors import LstmPipelineError, TrainingDivergedError

if TYPE_CHECKING:
    from lstm_pipeline.registry import RegisteredModel


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and its evidence (MASE on the same held-out windows)."""

    promote: bool
    reason: str
    candidate_mase: float
    champion_mase: float | None
    baseline_mase: float = float("nan")  # seasonal naive's
    alias: str = ""  # the alias the candidate got (set by `promote`, from the config)
    missed: str = ""  # why refused: SEASONAL_NAIVE_BAR, "champion", "not comparable", "race", "score"


SEASONAL_NAIVE_BAR = "seasonal naive"


@dataclass(frozen=True)
class Champion:
    """What the gate knows of the current champion: its MASE here, or why it has none."""

    model: RegisteredModel
    mase: float | None = None
    not_comparable: str = ""  # why it cannot forecast this data
    broken: str = ""  # why it cannot be loaded at all


def decide(candidate: float, baseline: float, champion: Champion | None, cfg: PromotionConfig) -> Decision:
    """Champion only if the candidate beats seasonal naive by the margin, then the champion by the margin."""
    bar = baseline * cfg.max_vs_seasonal_naive * (1 - cfg.margin)
    versus = f"seasonal naive's {baseline:.4f} on the same windows (bar {bar:.4f})"
    if not np.isfinite(candidate) or not candidate < bar:
        reason = f"MASE {candidate:.4f} does not beat {versus}; {_no_model_clears(champion, cfg)}"
        return Decision(False, reason, candidate, None, baseline, missed=SEASONAL_NAIVE_BAR)
    return against_champion(f"MASE {candidate:.4f} beats {versus}", candidate, baseline, champion, cfg)


def _no_model_clears(champion: Champion | None, cfg: PromotionConfig) -> str:
    """What a refusal at the seasonal-naive bar means for batch forecasts."""
    if cfg.fallback == "classic":
        return "the fallback (the best classic baseline) is gated next"
    if champion is not None and not champion.broken:
        return f"the champion v{champion.model.version} stays"
    return (
        "no model clears the bar, so there is no champion for batch forecasts; "
        "--set promotion.fallback=classic registers the best classic baseline instead and keeps them flowing"
    )


def against_champion(
    lead: str, candidate: float, baseline: float, champion: Champion | None, cfg: PromotionConfig
) -> Decision:
    """The second bar: no champion, a broken one, or the champion's MASE on the same windows by the margin.

    A champion that is not comparable stays. `lead` opens the reason (what the candidate already passed).
    """
    if champion is None:
        return Decision(True, f"{lead}; no champion yet", candidate, None, baseline)
    if champion.broken:
        reason = f"{lead}; the champion v{champion.model.version} is broken ({champion.broken})"
        return Decision(True, reason, candidate, None, baseline)
    if champion.not_comparable or champion.mase is None:
        reason = (
            f"{lead}, but the champion v{champion.model.version} is not comparable: "
            f"{champion.not_comparable}. It stays champion; train under another tracking.model_name"
        )
        return Decision(False, reason, candidate, None, baseline, missed="not comparable")
    champion_bar = champion.mase * (1 - cfg.margin)
    against = f"the champion v{champion.model.version}'s {champion.mase:.4f} (bar {champion_bar:.4f})"
    if candidate < champion_bar:
        return Decision(True, f"{lead} and {against}", candidate, champion.mase, baseline)
    return Decision(False, f"{lead} but not {against}", candidate, champion.mase, baseline, missed="champion")


def decide_fallback(
    method: str, candidate: float, baseline: float, champion: Champion | None, cfg: PromotionConfig
) -> Decision:
    """A classic baseline skips the seasonal-naive bar (it is no worse by construction) and meets the champion's."""
    lead = f"fallback {method} MASE {candidate:.4f} (no LSTM beat seasonal naive)"
    if not np.isfinite(candidate):
        return Decision(False, f"{lead}: not a score, not promoted", candidate, None, baseline, missed="score")
    return against_champion(lead, candidate, baseline, champion, cfg)


def data_key(frame: pd.DataFrame) -> str:
    """A short digest of the data both models were scored on (ties contenders to the same data)."""
    import hashlib

    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def promote(
    candidate: RegisteredModel, frame: pd.DataFrame, metrics: dict[str, float], cfg: PipelineConfig
) -> Decision:
    """Decide on the candidate's held-out test `metrics`, move the aliases, tag the version.

    The candidate gets `champion` (compare-and-set) or `challenger`; the decision and its
    evidence are written as tags on the candidate's model version.
    """
    baseline = metrics["test_seasonal_naive_mase"]
    return _gate(
        candidate,
        frame,
        cfg,
        lambda champion: decide(metrics["test_mase"], baseline, champion, cfg.promotion),
        refused_alias=cfg.promotion.challenger_alias,
    )


def promote_fallback(
    candidate: RegisteredModel, frame: pd.DataFrame, method: str, metrics: dict[str, float], cfg: PipelineConfig
) -> Decision:
    """Gate a registered classic baseline (`method`, scored in the LSTM run's `metrics`) against the champion.

    Refused, it gets no alias: `challenger` stays with the LSTM candidate.
    """
    mase, baseline = metrics[f"test_{method}_mase"], metrics["test_seasonal_naive_mase"]
    return _gate(
        candidate,
        frame,
        cfg,
        lambda champion: decide_fallback(method, mase, baseline, champion, cfg.promotion),
        refused_alias="",
    )


def best_baseline(metrics: dict[str, float], evaluate: EvaluateConfig) -> str:
    """The fallback: seasonal naive or the `evaluate.classic` model with the lowest test MASE (ties: the first)."""
    methods = ["seasonal_naive", *evaluate.classic]
    scored = [(metrics.get(f"test_{m}_mase", float("nan")), i, m) for i, m in enumerate(methods)]
    finite = [entry for entry in scored if np.isfinite(entry[0])]
    return min(finite)[2] if finite else "seasonal_naive"


def _gate(
    candidate: RegisteredModel,
    frame: pd.DataFrame,
    cfg: PipelineConfig,
    judge: Callable[[Champion | None], Decision],
    *,
    refused_alias: str,
) -> Decision:
    """Check the candidate forecasts, judge it against the champion, claim or refuse the alias, tag it."""
    from lstm_pipeline.registry import claim_alias, describe_version, holder, set_alias, tag_version

    check_forecasts(_forecaster(candidate), frame, cfg.window.horizon)
    alias, holding = cfg.tracking.alias, holder(cfg.tracking.model_name, cfg.tracking.alias)
    champion = None if holding is None else score_champion(holding, frame, cfg)
    decision = judge(champion)
    if decision.promote and not claim_alias(candidate, alias, score=decision.candidate_mase, data_key=data_key(frame)):
        winner = holder(candidate.name, alias)
        reason = (
            f"MASE {decision.candidate_mase:.4f} beats the bars, but v{winner.version if winner else '?'} holds "
            f"@{alias} with a better MASE recorded on the same data when it was gated"
        )
        decision = replace(decision, promote=False, reason=reason, missed="race")
    decision = replace(decision, alias=alias if decision.promote else refused_alias)
    if decision.alias and not decision.promote:
        set_alias(candidate, decision.alias)
    tag_version(candidate, evidence(decision, champion, frame, cfg))
    describe_version(candidate, f"{_alias_text(decision)}: {decision.reason}.")
    return decision


def _alias_text(decision: Decision) -> str:
    return f"@{decision.alias}" if decision.alias else "no alias"


def score_champion(model: RegisteredModel, frame: pd.DataFrame, cfg: PipelineConfig) -> Champion:
    """The champion's MASE on the test windows of `frame`, or why it cannot have one."""
    from lstm_pipeline.contract import frequencies
    from lstm_pipeline.evaluation import holdout_origins
    from lstm_pipeline.registry import model_contract
    from lstm_pipeline.resilience import is_unreachable

    try:
        trained_on = model_contract(model.uri).get("frequencies") or {}
        forecaster = _forecaster(model)
    except Exception as exc:  # missing files, a corrupt MLmodel, a refused network: a broken champion
        if is_unreachable(exc):
            raise
        return Champion(model, broken=str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if problem := comparability(trained_on, frequencies(frame, cfg.validation.freq)):
        return Champion(model, not_comparable=problem)
    hidden, refit = holdout_origins(cfg.window)
    try:
        cv = cross_validation(frame, lambda _: forecaster, hidden=hidden, horizon=cfg.window.horizon, refit=refit)
    except LstmPipelineError as exc:
        return Champion(model, not_comparable=str(exc).splitlines()[0])
    scores = score(cv, frame, season_length=cfg.evaluate.season_length, models=["model"])
    return Champion(model, mase=summarize(scores, prefix="test")["test_mase"])


def comparability(trained_on: dict[str, str], data: dict[str, str | None]) -> str:
    """Why a model trained on `trained_on` (series -> frequency) cannot be scored on `data`; "" if it can."""
    unknown = sorted(set(data) - set(trained_on))
    if unknown:
        return f"it was trained on other series (it never saw {unknown[:3]}{' ...' if len(unknown) > 3 else ''})"
    other = sorted(uid for uid, freq in data.items() if trained_on.get(uid) != freq)
    if other:
        uid = other[0]
        return f"series {uid!r} has frequency {data[uid]!r} here, {trained_on.get(uid)!r} in its training data"
    return ""


def check_forecasts(forecaster: Forecaster, frame: pd.DataFrame, horizon: int) -> None:
    """The registered model must load and forecast finite values from the whole history."""
    predicted = forecaster(frame, horizon)
    if not np.isfinite(predicted["yhat"].to_numpy("float64")).all():
        raise TrainingDivergedError("the registered model forecasts NaN or inf; it is not promoted")


def evidence(decision: Decision, champion: Champion | None, frame: pd.DataFrame, cfg: PipelineConfig) -> dict[str, str]:
    """The decision as model-version tags: verdict, reason, the three scores, the windows scored."""
    last = frame.groupby("unique_id")["ds"].max()
    w = cfg.window
    window = f"last {w.test_size} points of {len(last)} series ({w.horizon} steps ahead), up to {last.max()}"
    return {
        "gate.decision": decision.alias or "not promoted",
        "gate.reason": decision.reason,
        "gate.candidate_mase": f"{decision.candidate_mase:.6g}",
        "gate.seasonal_naive_mase": f"{decision.baseline_mase:.6g}",
        "gate.champion_mase": "none" if decision.champion_mase is None else f"{decision.champion_mase:.6g}",
        "gate.champion_version": champion.model.version if champion else "none",
        "gate.window": window,
    }


def log_decision(run_id: str, decision: Decision, *, version: str) -> None:
    """Record the promotion gate's verdict on the training run (tags, metrics, the end of its description)."""
    import mlflow

    from lstm_pipeline.tracking import NOTE_TAG

    client = mlflow.MlflowClient()
    verdict = f"Gate: version {version} -> {_alias_text(decision)}: {decision.reason}."
    note = client.get_run(run_id).data.tags.get(NOTE_TAG)
    client.set_tag(run_id, NOTE_TAG, f"{note}\n\n{verdict}" if note else verdict)
    client.set_tag(run_id, "gate.decision", decision.alias or "not promoted")
    client.set_tag(run_id, "gate.reason", decision.reason)
    client.set_tag(run_id, "gate.version", version)
    client.log_metric(run_id, "gate_candidate_mase", decision.candidate_mase)
    if decision.champion_mase is not None and np.isfinite(decision.champion_mase):
        client.log_metric(run_id, "gate_champion_mase", decision.champion_mase)


def _forecaster(model: RegisteredModel) -> Forecaster:
    from lstm_pipeline.registry import load

    pyfunc = load(model)
    return lambda history, horizon: pd.DataFrame(pyfunc.predict(history, params={"horizon": horizon}))


def fallback_summary(method: str, version: str, decision: Decision) -> str:
    """One plain sentence on what the fallback did, for the console, the run and the LSTM's version."""
    opening = f"no LSTM beat seasonal naive; fallback {method} v{version}"
    if decision.promote:
        return f"{opening} is {decision.alias} (MASE {decision.candidate_mase:.3f})"
    return f"{opening} is not promoted: {decision.reason}"


def log_fallback(run_id: str, candidate: RegisteredModel, summary: str, fallback: RegisteredModel) -> None:
    """Record on the LSTM run and its version what the fallback did, and which version it is."""
    import mlflow

    from lstm_pipeline.registry import tag_version

    client = mlflow.MlflowClient()
    tags = {"gate.fallback": summary, "gate.fallback_version": fallback.version}
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    tag_version(candidate, tags)
