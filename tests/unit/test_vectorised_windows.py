"""The array-built forecast inputs (`panel.Panel`, `forecasting._latest_windows`) against the per-series loop.

The reference below is the per-series construction as it was before the panel (a groupby loop,
`series_frequency` and `date_range` per series), copied here so the vectorised code is held to
it: same rows, order, timestamps, values and errors, on random panels.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lstm_pipeline.contract import check_series, run_frequencies, series_frequency
from lstm_pipeline.errors import DataValidationError
from lstm_pipeline.forecasting import _latest_windows, forecast, future_timestamps
from lstm_pipeline.intervals import history_scales
from lstm_pipeline.panel import Panel
from lstm_pipeline.recipe import Scaler

# --- the per-series reference -------------------------------------------------------------------


def reference_series_step(ds: pd.Series) -> str:
    return series_frequency(ds.iloc[-200:]) or "1"


def reference_future(last: object, step: str, horizon: int) -> np.ndarray:
    if step.lstrip("-").isdigit():
        return np.asarray(last) + int(step) * np.arange(1, horizon + 1)
    dates = pd.date_range(start=pd.Timestamp(last), periods=horizon + 1, freq=step)
    return np.asarray(dates[1:])


def reference_latest_windows(history: pd.DataFrame, lookback: int, scaler: Scaler):
    uids, windows, dates, cycles, last_ds, steps = [], [], [], [], [], []
    for uid, group in history.groupby("unique_id", sort=True):
        if len(group) < max(lookback, 2):
            raise DataValidationError(
                f"rule 'enough history': series {uid!r} has {len(group)} points; the model needs {max(lookback, 2)}"
            )
        adjusted, cycle = scaler.adjust(str(uid), group["y"].to_numpy("float64"))
        uids.append(str(uid))
        windows.append(adjusted[-lookback:])
        cycles.append(cycle)
        dates.append(group["ds"].to_numpy()[-lookback:])
        last_ds.append(group["ds"].iloc[-1])
        steps.append(reference_series_step(group["ds"]))
    width = max(len(c) for c in cycles)
    stacked = np.stack([c if len(c) == width else np.zeros(width) for c in cycles])
    return np.array(uids, dtype=object), np.stack(windows), np.stack(dates), stacked, last_ds, steps


def reference_restore(scaler: Scaler, uids, scaled, cycles) -> np.ndarray:
    params = np.array([scaler._params(str(uid)) for uid in uids], dtype="float64").reshape(-1, 2)
    seasonal = cycles[:, np.arange(scaled.shape[1]) % cycles.shape[1]]
    values = scaled * params[:, 1:2] + params[:, 0:1] + seasonal
    return np.expm1(values) if scaler.value_transform == "log" else values


def reference_forecast(predict, history, *, lookback, model_horizon, horizon, scaler) -> pd.DataFrame:
    uids, values, dates, cycles, last_ds, steps = reference_latest_windows(history, lookback, scaler)
    n_steps = math.ceil(horizon / model_horizon) * model_horizon
    future = [reference_future(last, step, n_steps) for last, step in zip(last_ds, steps, strict=True)]
    blocks = []
    for start in range(0, n_steps, model_horizon):
        X = scaler.inputs(values, dates)
        block = np.asarray(predict(X.astype("float32")), dtype="float64")[:, :model_horizon]
        if (base := scaler.baseline(values, model_horizon)) is not None:
            block = block + base[1]
        blocks.append(block)
        values = np.concatenate([values, block], axis=1)[:, -lookback:]
        if scaler.covariates:
            ahead = np.stack([f[start : start + model_horizon] for f in future])
            dates = np.concatenate([dates, ahead], axis=1)[:, -lookback:]
    scaled = np.concatenate(blocks, axis=1)[:, :horizon]
    return pd.DataFrame(
        {
            "unique_id": np.repeat(uids, horizon),
            "ds": np.concatenate([f[:horizon] for f in future]),
            "yhat": reference_restore(scaler, uids, scaled, cycles).reshape(-1),
        }
    )


def reference_history_scales(history: pd.DataFrame, season_length: int) -> dict[str, float]:
    scales = {}
    for uid, group in history.groupby("unique_id", sort=False):
        y = group["y"].to_numpy("float64")
        scale = float(np.mean(np.abs(y[season_length:] - y[:-season_length]))) if len(y) > season_length else 0.0
        scales[str(uid)] = scale if np.isfinite(scale) and scale > 0 else 1.0
    return scales


# --- random panels ------------------------------------------------------------------------------

DATE_STEPS = ("h", "D", "MS", "15min", "W-SUN", "B", "ME", "QS-JAN", "YS-JAN", "2D", "7D")


def dated_series(rng: np.random.Generator, uid: str, n: int, freq: str) -> pd.DataFrame:
    start = pd.Timestamp("2001-01-01") + pd.Timedelta(days=int(rng.integers(0, 7000)))
    if freq in ("h", "15min"):
        start += pd.Timedelta(hours=int(rng.integers(0, 24)))
    ds = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": rng.gamma(2.0, 10.0, n) + np.sin(np.arange(n))})


def integer_series(rng: np.random.Generator, uid: str, n: int, step: int) -> pd.DataFrame:
    start = int(rng.integers(-50, 500))
    return pd.DataFrame({"unique_id": uid, "ds": start + step * np.arange(n), "y": rng.gamma(2.0, 10.0, n)})


def random_panel(rng: np.random.Generator, n: int, *, dated: bool, shortest: int, longest: int) -> pd.DataFrame:
    """Series of mixed steps and unequal lengths, ids shuffled, so the frame's order is not the sorted one."""
    parts = []
    for i in rng.permutation(n):
        length = int(rng.integers(shortest, longest + 1))
        if dated:
            parts.append(dated_series(rng, f"s{i:03d}", length, str(rng.choice(DATE_STEPS))))
        else:
            parts.append(integer_series(rng, f"s{i:03d}", length, int(rng.choice([1, 2, 7, 12]))))
    return pd.concat(parts, ignore_index=True)


