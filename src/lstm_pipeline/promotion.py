"""The promotion gate: candidate and champion scored on the same newest data; the better one is champion.

Scores come from each model's registered pyfunc, forecasting the test windows of the newest data
(or the backtest's origins, when `backtest.windows` is set) from raw history, so old metrics never
decide and the candidate's logged artifact is proven to load.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lstm_pipeline.config import PipelineConfig, PromotionConfig
from lstm_pipeline.metrics import score_forecasts, summarize

if TYPE_CHECKING:
    from lstm_pipeline.registry import RegisteredModel

# (history, horizon) -> long forecasts `unique_id, ds, yhat`: what a pyfunc's predict does.
Forecaster = Callable[[pd.DataFrame, int], pd.DataFrame]


@dataclass(frozen=True)
class Decision:
    """The gate's verdict and its evidence."""

    promote: bool
    reason: str
    candidate_mase: float
    champion_mase: float | None
    alias: str = ""  # the alias the candidate got (set by `promote`, from the config)


def forecast_origins(forecaster: Forecaster, frame: pd.DataFrame, *, hidden: list[int], horizon: int) -> pd.DataFrame:
    """Forecast `horizon` steps from each origin, hiding the last `hidden[i]` points of every series.

    Returns `unique_id, cutoff, yhat` (an array per row), one row per series and origin.
    """
    from lstm_pipeline.backtest import drop_last

    rows = []
    for points in hidden:
        history = drop_last(frame, points)
        cutoffs = history.groupby("unique_id")["ds"].last()
        predicted = forecaster(history, horizon)
        for uid, group in predicted.groupby("unique_id", sort=True):
            rows.append((uid, cutoffs[uid], group["yhat"].to_numpy("float64")))
    return pd.DataFrame(rows, columns=["unique_id", "cutoff", "yhat"])


def gate_origins(cfg: PipelineConfig) -> tuple[list[int], int]:
    """Where the gate scores: the backtest's folds when `backtest.windows` is set, else every test window."""
    from lstm_pipeline.backtest import plan_folds

    if cfg.backtest.windows:
        plan = plan_folds(cfg)
        return plan.hidden, plan.horizon
    return list(range(cfg.window.test_size, cfg.window.horizon - 1, -1)), cfg.window.horizon


def newest_data_mase(forecaster: Forecaster, frame: pd.DataFrame, cfg: PipelineConfig) -> float:
    """Mean MASE of `forecaster` over the gate's origins at the end of every series (`gate_origins`)."""
    hidden, horizon = gate_origins(cfg)
    forecasts = forecast_origins(forecaster, frame, hidden=hidden, horizon=horizon)
    held_out = max(hidden[0], cfg.window.val_size + cfg.window.test_size)
    train_sizes = {str(uid): n - held_out for uid, n in frame.groupby("unique_id").size().items()}
    scores = score_forecasts(frame, forecasts, train_sizes=train_sizes, season_length=cfg.evaluate.season_length)
    return summarize(scores)["test_mase"]


def decide(candidate_mase: float, champion_mase: float | None, cfg: PromotionConfig) -> Decision:
    """Champion only if it beats seasonal naive (MASE < max_mase) and the champion by the margin."""
    if not np.isfinite(candidate_mase) or candidate_mase >= cfg.max_mase:
        reason = f"MASE {candidate_mase:.4f} does not beat seasonal naive (must be < {cfg.max_mase:g})"
        return Decision(False, reason, candidate_mase, champion_mase)
    if champion_mase is None:
        return Decision(True, f"MASE {candidate_mase:.4f} < {cfg.max_mase:g} and no champion yet", candidate_mase, None)
    bar = champion_mase * (1 - cfg.margin)
    if candidate_mase < bar:
        reason = f"MASE {candidate_mase:.4f} beats the champion's {champion_mase:.4f} (bar {bar:.4f})"
        return Decision(True, reason, candidate_mase, champion_mase)
    reason = f"MASE {candidate_mase:.4f} does not beat the champion's {champion_mase:.4f} (bar {bar:.4f})"
    return Decision(False, reason, candidate_mase, champion_mase)


def data_key(frame: pd.DataFrame) -> str:
    """A short digest of the data both models were scored on (ties contenders to the same data)."""
    import hashlib

    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()[:16]


def promote(candidate: RegisteredModel, frame: pd.DataFrame, cfg: PipelineConfig) -> Decision:
    """Score candidate and champion on `frame`'s newest points, decide, and move the aliases.

    The candidate gets `champion` (compare-and-set) or `challenger`; the decision and its
    evidence are written as tags on the candidate's model version.
    """
    from lstm_pipeline.registry import claim_alias, holder, set_alias, tag_version

    alias, champion = cfg.tracking.alias, holder(cfg.tracking.model_name, cfg.tracking.alias)
    candidate_mase = newest_data_mase(_forecaster(candidate), frame, cfg)
    champion_mase = _champion_mase(champion, frame, cfg)
    decision = decide(candidate_mase, champion_mase, cfg.promotion)
    if decision.promote and not claim_alias(candidate, alias, score=candidate_mase, data_key=data_key(frame)):
        reason = "a better contender on the same data took the alias concurrently"
        decision = Decision(False, reason, candidate_mase, champion_mase)
    decision = replace(decision, alias=alias if decision.promote else cfg.promotion.challenger_alias)
    if not decision.promote:
        set_alias(candidate, decision.alias)
    tag_version(candidate, evidence(decision, champion, frame, cfg))
    return decision


def evidence(
    decision: Decision, champion: RegisteredModel | None, frame: pd.DataFrame, cfg: PipelineConfig
) -> dict[str, str]:
    """The decision as model-version tags: verdict, reason, both scores, the window scored."""
    last = frame.groupby("unique_id")["ds"].max()
    hidden, horizon = gate_origins(cfg)
    origins = f"{len(hidden)} origins x {horizon} steps"
    window = f"last {hidden[0]} points of {len(last)} series ({origins}), up to {last.max()}"
    return {
        "gate.decision": decision.alias,
        "gate.reason": decision.reason,
        "gate.candidate_mase": f"{decision.candidate_mase:.6g}",
        "gate.champion_mase": "none" if decision.champion_mase is None else f"{decision.champion_mase:.6g}",
        "gate.champion_version": champion.version if champion else "none",
        "gate.window": window,
    }


def _forecaster(model: RegisteredModel) -> Forecaster:
    from lstm_pipeline.registry import load

    pyfunc = load(model)
    return lambda history, horizon: pd.DataFrame(pyfunc.predict(history, params={"horizon": horizon}))


def _champion_mase(champion: RegisteredModel | None, frame: pd.DataFrame, cfg: PipelineConfig) -> float | None:
    """The champion's score on the same data; a champion that cannot forecast it scores +inf."""
    from lstm_pipeline.errors import LstmPipelineError

    if champion is None:
        return None
    try:
        return newest_data_mase(_forecaster(champion), frame, cfg)
    except LstmPipelineError:  # e.g. the new data has series or a frequency it never saw
        return float("inf")
