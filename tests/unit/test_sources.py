"""Unit tests for lstm_pipeline.sources: the seed sine, the synthetic panel and CSV/Parquet ingest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.contract import check_series
from lstm_pipeline.errors import DataSourceError, DataValidationError
from lstm_pipeline.sources import read_series, seed_sine, synthetic_panel

COLUMNS = ["unique_id", "ds", "y"]


def write_text(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_sorted_by_id_then_ds(frame: pd.DataFrame) -> None:
    expected = frame.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    pd.testing.assert_frame_equal(frame.reset_index(drop=True), expected)


# --- seed_sine ---------------------------------------------------------------------------------


def test_seed_sine_without_noise_is_exactly_sin_x_over_10():
    frame = seed_sine(n_points=7, noise=0.0)
    x = np.arange(7)
    assert list(frame.columns) == COLUMNS
    assert (frame["unique_id"] == "sine").all()
    assert frame["ds"].dtype == np.int64
    assert frame["y"].dtype == np.float64
    np.testing.assert_array_equal(frame["ds"].to_numpy(), x)
    np.testing.assert_allclose(frame["y"].to_numpy(), np.sin(x / 10), rtol=0, atol=1e-15)


def test_seed_sine_same_seed_gives_same_values():
    pd.testing.assert_frame_equal(seed_sine(n_points=50, seed=3), seed_sine(n_points=50, seed=3))


def test_seed_sine_different_seed_gives_different_values():
    a = seed_sine(n_points=50, seed=1)["y"].to_numpy()
    b = seed_sine(n_points=50, seed=2)["y"].to_numpy()
    assert not np.allclose(a, b)


@pytest.mark.parametrize("noise", [0.1, 0.5])
def test_seed_sine_residual_is_zero_mean_gaussian_with_the_noise_std(noise):
    n = 20_000
    frame = seed_sine(n_points=n, noise=noise, seed=0)
    residual = frame["y"].to_numpy() - np.sin(np.arange(n) / 10)
    assert abs(residual.std() - noise) < 0.05 * noise
    assert abs(residual.mean()) < 5 * noise / np.sqrt(n)


# --- synthetic_panel ---------------------------------------------------------------------------


def test_synthetic_panel_shape_ids_and_sorted():
    frame = synthetic_panel(n_series=4, n_points=30, season_length=6)
    assert frame.shape == (4 * 30, 3)
    assert list(frame.columns) == COLUMNS
    assert sorted(frame["unique_id"].unique()) == ["series_0", "series_1", "series_2", "series_3"]
    assert (frame.groupby("unique_id").size() == 30).all()
    assert frame["y"].dtype == np.float64
    assert_sorted_by_id_then_ds(frame)


@pytest.mark.parametrize(("freq", "step"), [("h", pd.Timedelta(hours=1)), ("D", pd.Timedelta(days=1))])
def test_synthetic_panel_ds_is_datetime_with_the_freq(freq, step):
    frame = synthetic_panel(n_series=2, n_points=10, freq=freq, start="2024-03-01")
    assert pd.api.types.is_datetime64_any_dtype(frame["ds"])
    for _, group in frame.groupby("unique_id"):
        ds = group["ds"].reset_index(drop=True)
        assert ds.iloc[0] == pd.Timestamp("2024-03-01")
        assert (ds.diff().dropna() == step).all()


def test_synthetic_panel_without_noise_or_trend_repeats_every_season():
    season = 5
    frame = synthetic_panel(n_series=3, n_points=4 * season, season_length=season, trend=0.0, noise=0.0)
    for _, group in frame.groupby("unique_id"):
        y = group["y"].to_numpy()
        np.testing.assert_allclose(y[season:], y[:-season], atol=1e-12)
        assert y.std() > 0  # a wave, not a flat line


def test_synthetic_panel_trend_grows_with_the_series_number():
    # y[t + m] - y[t] = trend * (i + 1) * m for series i when the noise is zero (the wave repeats).
    season, trend = 4, 0.5
    frame = synthetic_panel(n_series=3, n_points=12, season_length=season, trend=trend, noise=0.0)
    for i in range(3):
        y = frame.loc[frame["unique_id"] == f"series_{i}", "y"].to_numpy()
        np.testing.assert_allclose(y[season:] - y[:-season], trend * (i + 1) * season, atol=1e-12)


def test_synthetic_panel_is_reproducible_for_a_seed():
    pd.testing.assert_frame_equal(synthetic_panel(seed=7, n_points=20), synthetic_panel(seed=7, n_points=20))
    assert not np.allclose(synthetic_panel(seed=7, n_points=20)["y"], synthetic_panel(seed=8, n_points=20)["y"])


# --- read_series: happy paths ------------------------------------------------------------------


def test_read_series_groups_rows_by_series_in_the_files_order_with_typed_columns(tmp_path):
    path = write_text(tmp_path, "long.csv", "unique_id,ds,y\nb,1,3\na,1,2\nb,2,1.5\na,0,4\n")
    frame = read_series(path)
    expected = pd.DataFrame(
        {
            "unique_id": ["a", "a", "b", "b"],
            "ds": np.array([1, 0, 1, 2], dtype="int64"),  # a's rows stay out of time order: sorting is a repair
            "y": [2.0, 4.0, 3.0, 1.5],
        }
    )
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    assert frame["ds"].dtype == np.int64
    assert frame["y"].dtype == np.float64


def test_read_series_of_a_date_major_file_gives_each_series_in_time_order(tmp_path):
    rows = "".join(f"2024-01-0{day},{store},{day}\n" for day in (1, 2, 3) for store in ("s2", "s1"))
    frame = read_series(write_text(tmp_path, "stores.csv", "ds,unique_id,y\n" + rows))
    assert list(frame["unique_id"]) == ["s1"] * 3 + ["s2"] * 3
    check_series(frame, min_length=3, regular=True)  # no repair needed: each series was in order


def test_read_series_parses_iso_dates_in_csv(tmp_path):
    path = write_text(tmp_path, "dates.csv", "unique_id,ds,y\na,2024-01-01,2\na,2024-01-02,1\n")
    frame = read_series(path)
    assert pd.api.types.is_datetime64_any_dtype(frame["ds"])
    assert list(frame["ds"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")]
    assert list(frame["y"]) == [2.0, 1.0]


def test_read_series_maps_custom_column_names(tmp_path):
    path = write_text(tmp_path, "mapped.csv", "store,when,sales,extra\n7,1,20,y\n7,2,10,x\n3,1,30,z\n")
    frame = read_series(path, id_col="store", time_col="when", value_col="sales")
    assert list(frame.columns) == COLUMNS
    assert list(frame["unique_id"]) == ["3", "7", "7"]  # ids become strings
    assert list(frame["ds"]) == [1, 1, 2]
    assert list(frame["y"]) == [30.0, 20.0, 10.0]


def test_read_series_without_id_column_names_the_series_after_the_file_stem(tmp_path):
    path = write_text(tmp_path, "electricity.csv", "ds,y\n0,6\n1,5\n")
    frame = read_series(path, id_col=None)
    assert list(frame["unique_id"]) == ["electricity", "electricity"]
    assert list(frame["ds"]) == [0, 1]
    assert list(frame["y"]) == [6.0, 5.0]


def test_read_series_wide_turns_one_column_per_series_into_long(tmp_path):
    path = write_text(tmp_path, "wide.csv", "ds,b,a\n2024-01-01,3,4\n2024-01-02,1,2\n")
    frame = read_series(path, wide=True)
    assert list(frame.columns) == COLUMNS
    assert list(frame["unique_id"]) == ["a", "a", "b", "b"]
    assert list(frame["ds"]) == [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-02")] * 2
    assert list(frame["y"]) == [4.0, 2.0, 3.0, 1.0]


def test_read_series_wide_with_a_custom_time_column(tmp_path):
    path = write_text(tmp_path, "wide.csv", "step,north,south\n0,1,2\n1,3,4\n")
    frame = read_series(path, wide=True, time_col="step")
    assert list(frame["unique_id"]) == ["north", "north", "south", "south"]
    assert list(frame["ds"]) == [0, 1, 0, 1]
    assert list(frame["y"]) == [1.0, 3.0, 2.0, 4.0]


def test_read_series_wide_with_a_series_column_named_y(tmp_path):
    # Series names are data, not reserved words: columns "x" and "y" are two series.
    path = write_text(tmp_path, "xy.csv", "ds,x,y\n0,1,2\n1,3,4\n")
    frame = read_series(path, wide=True)
    assert list(frame["unique_id"]) == ["x", "x", "y", "y"]
    assert list(frame["y"]) == [1.0, 3.0, 2.0, 4.0]


def test_read_series_uses_date_format(tmp_path):
    # Day first: without the format 03/01/2024 would be read as March 1st.
    path = write_text(tmp_path, "daily.csv", "day,value\n03/01/2024,2\n04/01/2024,3\n05/01/2024,1\n")
    frame = read_series(path, id_col=None, time_col="day", value_col="value", date_format="%d/%m/%Y")
    assert list(frame["ds"]) == [pd.Timestamp(f"2024-01-0{d}") for d in (3, 4, 5)]
    assert list(frame["y"]) == [2.0, 3.0, 1.0]


def test_read_series_uses_date_format_for_digit_only_dates(tmp_path):
    # 20240105 looks like an integer to the CSV reader, but the user said it is a date.
    path = write_text(tmp_path, "compact.csv", "ds,y\n20240103,2\n20240105,1\n")
    frame = read_series(path, id_col=None, date_format="%Y%m%d")
    assert pd.api.types.is_datetime64_any_dtype(frame["ds"])
    assert list(frame["ds"]) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-05")]


def test_read_series_accepts_an_upper_case_suffix(tmp_path):
    path = write_text(tmp_path, "DATA.CSV", "unique_id,ds,y\na,0,1\n")
    assert len(read_series(path)) == 1


@pytest.mark.parametrize("suffix", [".parquet", ".pq"])
def test_read_series_parquet_long_format(tmp_path, suffix):
    path = tmp_path / f"panel{suffix}"
    pd.DataFrame(
        {
            "unique_id": ["b", "a", "a"],
            "ds": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-02"]),
            "y": [1, 3, 2],
        }
    ).to_parquet(path)
    frame = read_series(path)
    assert list(frame["unique_id"]) == ["a", "a", "b"]
    assert list(frame["ds"]) == [pd.Timestamp(d) for d in ("2024-01-01", "2024-01-02", "2024-01-01")]
    assert list(frame["y"]) == [3.0, 2.0, 1.0]
    assert frame["y"].dtype == np.float64


def test_read_series_parquet_with_column_mapping(tmp_path):
    path = tmp_path / "mapped.parquet"
    pd.DataFrame({"id": ["x", "x"], "t": [1, 2], "v": [2.0, 1.0]}).to_parquet(path)
    frame = read_series(path, id_col="id", time_col="t", value_col="v")
    assert list(frame.itertuples(index=False, name=None)) == [("x", 1, 2.0), ("x", 2, 1.0)]


# --- read_series: errors -----------------------------------------------------------------------


def test_read_series_missing_column_names_it(tmp_path):
    path = write_text(tmp_path, "data.csv", "unique_id,ds,y\na,0,1\n")
    with pytest.raises(DataSourceError, match=r"missing column.*'date'"):
        read_series(path, time_col="date")


def test_read_series_missing_file(tmp_path):
    with pytest.raises(DataSourceError, match="no such file"):
        read_series(tmp_path / "absent.csv")


@pytest.mark.parametrize("name", ["data.txt", "data.xlsx", "data"])
def test_read_series_unsupported_suffix(tmp_path, name):
    path = write_text(tmp_path, name, "unique_id,ds,y\na,0,1\n")
    with pytest.raises(DataSourceError, match="unsupported file type"):
        read_series(path)


def test_read_series_empty_file(tmp_path):
    with pytest.raises(DataSourceError, match="empty"):
        read_series(write_text(tmp_path, "empty.csv", ""))


def test_read_series_header_only_csv_gives_an_empty_frame_that_validation_rejects(tmp_path):
    frame = read_series(write_text(tmp_path, "header.csv", "unique_id,ds,y\n"))
    assert frame.empty
    assert list(frame.columns) == COLUMNS
    with pytest.raises(DataValidationError, match="at least one series"):
        check_series(frame, min_length=1)


def test_read_series_non_numeric_values_are_named(tmp_path):
    path = write_text(tmp_path, "bad.csv", "unique_id,ds,y\na,0,1.0\na,1,abc\na,2,n/a-ish\na,3,2\n")
    with pytest.raises(DataSourceError, match=r"2 value\(s\) are not numbers") as info:
        read_series(path)
    assert "line 3: 'abc', line 4: 'n/a-ish'" in str(info.value)  # lines of the file, the header being line 1


def test_read_series_unparseable_dates_are_named(tmp_path):
    path = write_text(tmp_path, "bad.csv", "unique_id,ds,y\na,2024-01-01,1\na,notadate,2\n")
    with pytest.raises(DataSourceError, match=r"1 timestamp\(s\) could not be parsed") as info:
        read_series(path)
    assert "notadate" in str(info.value)


def test_read_series_dates_that_do_not_match_date_format(tmp_path):
    path = write_text(tmp_path, "bad.csv", "unique_id,ds,y\na,2024-01-01,1\n")
    with pytest.raises(DataSourceError, match="could not be parsed"):
        read_series(path, date_format="%d/%m/%Y")


def test_read_series_garbage_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"\x00\x01not a parquet file\xff\xfe")
    with pytest.raises(DataSourceError, match="cannot read as parquet"):
        read_series(path)


def test_read_series_parquet_with_the_wrong_schema_names_the_missing_column(tmp_path):
    path = tmp_path / "schema.parquet"
    pd.DataFrame({"unique_id": ["a"], "ds": [0], "value": [1.0]}).to_parquet(path)
    with pytest.raises(DataSourceError, match=r"missing column.*'y'"):
        read_series(path)


def test_read_series_wide_without_the_time_column(tmp_path):
    path = write_text(tmp_path, "wide.csv", "date,a,b\n0,1,2\n")
    with pytest.raises(DataSourceError, match=r"missing column.*'ds'"):
        read_series(path, wide=True)


def test_read_series_ragged_csv_is_a_source_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("unique_id,ds,y\na,0,1.0\na,1,2.0,extra,cells\n")
    with pytest.raises(DataSourceError, match="cannot read as csv"):
        read_series(path)


def test_read_series_wrong_delimiter_gets_a_hint_and_sep_fixes_it(tmp_path):
    path = tmp_path / "semi.csv"
    path.write_text("unique_id;ds;y\na;0;1.0\na;1;2.0\n")
    with pytest.raises(DataSourceError, match=r"another delimiter: set source\.sep"):
        read_series(path)
    assert list(read_series(path, sep=";")["y"]) == [1.0, 2.0]


def test_read_series_mixed_time_zones_are_refused(tmp_path):
    path = tmp_path / "tz.csv"
    path.write_text("unique_id,ds,y\na,2024-01-01 00:00,1.0\na,2024-01-01 01:00+02:00,2.0\n")
    with pytest.raises(DataSourceError, match=r"^[^:]*: rule 'one time zone': 1 timestamp"):  # said once, not wrapped
        read_series(path)


def test_read_series_dst_change_with_offsets_becomes_regular_utc(tmp_path):
    path = tmp_path / "dst.csv"
    path.write_text(
        "unique_id,ds,y\n"
        "a,2024-03-31T01:00:00+01:00,1.0\n"
        "a,2024-03-31T03:00:00+02:00,2.0\n"  # one hour later: clocks jumped forward
        "a,2024-03-31T04:00:00+02:00,3.0\n"
    )
    ds = read_series(path)["ds"]
    assert str(ds.dt.tz) == "UTC"
    assert (ds.diff().dropna() == pd.Timedelta(hours=1)).all()


def test_read_series_whole_float_ds_are_integer_steps_not_nanoseconds(tmp_path):
    path = tmp_path / "f.csv"
    pd.DataFrame({"unique_id": "a", "ds": [0.0, 1.0, 2.0], "y": [1.0, 2.0, 3.0]}).to_csv(path, index=False)
    frame = read_series(path)
    assert frame["ds"].dtype == "int64" and list(frame["ds"]) == [0, 1, 2]
    pd.DataFrame({"unique_id": "a", "ds": [0.0, 1.0, 2.0], "y": 1.0}).to_parquet(tmp_path / "f.parquet")
    assert list(read_series(tmp_path / "f.parquet")["ds"]) == [0, 1, 2]


@pytest.mark.parametrize("ds", [[0.0, 0.5, 1.0], [0.0, float("nan"), 2.0]])
def test_read_series_fractional_or_empty_float_ds_are_refused(tmp_path, ds):
    path = tmp_path / "f.csv"
    pd.DataFrame({"unique_id": "a", "ds": ds, "y": 1.0}).to_csv(path, index=False)
    with pytest.raises(DataSourceError, match=r"numeric ds must be whole numbers.*1 are not, e.g. line 3: "):
        read_series(path)


def test_read_series_boolean_values_are_refused(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("unique_id,ds,y\na,0,True\na,1,False\n")
    with pytest.raises(DataSourceError, match="y holds True/False"):
        read_series(path)
    pd.DataFrame({"unique_id": "a", "ds": [0, 1], "y": [True, False]}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataSourceError, match="y holds True/False"):
        read_series(tmp_path / "b.parquet")


def test_read_series_boolean_ds_is_refused(tmp_path):
    pd.DataFrame({"unique_id": "a", "ds": [True, False], "y": 1.0}).to_parquet(tmp_path / "b.parquet")
    with pytest.raises(DataSourceError, match="ds holds True/False"):
        read_series(tmp_path / "b.parquet")


def test_read_series_names_a_folder_or_a_symlink_loop_for_what_it_is(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(DataSourceError, match="a folder, not a file"):
        read_series(tmp_path / "folder.csv")
    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    with pytest.raises(DataSourceError, match="too many levels of symbolic links"):
        read_series(tmp_path / "loop.csv")


def test_read_series_names_the_file_line_of_a_bad_value_in_a_wide_file(tmp_path):
    path = write_text(tmp_path, "wide.csv", "ds,s1,s2\n2024-01-01,1,2\n2024-01-02,x,3\n")
    with pytest.raises(DataSourceError, match=r"e\.g\. line 3: 'x'"):
        read_series(path, wide=True)
    pd.DataFrame({"unique_id": "a", "ds": [0, 1], "y": ["1", "x"]}).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataSourceError, match=r"e\.g\. row 2: 'x'"):
        read_series(tmp_path / "p.parquet")


def test_read_series_two_date_formats_are_named_as_such(tmp_path):
    path = write_text(tmp_path, "two.csv", "unique_id,ds,y\na,2024-01-01,1\na,2024-01-02,2\na,01/03/2024,3\n")
    with pytest.raises(DataSourceError, match=r"e\.g\. line 4: '01/03/2024'; 2 others parse .* may mix date formats"):
        read_series(path)


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:  # sparse: 101 MB on paper, nothing on disk, unreadable as CSV
        handle.truncate(101_000_000)
    with pytest.raises(DataSourceError, match=r"rule 'file size': 101 MB is above source\.max_file_mb \(100 MB\)"):
        read_series(path, max_file_mb=100)
    from lstm_pipeline.config import load_config
    from lstm_pipeline.sources import load_series

    cfg = load_config(None, {"source.kind": "file", "source.path": str(path)})
    with pytest.raises(DataSourceError, match="file size"):
        load_series(cfg.source)  # the default limit applies


def test_read_series_daily_stamps_across_a_dst_change_keep_their_local_dates(tmp_path):
    path = tmp_path / "daily.csv"
    path.write_text(
        "unique_id,ds,y\n"
        "a,2024-03-30T00:00:00+01:00,1.0\n"
        "a,2024-03-31T00:00:00+01:00,2.0\n"
        "a,2024-04-01T00:00:00+02:00,3.0\n"  # summer time: local midnight is 22:00 UTC now
        "a,2024-04-02T00:00:00+02:00,4.0\n"
    )
    ds = read_series(path)["ds"]
    assert list(ds) == list(pd.date_range("2024-03-30", periods=4, freq="D"))
    from lstm_pipeline.contract import series_frequency

    assert series_frequency(ds) == "D"  # regular: the contract's frequency rules hold