def fitted_scaler(history: pd.DataFrame, **options) -> Scaler:
    train = {str(uid): g["y"].to_numpy("float64")[: max(2, len(g) // 2)] for uid, g in history.groupby("unique_id")}
    return Scaler.fit(options.pop("method", "standard"), train, **options)


class Recording:
    """A fake network whose output depends on every input channel, so recursion and covariates show."""

    def __init__(self, horizon: int) -> None:
        self.horizon, self.calls = horizon, []

    def __call__(self, X: np.ndarray) -> np.ndarray:
        self.calls.append(X.copy())
        level = np.tanh(X[:, -3:, 0].mean(axis=1)) + 0.1 * X[:, :, 1:].sum(axis=(1, 2))
        return level[:, np.newaxis] * np.linspace(0.5, 1.5, self.horizon)


def assert_same_forecasts(history, lookback, model_horizon, horizon, scaler) -> None:
    new, old = Recording(model_horizon), Recording(model_horizon)
    got = forecast(new, history, lookback=lookback, model_horizon=model_horizon, horizon=horizon, scaler=scaler)
    want = reference_forecast(
        old, history, lookback=lookback, model_horizon=model_horizon, horizon=horizon, scaler=scaler
    )
    assert list(got.columns) == list(want.columns)
    assert got["unique_id"].tolist() == want["unique_id"].tolist()
    assert got["ds"].dtype == want["ds"].dtype
    assert got["ds"].tolist() == want["ds"].tolist()
    np.testing.assert_allclose(got["yhat"], want["yhat"], rtol=1e-9, atol=1e-9)
    assert len(new.calls) == len(old.calls)
    for X_new, X_old in zip(new.calls, old.calls, strict=True):
        np.testing.assert_allclose(X_new, X_old, rtol=1e-6, atol=1e-6)  # float32 inputs


# --- forecasts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("anchor", ["none", "last", "mean", "trend", "season"])
@pytest.mark.parametrize("transform", ["none", "log"])
@pytest.mark.parametrize("covariates", [(), ("month", "dayofweek", "hour")])
def test_forecasts_match_the_per_series_loop_on_mixed_dated_panels(anchor, transform, covariates):
    rng = np.random.default_rng(sum(map(ord, f"{anchor}{transform}{covariates}")))
    history = random_panel(rng, 14, dated=True, shortest=8, longest=230)
    scaler = fitted_scaler(history, value_transform=transform, covariates=covariates, anchor=anchor, anchor_period=4)
    assert_same_forecasts(history, lookback=6, model_horizon=4, horizon=11, scaler=scaler)


@pytest.mark.parametrize("anchor", ["none", "last", "trend", "season"])
@pytest.mark.parametrize("transform", ["none", "log"])
def test_forecasts_match_the_per_series_loop_with_a_seasonal_part(anchor, transform):
    # Season 4: series of 8 points or more get an STL fit, shorter ones none (lookback 5).
    rng = np.random.default_rng(7 + len(anchor) + len(transform))
    history = random_panel(rng, 10, dated=True, shortest=5, longest=40)
    scaler = fitted_scaler(history, value_transform=transform, anchor=anchor, season_length=4, anchor_period=4)
    assert_same_forecasts(history, lookback=5, model_horizon=3, horizon=7, scaler=scaler)


@pytest.mark.parametrize("anchor", ["none", "last", "mean", "trend"])
@pytest.mark.parametrize("season_length", [1, 3])
def test_forecasts_match_the_per_series_loop_on_integer_steps(anchor, season_length):
    rng = np.random.default_rng(11 + season_length)
    history = random_panel(rng, 12, dated=False, shortest=4, longest=240)
    scaler = fitted_scaler(history, method="minmax", anchor=anchor, season_length=season_length)
    assert_same_forecasts(history, lookback=4, model_horizon=2, horizon=5, scaler=scaler)


def test_latest_windows_match_the_per_series_loop():
    rng = np.random.default_rng(3)
    history = random_panel(rng, 20, dated=True, shortest=6, longest=300)
    scaler = fitted_scaler(history, value_transform="log", season_length=3)
    uids, values, dates, cycles, last_ds, steps = reference_latest_windows(history, 6, scaler)
    panel = Panel(history)
    latest = _latest_windows(panel, 6, scaler)
    assert panel.uids.tolist() == uids.tolist()
    np.testing.assert_allclose(latest.values, values, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(latest.dates, dates)
    np.testing.assert_allclose(latest.cycles, cycles, rtol=1e-12, atol=1e-12)
    assert panel.steps.tolist() == steps
    future = np.stack([reference_future(last, step, 9) for last, step in zip(last_ds, steps, strict=True)])
    assert panel.future(9).dtype == future.dtype
    np.testing.assert_array_equal(panel.future(9), future)


def test_rows_within_a_series_keep_the_frame_order_as_groupby_does():
    # forecast does not sort: a series given out of time order is read in the order given, as before.
    rng = np.random.default_rng(5)
    history = random_panel(rng, 6, dated=True, shortest=10, longest=30)
    shuffled = history[history["unique_id"] == history["unique_id"].iloc[0]].sample(frac=1.0, random_state=1)
    history = pd.concat([history[history["unique_id"] != shuffled["unique_id"].iloc[0]], shuffled])
    assert_same_forecasts(history, lookback=4, model_horizon=2, horizon=3, scaler=fitted_scaler(history))


def test_integer_and_categorical_ids_sort_and_name_series_as_groupby_does():
    rng = np.random.default_rng(9)
    history = random_panel(rng, 8, dated=False, shortest=5, longest=20)
    ids = history["unique_id"].str[1:].astype(int) * 7 % 50  # integers whose text order is not theirs
    assert_same_forecasts(history.assign(unique_id=ids), 4, 2, 3, fitted_scaler(history.assign(unique_id=ids)))
    categories = [*sorted(history["unique_id"].unique(), reverse=True), "unseen"]
    categorical = history.assign(unique_id=pd.Categorical(history["unique_id"], categories=categories))
    assert_same_forecasts(categorical, 4, 2, 3, fitted_scaler(history))


def test_members_on_one_panel_share_the_seasonal_fit(monkeypatch):
    import lstm_pipeline.forecasting as forecasting

    fits = []
    real = forecasting.seasonal_component
    monkeypatch.setattr(forecasting, "seasonal_component", lambda z, m: fits.append(m) or real(z, m))
    rng = np.random.default_rng(2)
    history = random_panel(rng, 5, dated=True, shortest=12, longest=20)
    panel = Panel(history)
    for anchor in ("none", "last", "trend"):  # three members deseasonalising with one season
        forecast(Recording(2), panel, lookback=4, model_horizon=2, horizon=2, scaler=fitted_scaler(
            history, anchor=anchor, season_length=3))  # fmt: skip
    assert len(fits) == 5  # once per series, not once per series and member


def test_members_with_other_transforms_or_lookbacks_on_one_panel_get_their_own_inputs():
    rng = np.random.default_rng(12)
    history = random_panel(rng, 6, dated=True, shortest=12, longest=30)
    panel = Panel(history)
    for transform, lookback in (("none", 4), ("log", 4), ("log", 6), ("none", 6)):
        scaler = fitted_scaler(history, value_transform=transform, season_length=3, anchor="last")
        got = forecast(Recording(2), panel, lookback=lookback, model_horizon=2, horizon=3, scaler=scaler)
        want = reference_forecast(Recording(2), history, lookback=lookback, model_horizon=2, horizon=3, scaler=scaler)
        np.testing.assert_allclose(got["yhat"], want["yhat"], rtol=1e-9, atol=1e-9)


# --- steps and future timestamps ----------------------------------------------------------------


def tricky_runs() -> list[pd.Series]:
    """Timestamps where pandas' inferred frequency turns on the calendar, not only on the steps."""
    d = pd.to_datetime
    runs = [
        d(["2021-07-01", "2021-08-01", "2021-09-01"]),  # 31-day steps that are month starts: MS, not 31D
        d(["2021-01-05", "2021-02-05", "2021-03-08"]),  # 31-day steps that are not: 31D
        d(["2001-01-01", "2002-01-01", "2003-01-01", "2004-01-01"]),  # 365-day steps, year starts
        d(["2022-01-01", "2022-01-03", "2022-01-05"]),  # a Saturday the 1st, then Monday the 3rd
        d(["2024-01-29", "2024-01-31", "2024-02-02"]),
        d(["2024-01-01", "2024-01-02"]),  # two points: the step itself
        d(["2024-01-01", "2024-01-01", "2024-01-02"]),  # a repeated timestamp
        d(["2024-01-03", "2024-01-02", "2024-01-01"]),  # decreasing
        d(["2024-01-01", "2024-01-02", "2024-01-04", "2024-01-05"]),  # a gap: the commonest step
        d(["2024-01-01 00:00", "2024-01-01 00:10", "2024-01-01 00:25", "2024-01-01 00:35"]),
        d(["2024-01-01 09:00", "2024-01-01 10:00", "2024-01-02 03:00", "2024-01-02 04:00"]),  # business hours
        pd.date_range("2024-01-01", periods=30, freq="WOM-2TUE"),
        pd.date_range("2024-01-05", periods=30, freq="B"),
        pd.date_range("2023-11-30", periods=30, freq="BME"),
        pd.date_range("2023-12-01", periods=10, freq="QS-OCT"),
        pd.date_range("2023-12-31", periods=10, freq="QE-DEC"),
        pd.date_range("2000-02-29", periods=6, freq="YE-FEB"),
        pd.date_range("2000-03-01", periods=6, freq="12MS"),
        pd.date_range("2024-01-01 06:00", periods=5, freq="MS"),  # month starts at 6 a.m.
        pd.date_range("2024-01-01", periods=250, freq="D"),  # only the latest 200 count
        pd.DatetimeIndex(
            [*pd.date_range("2020-01-01", periods=150, freq="D"), *pd.date_range("2021-01-01", periods=120, freq="W")]
        ),
    ]
    runs += [pd.date_range(f"2024-01-0{day}", periods=n, freq=step) for day in range(1, 8)
             for step, n in (("7D", 5), ("14D", 4), ("W-WED", 6), ("D", 3), ("25D", 3), ("26D", 3))]  # fmt: skip
    monthly = (("MS", 3), ("2MS", 4), ("3MS", 3), ("6MS", 3), ("ME", 3), ("12ME", 3), ("SMS", 5))
    runs += [pd.date_range(f"2023-{month:02d}-01", periods=n, freq=step) for month in range(1, 13)
             for step, n in monthly]  # fmt: skip
    return [pd.Series(run) for run in runs]


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_steps_and_future_timestamps_match_per_series_inference(unit, tz):
    runs = tricky_runs()
    rng = np.random.default_rng(1)
    runs += [pd.Series(dated_series(rng, "x", int(rng.integers(2, 40)), str(rng.choice(DATE_STEPS)))["ds"])
             for _ in range(80)]  # fmt: skip
    frame = pd.concat(
        [pd.DataFrame({"unique_id": f"r{i:03d}", "ds": run, "y": 1.0}) for i, run in enumerate(runs)],
        ignore_index=True,
    )
    ds = frame["ds"].dt.as_unit(unit)
    frame["ds"] = ds if tz is None else ds.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    if tz is not None:  # a timestamp DST makes ambiguous is left out
        frame = frame[frame["ds"].notna()].reset_index(drop=True)
    groups = [g for _, g in frame.groupby("unique_id", sort=True)["ds"]]
    panel = Panel(frame)
    assert panel.steps.tolist() == [reference_series_step(g) for g in groups]
    valid = [i for i, g in enumerate(groups) if reference_series_step(g) != "1"]  # "1" on timestamps fails
    future = future_timestamps(frame[frame["unique_id"].isin(panel.uids[valid])], 5)
    expected = np.stack([reference_future(groups[i].iloc[-1], reference_series_step(groups[i]), 5) for i in valid])
    assert future.dtype == expected.dtype
    assert future.tolist() == expected.tolist()


def test_integer_steps_are_the_commonest_positive_difference_of_the_latest_200():
    runs = [[0, 1], [5], [3, 3, 3], [9, 7, 5], [0, 2, 4, 5, 6, 8], [0, 3, 6, 7, 8], [*range(0, 600, 2), 601]]
    runs += [[*range(0, 260), *range(300, 3300, 3)]]
    runs += [[0, 2, 4, 5, 6], [0, 5, 10, 12, 14, 19]]  # ties: the smallest of the commonest steps wins
    frame = pd.concat(
        [
            pd.DataFrame({"unique_id": f"r{i}", "ds": np.asarray(run, dtype="int64"), "y": 0.0})
            for i, run in enumerate(runs)
        ]
    )
    groups = [g for _, g in frame.groupby("unique_id", sort=True)["ds"]]
    assert Panel(frame).steps.tolist() == [reference_series_step(g) for g in groups]
    counts = np.array([len(g) for g in groups])
    got = run_frequencies(pd.concat(groups, ignore_index=True), counts)
    assert got.tolist() == [series_frequency(g) for g in groups]


def test_the_fallback_model_gets_the_same_future_timestamps():
    rng = np.random.default_rng(4)
    history = random_panel(rng, 15, dated=True, shortest=3, longest=60)
    expected = np.concatenate(
        [reference_future(g.iloc[-1], reference_series_step(g), 6) for _, g in history.groupby("unique_id")["ds"]]
    )
    np.testing.assert_array_equal(future_timestamps(history, 6).reshape(-1), expected)


# --- errors -------------------------------------------------------------------------------------


def message(call) -> str:
    with pytest.raises(DataValidationError) as caught:
        call()
    return str(caught.value)


def both_messages(history, scaler, lookback=4) -> tuple[str, str]:
    def new():
        return forecast(Recording(1), history, lookback=lookback, model_horizon=1, horizon=1, scaler=scaler)

    def old():
        return reference_forecast(Recording(1), history, lookback=lookback, model_horizon=1, horizon=1, scaler=scaler)

    return message(new), message(old)


def test_too_short_unknown_and_log_refusals_match_the_loop_in_series_order():
    rng = np.random.default_rng(6)
    base = random_panel(rng, 6, dated=True, shortest=6, longest=12)
    uids = sorted(base["unique_id"].unique())
    short = base[~((base["unique_id"] == uids[2]) & (base.groupby("unique_id").cumcount() > 1))]
    negative = base.assign(y=np.where(base["unique_id"] == uids[1], -5.0, base["y"]))
    known = {uid: np.ones(3) for uid in uids if uid != uids[3]}
    cases = [
        (short, Scaler.fit("standard", {uid: np.ones(3) for uid in uids})),  # the short one
        (short, Scaler.fit("standard", known)),  # short comes first in order, before the unknown one
        (base, Scaler.fit("standard", known)),  # unknown
        (negative, Scaler.fit("standard", known, value_transform="log")),  # log first in order
        (negative.assign(y=-5.0), Scaler.fit("standard", {}, value_transform="log")),  # unknown before log
    ]
    for history, scaler in cases:
        new, old = both_messages(history, scaler)
        assert new == old


def test_too_short_refusal_names_integer_ids_as_groupby_does():
    frame = pd.DataFrame({"unique_id": [7, 7, 7, 3], "ds": [0, 1, 2, 0], "y": 1.0})
    new, old = both_messages(frame, Scaler.fit("none", {"7": np.ones(2), "3": np.ones(2)}), lookback=2)
    assert new == old == "rule 'enough history': series 3 has 1 points; the model needs 2"


def test_gaps_are_refused_by_the_contract_and_not_by_the_forecast():
    # The regular-grid rules of check_series (the fallback model's guard; the GX suite's "no gaps")
    # refuse gaps; forecast itself steps by the commonest step, with or without the panel.
    rng = np.random.default_rng(8)
    history = random_panel(rng, 5, dated=True, shortest=12, longest=20)
    gappy = history.drop(index=[3, 4]).reset_index(drop=True)
    with pytest.raises(DataValidationError, match="no gaps"):
        check_series(gappy, min_length=2, regular=True)
    assert_same_forecasts(gappy, lookback=4, model_horizon=2, horizon=4, scaler=fitted_scaler(gappy))


# --- interval scales ----------------------------------------------------------------------------


@pytest.mark.parametrize("season_length", [1, 4, 12])
def test_history_scales_match_the_per_series_loop(season_length):
    rng = np.random.default_rng(season_length)
    history = random_panel(rng, 25, dated=False, shortest=1, longest=40)
    y = history["y"].to_numpy().copy()
    y[rng.choice(len(y), 5, replace=False)] = np.nan
    y[rng.choice(len(y), 3, replace=False)] = np.inf
    history = history.assign(y=y)
    constant = pd.DataFrame({"unique_id": "flat", "ds": np.arange(30), "y": 4.0})
    history = pd.concat([constant, history], ignore_index=True).sample(frac=1.0, random_state=0)
    got, want = history_scales(history, season_length), reference_history_scales(history, season_length)
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-12)
