"""The Great Expectations suite of the long series frame, its report, and the gate that raises.

Native expectations check columns, nulls, bounds and key uniqueness; the time-series rules GX
lacks are computed by `contract.rule_columns` and checked here as `rule__*` columns, so every rule
shows up in the GX result with its counts. This is the only module that imports GX.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from lstm_pipeline.config import ValidationConfig, WindowConfig
from lstm_pipeline.contract import REQUIRED_COLUMNS, ROW_RULES, frequencies, rule_columns
from lstm_pipeline.errors import DataValidationError

_EXAMPLES = 5
_RULE_PREFIX = "rule__"
FrameCheck = Callable[[pd.DataFrame], bool]

# What a user can set when a rule breaks (by the start of the rule's name); every repair is opt-in and logged.
_FIXES = {
    "ds strictly increasing": "--set validation.repair.sort=true puts rows in (unique_id, ds) order",
    "unique (unique_id, ds)": "--set validation.repair.drop_duplicates=true drops exact duplicate rows",
    "no gaps": "--set validation.repair.fill_gaps=true fills gaps of up to validation.repair.max_gap steps",
    "y not null": "--set validation.repair.fill_gaps=true interpolates short runs of missing values",
    "regular frequency": "--set validation.freq=... if the inferred step is not the series' step",
}


@dataclass(frozen=True)
class RuleResult:
    """One rule of the contract as GX judged it."""

    rule: str
    expectation: str
    success: bool
    unexpected: int
    total: int
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of a validation: every rule with its counts, and the raw GX result."""

    context: str
    success: bool
    rules: list[RuleResult]
    frequencies: dict[str, str | None]
    gx_result: dict[str, Any]

    @property
    def failures(self) -> list[RuleResult]:
        """The rules that did not hold."""
        return [r for r in self.rules if not r.success]

    def message(self) -> str:
        """Each broken rule with its counts and a few offending rows (series id, timestamp, value)."""
        lines = [f"the {self.context} data breaks the data contract:"]
        for rule in self.failures:
            lines.append(f"- rule '{rule.rule}': {rule.unexpected} of {rule.total} rows break it")
            lines += [f"    {example}" for example in rule.examples]
            lines += [f"    fix: {fix}" for start, fix in _FIXES.items() if rule.rule.startswith(start)]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise DataValidationError with `message()` unless every rule held."""
        if not self.success:
            raise DataValidationError(self.message())

    def markdown(self) -> str:
        """A short summary for a Prefect artifact or a README."""
        verdict = "passed" if self.success else "FAILED"
        rows = [f"| {r.rule} | {'ok' if r.success else 'broken'} | {r.unexpected} / {r.total} |" for r in self.rules]
        return "\n".join(
            [
                f"## Data validation ({self.context}): {verdict}",
                f"{len(self.frequencies)} series; frequencies {sorted({str(f) for f in self.frequencies.values()})}",
                "",
                "| rule | status | rows breaking it |",
                "|---|---|---|",
                *rows,
            ]
        )


def validate(
    frame: pd.DataFrame,
    *,
    context: str,
    min_length: int,
    cfg: ValidationConfig,
    model_freq: dict[str, str] | None = None,
    known_series: set[str] | None = None,
    docs_dir: Path | None = None,
    history_why: str = "",
    great_expectations: Literal["always", "on_failure"] = "always",
) -> ValidationReport:
    """Run the suite on `frame`; if it fails and `docs_dir` is given, render GX Data Docs (HTML) there.

    Data Docs cost about a second, and only a failure's report is kept, so a passing run skips them.
    With `great_expectations="on_failure"` the rules are first judged in pandas and GX (4-5 s to
    import) runs only when one breaks, to judge and report it: the cold batch forecast's path.

    `model_freq` and `known_series` add the forecast-time rules against the trained model;
    `history_why` says which settings add up to `min_length` (shown in the rule's name).
    """
    complete = all(c in frame.columns for c in REQUIRED_COLUMNS) and not frame.empty
    checked = frame
    if complete:
        _require_time_dtype(frame)
        rules = rule_columns(
            frame, min_length=min_length, freq=cfg.freq, model_freq=model_freq, known_series=known_series
        )
        checked = frame.join(rules.add_prefix(_RULE_PREFIX))
        if great_expectations == "on_failure":
            passed = _passed_in_pandas(checked, cfg, min_length, history_why)
            if passed is not None:
                return ValidationReport(context, True, passed, frequencies(frame, cfg.freq), {})
    result = _run_suite(checked, _expectations(checked, cfg, complete, min_length, history_why), None)
    if not result.success and docs_dir is not None:  # again, with Data Docs (an expectation joins one suite only)
        result = _run_suite(checked, _expectations(checked, cfg, complete, min_length, history_why), docs_dir)
    freqs = frequencies(frame, cfg.freq) if complete else {}
    rule_results = [_rule_result(r, frame) for r in result.results]
    return ValidationReport(context, bool(result.success), rule_results, freqs, result.to_json_dict())


def write_report(report: ValidationReport, directory: Path) -> Path:
    """Write the GX result (JSON) and the summary (markdown) beside the Data Docs; return the folder."""
    directory.mkdir(parents=True, exist_ok=True)
    if report.gx_result:  # empty when every rule passed in pandas
        _write_whole(directory / "gx_result.json", json.dumps(report.gx_result, indent=2, default=str))
    summary = {"context": report.context, "success": report.success, "rules": [asdict(r) for r in report.rules]}
    _write_whole(directory / "summary.json", json.dumps(summary, indent=2, default=str))
    _write_whole(directory / "summary.md", report.markdown() + "\n")
    return directory


def _write_whole(path: Path, text: str) -> None:
    """Write through a temporary file and a rename: a full disk leaves no file, never a truncated one."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def report_folder(root: Path, context: str) -> Path:
    """A new folder for one validation's report: `<root>/<UTC time>-<context>-<random>`."""
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y%m%dT%H%M%S")
    return root / f"{stamp}-{context}-{os.urandom(3).hex()}"


def history_needed(w: WindowConfig, context: str, min_length: int) -> str:
    """Which settings add up to `min_length` points per series, with their values: what a user can change."""
    if context == "forecast":
        return "the model's window.lookback"
    rest = min_length - (w.lookback + w.horizon + w.val_size)
    if context == "backtest":
        last = f"the backtest's folds {rest} (from backtest.windows, backtest.step and backtest.horizon)"
    elif rest == w.test_size:
        last = f"window.test_size {w.test_size}"
    else:  # a sweep: the trial that needs the most
        return "window.lookback + window.horizon + window.val_size + window.test_size of the sweep's longest trial"
    return f"window.lookback {w.lookback} + window.horizon {w.horizon} + window.val_size {w.val_size} + {last}"


def _require_time_dtype(frame: pd.DataFrame) -> None:
    ds = frame["ds"]
    if not (pd.api.types.is_integer_dtype(ds) or pd.api.types.is_datetime64_any_dtype(ds)):
        raise DataValidationError(f"rule 'ds type': ds must be integer steps or timestamps, got dtype {ds.dtype}")


def _column_rules(cfg: ValidationConfig) -> list[tuple[str, Callable[[Any, dict[str, str]], Any], FrameCheck]]:
    """The native rules of a complete frame: (name, its GX expectation, the same rule in pandas), side by side."""
    low, high = cfg.min_value, cfg.max_value

    def y_within(frame: pd.DataFrame) -> bool:
        y = frame["y"].to_numpy("float64")
        return bool(((y >= low) & (y <= high)).all())

    return [
        ("ds not null", lambda gxe, m: gxe.ExpectColumnValuesToNotBeNull(column="ds", meta=m), _no_null("ds")),
        ("y not null (no NaN)", lambda gxe, m: gxe.ExpectColumnValuesToNotBeNull(column="y", meta=m), _no_null("y")),
        (
            "y numeric",
            lambda gxe, m: gxe.ExpectColumnValuesToBeOfType(column="y", type_="float64", meta=m),
            lambda frame: frame["y"].dtype == "float64",
        ),
        (
            f"finite y within [{low:g}, {high:g}]",
            lambda gxe, m: gxe.ExpectColumnValuesToBeBetween(column="y", min_value=low, max_value=high, meta=m),
            y_within,
        ),
        (
            "unique (unique_id, ds)",
            lambda gxe, m: gxe.ExpectCompoundColumnsToBeUnique(column_list=["unique_id", "ds"], meta=m),
            lambda frame: not frame.duplicated(["unique_id", "ds"]).any(),
        ),
    ]


def _no_null(column: str) -> FrameCheck:
    return lambda frame: not frame[column].isna().any()


def _computed_rules(frame: pd.DataFrame, min_length: int, history_why: str) -> dict[str, str]:
    """The `rule__*` columns of `frame` and the name each rule is reported under."""
    why = f": {history_why}" if history_why else ""
    return {
        column: ROW_RULES[column.removeprefix(_RULE_PREFIX)].format(min_length=min_length, why=why)
        for column in frame.columns
        if column.startswith(_RULE_PREFIX)
    }


def _expectations(
    frame: pd.DataFrame, cfg: ValidationConfig, complete: bool, min_length: int, history_why: str
) -> list[Any]:
    import great_expectations.expectations as gxe

    table: list[Any] = [
        gxe.ExpectColumnToExist(column=c, meta={"rule": f"required column {c}"}) for c in REQUIRED_COLUMNS
    ]
    table.append(gxe.ExpectTableRowCountToBeBetween(min_value=1, meta={"rule": "at least one series"}))
    if not complete:
        return table
    columns = [expectation(gxe, {"rule": rule}) for rule, expectation, _ in _column_rules(cfg)]
    computed = [
        gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True], meta={"rule": rule})
        for column, rule in _computed_rules(frame, min_length, history_why).items()
    ]
    return table + columns + computed


