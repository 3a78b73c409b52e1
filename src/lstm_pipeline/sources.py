"""Series sources: the seed's noisy sine, a synthetic panel, and CSV/Parquet ingest into the long frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lstm_pipeline.config import SourceConfig
from lstm_pipeline.errors import DataSourceError

ID, TIME, VALUE = "unique_id", "ds", "y"
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"  # a UTC offset at the end of a timestamp
_READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def load_series(cfg: SourceConfig) -> pd.DataFrame:
    """Return the long frame (`unique_id, ds, y`) the config describes."""
    if cfg.kind == "sine":
        return seed_sine(n_points=cfg.n_points, noise=cfg.noise, seed=cfg.seed)
    if cfg.kind == "synthetic":
        return synthetic_panel(
            n_series=cfg.n_series,
            n_points=cfg.n_points,
            season_length=cfg.season_length,
            trend=cfg.trend,
            noise=cfg.noise,
            freq=cfg.freq,
            start=cfg.start,
            seed=cfg.seed,
        )
    assert cfg.path is not None  # guaranteed by SourceConfig
    return read_series(
        cfg.path,
        id_col=cfg.id_col,
        time_col=cfg.time_col,
        value_col=cfg.value_col,
        wide=cfg.wide,
        date_format=cfg.date_format,
        sep=cfg.sep,
        max_file_mb=cfg.max_file_mb,
    )


def seed_sine(*, n_points: int = 100, noise: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """The seed's series, `sin(x/10) + N(0, noise)` for x = 0..n-1, with integer steps as `ds`."""
    rng = np.random.default_rng(seed)
    x = np.arange(n_points)
    y = np.sin(x / 10) + rng.normal(0.0, noise, n_points)
    return pd.DataFrame({ID: "sine", TIME: x.astype("int64"), VALUE: y.astype("float64")})


