"""The held-out test: fit on everything before the test part, forecast it at the model's horizon, score.

The test part is the last `window.test_size` points of every series, forecast from origins one
horizon apart (one origin when the test part is one horizon long) by a model fit once on the
history before it; the baselines and the classic models sit beside it in the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from lstm_pipeline.config import EvaluateConfig, WindowConfig
from lstm_pipeline.crossval import NAIVE_MODELS, Fit, add_baselines, cross_validation, score, summarize


@dataclass(frozen=True)
class Evaluation:
    """The cross-validation frame of the test part, per-series scores, and the averaged metrics MLflow logs."""

    cv: pd.DataFrame
    scores: pd.DataFrame
    metrics: dict[str, float]


def holdout_origins(window: WindowConfig) -> tuple[list[int], list[bool]]:
    """Points hidden at each test origin (one horizon apart), and which origins refit (the first only)."""
    count = max(window.test_size // window.horizon, 1)
    hidden = [window.test_size - i * window.horizon for i in range(count)]
    return hidden, [i == 0 for i in range(count)]


def evaluate_holdout(frame: pd.DataFrame, fit: Fit, window: WindowConfig, evaluate: EvaluateConfig) -> Evaluation:
    """Fit on `frame` without its test part, forecast the test part, score it beside the baselines."""
    hidden, refit = holdout_origins(window)
    cv = cross_validation(frame, fit, hidden=hidden, horizon=window.horizon, refit=refit)
    return score_cv(cv, frame, evaluate, prefix="test")


def score_cv(cv: pd.DataFrame, frame: pd.DataFrame, evaluate: EvaluateConfig, *, prefix: str) -> Evaluation:
    """Add the baselines and classic models to a cross-validation frame and score every column."""
    return score_columns(
        add_baselines(cv, frame, season_length=evaluate.season_length, classic=evaluate.classic),
        frame,
        evaluate,
        prefix=prefix,
    )


def score_columns(cv: pd.DataFrame, frame: pd.DataFrame, evaluate: EvaluateConfig, *, prefix: str) -> Evaluation:
    """Score the model and the baselines of a frame that already has them (`score_cv` adds them)."""
    models = ["model", *NAIVE_MODELS, *evaluate.classic]
    scores = score(cv, frame, season_length=evaluate.season_length, models=models)
    return Evaluation(cv, scores, summarize(scores, prefix=prefix))


def versus_baselines(metrics: dict[str, float], prefix: str = "test", *, after: str = "") -> str:
    """`0.631 (naive 5.569, seasonal naive 0.693, AutoETS 3.903)`: the MASE beside every baseline's (then `after`)."""
    classic = [k for k in sorted(metrics) if k.startswith(f"{prefix}_Auto") and k.endswith("_mase")]
    beside = [
        f"naive {metrics[f'{prefix}_naive_mase']:.3f}",
        f"seasonal naive {metrics[f'{prefix}_seasonal_naive_mase']:.3f}",
    ]
    beside += [f"{k[len(prefix) + 1 : -5]} {metrics[k]:.3f}" for k in classic]
    return f"{metrics[f'{prefix}_mase']:.3f}  ({', '.join(beside)}{after})"