def _passed_in_pandas(
    frame: pd.DataFrame, cfg: ValidationConfig, min_length: int, history_why: str
) -> list[RuleResult] | None:
    """Every rule of the suite as passed, judged in pandas; None as soon as one breaks (GX then judges and reports)."""
    n = len(frame)
    rules = [f"required column {c}" for c in REQUIRED_COLUMNS] + ["at least one series"]
    for rule, _, holds in _column_rules(cfg):
        if not holds(frame):
            return None
        rules.append(rule)
    for column, rule in _computed_rules(frame, min_length, history_why).items():
        if not frame[column].all():
            return None
        rules.append(rule)
    return [RuleResult(rule, "pandas", True, 0, n) for rule in rules]


def _run_suite(frame: pd.DataFrame, expectations: list[Any], docs_dir: Path | None) -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")  # no usage statistics leave the machine
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = context.data_sources.add_pandas("pandas").add_dataframe_asset("series")
    definition = batch.add_batch_definition_whole_dataframe("whole frame")
    suite = context.suites.add(gx.ExpectationSuite(name="series_contract", expectations=expectations))
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": _EXAMPLES}
    if docs_dir is None:
        return definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite, result_format=result_format)
    _add_docs_site(context, docs_dir)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="series", data=definition, suite=suite)
    )
    checkpoint = context.checkpoints.add(
        gx.Checkpoint(
            name="series",
            validation_definitions=[validation],
            result_format=result_format,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["local"])],
        )
    )
    return next(iter(checkpoint.run(batch_parameters={"dataframe": frame}).run_results.values()))


def _add_docs_site(context: Any, docs_dir: Path) -> None:
    context.add_data_docs_site(
        site_name="local",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        },
    )


def _rule_result(result: Any, frame: pd.DataFrame) -> RuleResult:
    config, outcome = result.expectation_config, result.result
    index = [i for i in outcome.get("partial_unexpected_index_list") or [] if i in frame.index][:_EXAMPLES]
    examples = frame.loc[index, [c for c in REQUIRED_COLUMNS if c in frame.columns]].to_dict("records")
    return RuleResult(
        rule=config.meta.get("rule", config.type),
        expectation=config.type,
        success=bool(result.success),
        unexpected=int(outcome.get("unexpected_count", 0) or (0 if result.success else 1)),
        total=int(outcome.get("element_count", len(frame)) or 0),
        examples=[{str(k): str(v) for k, v in row.items()} for row in examples],
    )
