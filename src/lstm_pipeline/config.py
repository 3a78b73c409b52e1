"""One typed config for the whole pipeline: YAML files override defaults, override layers win (`load_config`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lstm_pipeline.errors import ConfigError

MAX_HORIZON = 10_000  # steps ahead: past it a forecast is a memory hazard (1e8 took 1.9 GB and minutes), not a plan
MAX_UNITS = 4096  # per LSTM layer: ~67M weights, far past what these series need; beyond it a typo is likelier


def check_freq(value: str) -> str:
    """A frequency: a positive integer step (`"1"`) or a pandas offset alias (`"h"`, `"15min"`, `"MS"`)."""
    if value.strip().isdigit():
        if int(value) < 1:
            raise ValueError(f"integer step {value!r} must be at least 1")
        return value.strip()
    from pandas.tseries.frequencies import to_offset

    try:
        to_offset(value)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a positive integer step nor a pandas offset alias (e.g. 'h', 'D', 'W-MON', 'MS')"
        ) from None
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Section):
    """Where the series come from: the seed's sine, a synthetic panel, or a CSV/Parquet file."""

    kind: Literal["sine", "synthetic", "file"] = "sine"
    seed: int = 0
    n_points: int = Field(100, ge=2, description="points per series (sine, synthetic)")
    noise: float = Field(0.1, ge=0, description="std of the Gaussian noise added (sine, synthetic)")
    n_series: int = Field(3, ge=1, description="number of series (synthetic)")
    season_length: int = Field(24, ge=2, description="period of the seasonal wave (synthetic)")
    trend: float = Field(0.01, description="slope per step (synthetic)")
    freq: str = Field("h", description="pandas frequency of the timestamps (synthetic)")
    start: str = Field("2024-01-01", description="first timestamp (synthetic)")
    path: str | None = Field(None, description="CSV or Parquet file (file)")
    id_col: str | None = Field("unique_id", description="series id column; None for one series")
    time_col: str = "ds"
    value_col: str = "y"
    wide: bool = Field(False, description="one column per series instead of long format (file)")
    date_format: str | None = Field(None, description="strftime format of the time column (file)")
    sep: str = Field(",", description="CSV delimiter (file)")
    max_file_mb: float = Field(
        100, gt=0, description="largest file read (MB): the whole history is held in memory, ~20x the file size"
    )

    @field_validator("freq")
    @classmethod
    def _known_freq(cls, value: str) -> str:
        if value.lstrip("-").isdigit():
            raise ValueError("source.freq must be a pandas offset alias such as 'h', 'D' or 'MS'")
        return check_freq(value)

    @field_validator("start")
    @classmethod
    def _a_timestamp(cls, value: str) -> str:
        import pandas as pd

        try:
            pd.Timestamp(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a timestamp (e.g. '2024-01-01' or '2024-01-01T06:00')") from None
        return value

    @model_validator(mode="after")
    def _file_needs_path(self) -> SourceConfig:
        if self.kind == "file" and not self.path:
            raise ValueError("source.kind 'file' needs source.path")
        return self


class WindowConfig(_Section):
    """How series become supervised windows, and how they are split and scaled."""

    lookback: int = Field(20, ge=1, description="past values the model sees")
    horizon: int = Field(1, ge=1, le=MAX_HORIZON, description="future values the model predicts at once")
    val_size: int = Field(10, ge=0, description="points per series held out for early stopping")
    test_size: int = Field(10, ge=1, description="points per series held out for the test metrics")
    scaling: Literal["standard", "minmax", "none"] = "standard"
    transform: Literal["none", "log"] = Field("none", description="log: log1p(y) before scaling (y > -1)")
    covariates: list[Literal["month", "dayofweek", "hour", "dayofyear"]] = Field(
        default_factory=list, description="calendar features (sin/cos) fed beside y; need datetime ds"
    )
    anchor: Literal["mixed", "none", "last", "mean", "trend", "season"] = Field(
        "mixed",
        description="inputs and targets relative to the input window's last value, mean, least-squares line, "
        "or last season (evaluate.season_length); mixed: the ensemble's members take turns through "
        "ensemble.SHAPES (each its own anchor and deseasonalise), and the median combines them",
    )
    deseasonalise: bool = Field(
        True,
        description="remove each series' STL seasonal part (evaluate.season_length) and add it back "
        "(set per member when the anchor is mixed)",
    )

    @model_validator(mode="after")
    def _covariates_once(self) -> WindowConfig:
        if len(set(self.covariates)) != len(self.covariates):
            raise ValueError(f"window.covariates lists a feature twice: {self.covariates}")
        return self


class RepairConfig(_Section):
    """Opt-in repairs applied before validation; each one applied is logged with its row count."""

    sort: bool = Field(False, description="sort rows by (unique_id, ds)")
    drop_duplicates: bool = Field(False, description="drop rows that are exact duplicates")
    fill_gaps: bool = Field(False, description="interpolate missing timestamps and NaN values")
    max_gap: int = Field(3, ge=1, description="longest run of missing steps fill_gaps may fill")


class ValidationConfig(_Section):
    """The data contract checked with Great Expectations before training and before forecasting."""

    freq: str | None = Field(None, description="pandas offset alias or integer step; None = inferred per series")
    min_value: float = Field(-1e15, description="smallest acceptable y")
    max_value: float = Field(1e15, description="largest acceptable y")
    report_dir: str = Field("outputs/validation", description="where the GX result and Data Docs go")
    repair: RepairConfig = RepairConfig()

    @field_validator("freq", mode="before")
    @classmethod
    def _known_freq(cls, value: object) -> object:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # `--set validation.freq=7` arrives as YAML's integer 7
        return check_freq(value) if isinstance(value, str) else value


# Keras 3's element-wise activations (keras.activations), written out so the config needs no Keras import.
# Left out: those that need arguments (threshold) or act across units (softmax, log_softmax, sparsemax, glu).
Activation = Literal[
    "tanh", "sigmoid", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish", "mish",
    "linear", "exponential", "softplus", "softsign", "squareplus", "sparse_plus", "sparse_sigmoid", "log_sigmoid",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "soft_shrink", "tanh_shrink",
]  # fmt: skip


class ModelConfig(_Section):
    """The Keras LSTM: one LSTM layer per entry of `units`, then a Dense head of `horizon` units."""

    units: list[Annotated[int, Field(ge=1, le=MAX_UNITS)]] = Field(
        default_factory=lambda: [50], min_length=1, max_length=16
    )
    activation: Activation = "tanh"
    dropout: float = Field(0.0, ge=0, lt=1)
    zero_head: bool = Field(
        True, description="the Dense head starts at 0, so an untrained network forecasts the anchor's baseline"
    )


class TrainConfig(_Section):
    """Optimisation: `epochs` passes over the training windows, checked every `epochs_per_check`."""

    epochs: int = Field(200, ge=1)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(1e-3, gt=0, allow_inf_nan=False)
    optimizer: Literal["adam", "rmsprop", "sgd"] = "adam"
    loss: Literal["mse", "mae", "huber"] = "mse"
    epochs_per_check: int = Field(10, ge=1, description="passes between validation checks and logged losses")
    max_steps: int | None = Field(
        4000, ge=1, description="gradient steps per network at most: long series get fewer passes; None = no cap"
    )
    early_stopping_patience: int | None = Field(5, ge=1, description="checks without improvement; None = off")
    seed: int = 42
    ensemble: int = Field(
        6, ge=1, le=50, description="networks trained with seeds seed, seed+1, ...; forecast = median"
    )


class BacktestConfig(_Section):
    """Rolling-origin backtest: `windows` forecast origins, `step` apart, at the end of every series.

    At each origin the model is trained on the history before it only (scaler included), unless
    `refit` says to reuse the last fit; residuals of the folds give the conformal intervals.
    """

    windows: int = Field(0, ge=0, description="forecast origins; 0 = no backtest")
    step: int | None = Field(None, ge=1, description="steps between origins; None = the horizon")
    horizon: int | None = Field(
        None, ge=1, le=MAX_HORIZON, description="steps scored after each origin; None = window.horizon"
    )
    refit: int = Field(1, ge=0, description="refit every k folds; 0 = fit once on the first fold, never refit")
    interval_levels: list[float] = Field(
        default_factory=lambda: [80.0, 95.0], description="conformal interval levels in percent"
    )

    @model_validator(mode="after")
    def _levels_are_percentages(self) -> BacktestConfig:
        if any(not 0 < level < 100 for level in self.interval_levels):
            raise ValueError("backtest.interval_levels must lie strictly between 0 and 100 (percent)")
        return self


ClassicModel = Literal["AutoETS", "AutoTheta", "AutoARIMA"]


class EvaluateConfig(_Section):
    """Scoring: `season_length` drives MASE, the seasonal-naive baseline and deseasonalisation.

    Left unset, it comes from the data's frequency (monthly 12, quarterly 4, weekly 52, daily 7,
    hourly 24, yearly 1; integer steps: 1, the demo sine 63). `classic` are the statsforecast
    models scored beside the LSTM on the same cutoffs.
    """

    season_length: int = Field(63, ge=1, description="period in steps; default: from the data's frequency")
    classic: list[ClassicModel] = Field(
        default_factory=lambda: list[ClassicModel](["AutoETS", "AutoTheta"]),
        description="statsforecast models scored beside the LSTM",
    )


class TrackingConfig(_Section):
    """MLflow names: the experiment, the registered model and the alias forecasts use."""

    experiment: str = "lstm-pipeline"
    model_name: str = "lstm-forecaster"
    alias: str = "champion"
    register_model: bool = True

    @field_validator("model_name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        # The name is a folder of the forecast slots and a value in registry filters: no "/", "..", quotes.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", value):
            raise ValueError(
                f"{value!r} must be letters, digits, '.', '_' or '-' (first a letter or digit, at most 128)"
            )
        return value


class PromotionConfig(_Section):
    """The gate a new model passes to become the champion (else it is the challenger).

    On the test part's windows, the candidate's MASE must be below seasonal naive's there times
    `max_vs_seasonal_naive` times (1 - `margin`), and below the champion's there times (1 - `margin`).
    `fallback: classic` keeps batch forecasts flowing when no LSTM clears the first bar.
    """

    max_vs_seasonal_naive: float = Field(
        1.0, gt=0, description="candidate MASE / seasonal naive's MASE on the same windows must be below this"
    )
    margin: float = Field(0.0, ge=0, lt=1, description="relative MASE improvement required over both")
    challenger_alias: str = "challenger"
    fallback: Literal["off", "classic"] = Field(
        "off",
        description=(
            "when the LSTM does not beat seasonal naive: off = no new champion; classic = register the best of "
            "seasonal naive and evaluate.classic (by test MASE) as its own model and gate it against the champion"
        ),
    )


class ForecastConfig(_Section):
    """Batch forecasts: how far ahead and where the Parquet files go."""

    horizon: int | None = Field(None, ge=1, le=MAX_HORIZON, description="steps ahead; None = the model's horizon")
    output_dir: str = "outputs/forecasts"
    unknown_series: Literal["error", "skip"] = Field(
        "error", description="series the model never saw: fail the run, or leave them out (logged)"
    )


class MonitorConfig(_Section):
    """Realised accuracy of the forecasts written earlier, against what each version promised.

    A version is degraded when its realised MASE is above its promise (backtest MASE, else test
    MASE) times (1 + `mase_tolerance`), or an interval's coverage is below its nominal level minus
    `coverage_tolerance`; the monitor flow then emits `lstm-pipeline.model.degraded`.
    """

    mase_tolerance: float = Field(0.5, ge=0, description="realised MASE may exceed the promise by this share")
    coverage_tolerance: float = Field(0.15, ge=0, lt=1, description="coverage may fall this far below nominal")
    min_points: int = Field(1, ge=1, description="realised points a version needs before it is judged")
    drift_alpha: float = Field(0.001, gt=0, lt=1, description="p-value below which a series' data has drifted")
    drift_share: float = Field(
        0.25, gt=0, le=1, description="share of a version's series that must drift before it counts as degraded"
    )


def _default_space() -> dict[str, list[Any]]:
    return {
        "window.lookback": [10, 20],
        "model.units": [[32], [64], [32, 32]],
        "model.dropout": [0.0, 0.2],
        "train.learning_rate": [1e-3, 1e-2],
        "train.batch_size": [16, 32],
    }


class SweepConfig(_Section):
    """Hyperparameter sweep: trials drawn from `space` (dotted config key -> candidate values), run on Dask.

    `grid` runs every combination (at most `trials`); `random` runs `trials` distinct combinations
    drawn with `seed`. Trial i trains with `train.seed` + i unless the space sets `train.seed`.
    The same trial gives the same metrics on any number of workers for the same `threads_per_trial`.
    """

    method: Literal["grid", "random"] = "random"
    trials: int = Field(8, ge=1, description="random: combinations drawn; grid: the most the grid may hold")
    space: dict[str, list[Any]] = Field(default_factory=_default_space, description="dotted key -> values to try")
    seed: int = Field(0, description="seed of the random draw (trial seeds come from train.seed)")
    workers: int = Field(2, ge=1, description="local Dask worker processes; 1 = trials one after another, no Dask")
    scheduler_address: str | None = Field(None, description="an existing Dask scheduler (tcp://host:8786) instead")
    threads_per_trial: int | None = Field(
        1, ge=1, description="TensorFlow intra- and inter-op threads per trial (results depend on it); None = TF's"
    )


class AutoConfig(_Section):
    """Automatic recipes (`train --auto`): a small space of recipes, each one network, combined by their median.

    The space is the anchor (last, trend, last season, none), deseasonalisation (with a season),
    the value transform (none, log where y > 0) and the lookback (the chosen one, two horizons).
    By default every candidate joins the ensemble: on the public series the median of all beat
    the median of the best few by backtest (BENCHMARKS.md), whose ranking on a few short origins
    is mostly noise. `top` k keeps the k best by backtest instead.
    """

    enabled: bool = Field(False, description="ensemble the recipe space instead of using the configured recipe")
    windows: int = Field(1, ge=1, description="backtest origins each candidate is scored on (fewer if too short)")
    top: int = Field(0, ge=0, description="best candidates by backtest that form the ensemble; 0 = every candidate")
    seeds: int = Field(1, ge=1, description="networks per chosen candidate (each with its own seed)")
    budget_seconds: float = Field(
        150, gt=0, description="stop scoring candidates after this; the refit takes about as long again"
    )

    def chosen(self, scored: int) -> int:
        """How many of `scored` candidates join the ensemble."""
        return scored if self.top == 0 else min(self.top, scored)


class PipelineConfig(_Section):
    """The root config; every field has a default, so an empty YAML file is a valid config."""

    source: SourceConfig = SourceConfig()
    validation: ValidationConfig = ValidationConfig()
    window: WindowConfig = WindowConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    backtest: BacktestConfig = BacktestConfig()
    tracking: TrackingConfig = TrackingConfig()
    promotion: PromotionConfig = PromotionConfig()
    forecast: ForecastConfig = ForecastConfig()
    monitor: MonitorConfig = MonitorConfig()
    sweep: SweepConfig = SweepConfig()
    auto: AutoConfig = AutoConfig()

    @model_validator(mode="after")
    def _consistent(self) -> PipelineConfig:
        # Sizes left unset are placeholders until the data decides them (`data_defaults.resolve`).
        w, given = self.window, self.window.model_fields_set
        problems = []  # all of them at once: a longer horizon usually needs both sizes raised
        if {"test_size", "horizon"} <= given and w.test_size < w.horizon:
            problems.append(
                f"window.test_size ({w.test_size}) must be >= window.horizon ({w.horizon}): the test part holds "
                f"at least one window's targets; set window.test_size={w.horizon} or more"
            )
        if {"val_size", "horizon"} <= given and 0 < w.val_size < w.horizon:
            problems.append(
                f"window.val_size ({w.val_size}) must be 0 or >= window.horizon ({w.horizon}): set "
                f"window.val_size={w.horizon} or more (or window.val_size=0 with train.early_stopping_patience=null)"
            )
        if not self.validation.min_value < self.validation.max_value:  # NaN fails too
            problems.append("validation.min_value must be below validation.max_value")
        if self.train.early_stopping_patience is not None and w.val_size == 0 and "val_size" in given:
            problems.append("train.early_stopping_patience needs window.val_size > 0 (or set it to null)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def flat(self) -> dict[str, Any]:
        """The config as `section.field -> value` (nested sections too), the form MLflow params take."""
        return _flatten(self.model_dump())


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= _flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# What can be laid over a config: `section.key -> value` pairs, `["section.key=value", ...]` as the
# CLI's --set gives them, or a PipelineConfig (its settings that were given, as a flow parameter holds them).
Overrides = Mapping[str, Any] | Sequence[str] | PipelineConfig | None


def load_config(path: str | Path | None = None, *layers: Overrides) -> PipelineConfig:
    """Build the config from defaults, an optional YAML file and override layers, later layers winning.

    This is the one way settings reach a config: the CLI's `--set`, a flow's typed `config`
    parameter, a `data` file and a sweep trial's point are all layers. A setting counts as given
    (`model_fields_set`, which `data_defaults` respects) when a layer or the file names it.
    """
    data = _read_yaml(Path(path)) if path else {}
    for layer in layers:
        data = _laid_over(data, _as_tree(layer), PipelineConfig)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        source = f" in {path}" if path else ""
        raise ConfigError(f"invalid config{source}:\n{_describe(exc)}") from None


def apply_overrides(base: PipelineConfig, *layers: Overrides) -> PipelineConfig:
    """`base` with override layers laid over it, validated as a whole (what `base` left unset stays unset)."""
    return load_config(None, base, *layers)


def file_source(path: str | Path | None) -> dict[str, Any]:
    """Overrides that make a CSV/Parquet file the source (empty when no path is given)."""
    return {"source.kind": "file", "source.path": str(path)} if path else {}


def project_root() -> Path:
    """The directory that holds `mlruns/` and `outputs/`: $LSTM_PIPELINE_HOME, the checkout, or cwd."""
    if home := os.environ.get("LSTM_PIPELINE_HOME"):
        return Path(home).resolve()
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file() and (checkout / "flows").is_dir():
        return checkout
    return Path.cwd().resolve()


OUTPUT_ROOT_ENV = "LSTM_PIPELINE_OUTPUT_ROOT"


def output_dir(setting: str, value: str) -> Path:
    """The folder an output setting names, resolved; ConfigError unless it is under an allowed root and writable.

    Relative paths are taken from the project root. Outputs stay under the project root, unless
    the operator lists other roots in $LSTM_PIPELINE_OUTPUT_ROOT (os.pathsep-separated): a config
    or a flow parameter alone (say, from a deployment run) cannot send writes anywhere else.
    Symbolic links are followed before the check. Nothing is created here.
    """
    home = project_root()
    target = (home / Path(value).expanduser()).resolve()
    allowed = [
        home,
        *(Path(p).expanduser().resolve() for p in os.environ.get(OUTPUT_ROOT_ENV, "").split(os.pathsep) if p),
    ]
    if not any(target.is_relative_to(root) for root in allowed):
        raise ConfigError(
            f"{setting} {value!r} resolves to {target}, outside the project home {home}; use a path under it, "
            f"or have the operator allow another root with ${OUTPUT_ROOT_ENV}"
        )
    _check_writable(setting, target)
    return target


def _check_writable(setting: str, target: Path) -> None:
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        what = "is" if existing == target else f"would be inside {existing}, which is"
        raise ConfigError(f"{setting}: {target} {what} a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{setting}: {existing} is not writable by this user")


def check_output_dirs(cfg: PipelineConfig) -> None:
    """Check every output folder of a config (`output_dir`), before any work starts."""
    output_dir("forecast.output_dir", cfg.forecast.output_dir)
    output_dir("validation.report_dir", cfg.validation.report_dir)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, got {type(loaded).__name__}")
    return loaded


def parse_overrides(overrides: Mapping[str, Any] | Sequence[str] | None) -> dict[str, Any]:
    """Turn `["train.epochs=50", ...]` (values read as YAML) or a mapping into `{dotted: value}`."""
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        return dict(overrides)
    parsed: dict[str, Any] = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} must look like section.key=value")
        try:
            parsed[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({problem})") from None
    return parsed


def _as_tree(layer: Overrides) -> dict[str, Any]:
    """A layer as nested sections: `{"train": {"epochs": 50}}`; a config gives only its settings that were given."""
    if isinstance(layer, PipelineConfig):
        return layer.model_dump(exclude_unset=True)
    tree: dict[str, Any] = {}
    for dotted, value in parse_overrides(layer).items():
        _set_dotted(tree, dotted, value)
    return tree


def _laid_over(data: dict[str, Any], tree: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """`data` with `tree` laid over it: sections merge key by key, any other value (a list, a dict) is replaced."""
    merged = dict(data)
    for key, value in tree.items():
        field = model.model_fields.get(key)
        section = field.annotation if field else None
        below = merged.get(key)
        if isinstance(section, type) and issubclass(section, _Section) and isinstance(value, dict):
            merged[key] = _laid_over(below if isinstance(below, dict) else {}, value, section)
        else:
            merged[key] = value  # an unknown key is kept for validation to name
    return merged


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {dotted!r}: {part!r} is a value, not a section")
        node = child
    node[leaf] = value


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "config"
        if error["type"] == "extra_forbidden":
            lines.append(f"  {where!r} is not a config setting")
        else:
            lines.append(f"  {where}: {error['msg']}")
    return "\n".join(lines)
