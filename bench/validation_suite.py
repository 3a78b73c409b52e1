"""The data contract on 1,000 series x 1,000 points: the GX suite vs plain pandas checks of the same rules.

Target: the GX suite under 10 s on these machines; the ratio to pandas says what GX costs on top.
Both sides compute the time-series rules with `contract.rule_columns` (GX has no such expectations);
the pandas side then counts violations of every rule the GX suite checks.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import pandas as pd

from lstm_pipeline.config import ValidationConfig
from lstm_pipeline.contract import rule_columns

N_SERIES, LENGTH, MIN_LENGTH = 1_000, 1_000, 100
CFG = ValidationConfig()


def panel() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    ds = pd.date_range("2020-01-01", periods=LENGTH, freq="h")
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"s{i:04d}" for i in range(N_SERIES)], LENGTH),
            "ds": np.tile(ds, N_SERIES),
            "y": rng.normal(size=N_SERIES * LENGTH),
        }
    )


def pandas_checks(frame: pd.DataFrame) -> dict[str, int]:
    """Violations per rule, the same rules as the GX suite, in plain pandas."""
    rules = rule_columns(frame, min_length=MIN_LENGTH)
    y = frame["y"]
    counts = {
        "ds not null": int(frame["ds"].isna().sum()),
        "y not null": int(y.isna().sum()),
        "y numeric": int(y.dtype != "float64") * len(y),
        "finite y within bounds": int((~y.between(CFG.min_value, CFG.max_value) & y.notna()).sum()),
        "unique (unique_id, ds)": int(frame.duplicated(["unique_id", "ds"], keep=False).sum()),
        "at least one series": int(frame.empty),
    }
    return counts | {name: int((~rules[name]).sum()) for name in rules.columns}


def gx_suite(frame: pd.DataFrame) -> dict[str, int]:
    from lstm_pipeline.validation import validate

    report = validate(frame, context="training", min_length=MIN_LENGTH, cfg=CFG)
    return {r.rule: r.unexpected for r in report.rules}


def timed(fn, frame: pd.DataFrame, repeats: int = 3) -> tuple[float, dict[str, int]]:
    times, result = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(frame)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    frame = panel()
    import great_expectations  # noqa: F401  (imported once, outside the timings: ~4 s)

    rules_s, _ = timed(lambda f: rule_columns(f, min_length=MIN_LENGTH), frame)
    pandas_s, pandas_counts = timed(pandas_checks, frame)
    gx_s, gx_counts = timed(gx_suite, frame)
    assert sum(pandas_counts.values()) == 0 and sum(gx_counts.values()) == 0, (pandas_counts, gx_counts)
    print(f"rows                     {len(frame):,} ({N_SERIES:,} series x {LENGTH:,} points)")
    print(f"computed rule columns    {rules_s:6.2f} s  (shared by both sides)")
    print(f"plain pandas, all rules  {pandas_s:6.2f} s  (reference)")
    print(f"GX suite, all rules      {gx_s:6.2f} s  (target < 10 s: {'met' if gx_s < 10 else 'MISSED'})")
    print(f"ratio GX / pandas        x{gx_s / pandas_s:.2f}")


if __name__ == "__main__":
    main()