def synthetic_panel(
    *,
    n_series: int = 3,
    n_points: int = 480,
    season_length: int = 24,
    trend: float = 0.01,
    noise: float = 0.2,
    freq: str = "h",
    start: str = "2024-01-01",
    seed: int = 0,
) -> pd.DataFrame:
    """Several series of level + trend + seasonal wave + Gaussian noise, each with its own shape."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_points)
    ds = pd.date_range(start, periods=n_points, freq=freq)
    frames = []
    for i in range(n_series):
        level, amplitude, phase = rng.uniform(5, 15), rng.uniform(0.5, 3), rng.uniform(0, 2 * np.pi)
        wave = amplitude * np.sin(2 * np.pi * t / season_length + phase)
        y = level + trend * (i + 1) * t + wave + rng.normal(0.0, noise, n_points)
        frames.append(pd.DataFrame({ID: f"series_{i}", TIME: ds, VALUE: y}))
    return pd.concat(frames).sort_values([ID, TIME], kind="stable", ignore_index=True)


def read_series(
    path: str | Path,
    *,
    id_col: str | None = ID,
    time_col: str = TIME,
    value_col: str = VALUE,
    wide: bool = False,
    date_format: str | None = None,
    sep: str = ",",
    max_file_mb: float | None = None,
) -> pd.DataFrame:
    """Read a CSV or Parquet file into the long frame, mapping columns and parsing dates.

    `wide=True` reads one column per series (plus `time_col`); `id_col=None` means one series;
    a file larger than `max_file_mb` is refused before it is read.
    """
    raw = _read_table(Path(path), sep, max_file_mb)
    if wide:
        _require_columns(raw, [time_col], path)
        # Private names: a series column may itself be called "y" or "unique_id". Wide files pad
        # series that start late or end early with empty cells; those are not observations.
        raw = raw.melt(id_vars=[time_col], var_name="__series__", value_name="__value__", ignore_index=False).dropna(
            subset="__value__"
        )  # the index stays the file's row, for messages
        id_col, value_col = "__series__", "__value__"
    _require_columns(raw, [c for c in (id_col, time_col, value_col) if c], path)
    frame = pd.DataFrame(
        {
            ID: raw[id_col].astype(str) if id_col else Path(path).stem,
            TIME: _parse_time(raw[time_col], date_format, path),
            VALUE: _parse_values(raw[value_col], path),
        }
    )
    # Rows grouped by series, each series in the file's order: putting a series in time order is the
    # `sort` repair, which is logged, so a file out of order breaks "ds strictly increasing" until asked.
    return frame.sort_values(ID, kind="stable", ignore_index=True)


def _read_table(path: Path, sep: str, max_file_mb: float | None = None) -> pd.DataFrame:
    kind = _READERS.get(path.suffix.lower())
    if kind is None:
        raise DataSourceError(
            f"{path}: rule 'readable file': unsupported file type {path.suffix!r}; use .csv or .parquet"
        )
    if not path.is_file():
        raise DataSourceError(f"{path}: rule 'readable file': {_why_not_a_file(path)}")
    size_mb = path.stat().st_size / 1e6
    if max_file_mb is not None and size_mb > max_file_mb:  # refused before reading: memory grows ~20x the file
        raise DataSourceError(
            f"{path}: rule 'file size': {size_mb:.0f} MB is above source.max_file_mb ({max_file_mb:g} MB). The "
            "history is held in memory (about 20x the file size while training): raise the limit if the "
            "machine has the memory, or pass fewer or shorter series"
        )
    try:
        return pd.read_csv(path, sep=sep) if kind == "csv" else pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataSourceError(f"{path}: rule 'readable file': the file is empty") from None
    except Exception as exc:  # parser and Arrow errors have no common base class
        raise DataSourceError(f"{path}: rule 'readable file': cannot read as {kind}: {exc}") from None


def _why_not_a_file(path: Path) -> str:
    """What stands at `path` instead of a file: a folder, a symlink loop, nothing."""
    try:
        path.stat()
    except OSError as exc:
        return str(exc.strerror or "no such file").lower()
    return "a folder, not a file" if path.is_dir() else "not a regular file"


def _require_columns(raw: pd.DataFrame, needed: list[str], path: str | Path) -> None:
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        hint = "map yours with source.id_col / source.time_col / source.value_col"
        if len(raw.columns) == 1 and any(sep in str(raw.columns[0]) for sep in ";\t|"):
            hint = "the file seems to use another delimiter: set source.sep"
        raise DataSourceError(
            f"{path}: rule 'required columns': missing column(s) {missing}; the file has {list(raw.columns)} ({hint})"
        )


def _parse_time(column: pd.Series, date_format: str | None, path: str | Path) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        return column
    if pd.api.types.is_integer_dtype(column) and date_format is None:
        return column  # integer steps, as in the seed's series
    if pd.api.types.is_float_dtype(column) and date_format is None:
        return _whole_steps(column, path)
    if pd.api.types.is_bool_dtype(column):
        raise DataSourceError(f"{path}: rule 'parseable ds': ds holds True/False, not timestamps or integer steps")
    text = column.astype(str) if date_format else column  # digit-only dates such as 20240105
    utc = _all_offsets(text, path)  # outside the try: its own DataSourceError is a ValueError too
    try:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce", utc=utc)
    except (ValueError, TypeError) as exc:
        raise DataSourceError(f"{path}: rule 'parseable ds': timestamps cannot be parsed: {exc}") from None
    bad = parsed.isna() & column.notna()
    if bad.any():
        good = parsed.notna()
        mixed = (
            f"; {int(good.sum())} others parse (like {_examples(column[good], path, 1)}), so the file may mix "
            "date formats: write them one way, or set source.date_format"
            if good.any() and date_format is None
            else ""
        )
        raise DataSourceError(
            f"{path}: rule 'parseable ds': {int(bad.sum())} timestamp(s) could not be parsed, e.g. "
            f"{_examples(column[bad], path)}{mixed}"
        )
    return _local_days(text, parsed) if utc and date_format is None else parsed


def _local_days(text: pd.Series, in_utc: pd.Series) -> pd.Series:
    """Stamps at one local time of day whose offset changes (daylight saving): their local wall-clock times.

    In UTC, local midnight moves by an hour at each change, so a daily series would look irregular;
    sub-daily stamps stay in UTC, where the hours stay evenly spaced.
    """
    raw = text.astype(str)
    if raw.str.extract(f"({_OFFSET})")[0].nunique() < 2:
        return in_utc
    local = pd.to_datetime(raw.str.replace(_OFFSET, "", regex=True), errors="coerce")
    if local.isna().any() or (local - local.dt.normalize()).nunique() != 1:
        return in_utc
    return local


def _whole_steps(column: pd.Series, path: str | Path) -> pd.Series:
    """Read float `ds` (0.0, 1.0, ... as a spreadsheet writes them) as integer steps, if each is a whole number.

    pandas would otherwise read numbers as nanoseconds since 1970. Fractions and empty cells are refused.
    """
    values = column.to_numpy("float64")
    bad = ~np.isfinite(values) | (np.round(values) != values) | (np.abs(values) > 2**53)
    if bad.any():
        raise DataSourceError(
            f"{path}: rule 'parseable ds': numeric ds must be whole numbers (integer steps); "
            f"{int(bad.sum())} are not, e.g. {_examples(column[bad], path)}"
        )
    return column.astype("int64")


def _all_offsets(text: pd.Series, path: str | Path) -> bool:
    """True when every timestamp carries a UTC offset: parse to UTC, which keeps DST changes exact.

    A mix of timestamps with and without an offset has no single meaning: refuse it.
    """
    if not (pd.api.types.is_object_dtype(text) or pd.api.types.is_string_dtype(text)):
        return False
    has_offset = text.astype(str).str.contains(_OFFSET, regex=True)
    if has_offset.all():
        return True
    if has_offset.any():
        raise DataSourceError(
            f"{path}: rule 'one time zone': {int(has_offset.sum())} timestamp(s) carry a UTC offset and "
            f"{int((~has_offset).sum())} do not, e.g. {_examples(text[has_offset], path, 3)}; "
            f"{_examples(text[~has_offset], path, 2)}"
        )
    return False


def _examples(values: pd.Series, path: str | Path, n: int = 5) -> str:
    """A few offending values with where they are: the CSV line (header = line 1) or the Parquet row."""
    csv = Path(path).suffix.lower() == ".csv"
    first = values.head(n)
    places = first.index.to_numpy("int64") + (2 if csv else 1)
    return ", ".join(f"{'line' if csv else 'row'} {place}: {v!r}" for place, v in zip(places, first, strict=True))


def _parse_values(column: pd.Series, path: str | Path) -> pd.Series:
    mixed = pd.api.types.is_object_dtype(column) and column.map(lambda v: isinstance(v, bool | np.bool_)).any()
    if pd.api.types.is_bool_dtype(column) or mixed:
        raise DataSourceError(
            f"{path}: rule 'numeric y': y holds True/False; map it to numbers first if that is what you mean"
        )
    values = pd.to_numeric(column, errors="coerce").astype("float64")
    bad = values.isna() & column.notna()
    if bad.any():
        raise DataSourceError(
            f"{path}: rule 'numeric y': {int(bad.sum())} value(s) are not numbers, e.g. {_examples(column[bad], path)}"
        )
    return values
