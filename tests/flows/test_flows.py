"""The train and batch-forecast flows under Prefect (its temporary local server) on a temporary MLflow store."""

from __future__ import annotations

from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from flows.batch_forecast import batch_forecast
from flows.train import train
from lstm_pipeline.config import load_config
from lstm_pipeline.errors import DataSourceError, DataValidationError, ModelLoadError

pytestmark = pytest.mark.flows

TINY = {
    "model.units": [8],
    "train.epochs": 20,
    "train.ensemble": 1,
    "train.epochs_per_check": 5,
    "train.learning_rate": 0.01,
    "promotion.max_vs_seasonal_naive": 1000,  # tiny models may not beat seasonal naive; the gate has its own tests
}


def tiny(name: str, **more: object) -> dict[str, object]:
    return {**TINY, "tracking.experiment": name, "tracking.model_name": name, **more}


def runs_in(experiment: str) -> int:
    found = mlflow.MlflowClient().get_experiment_by_name(experiment)
    return 0 if found is None else len(mlflow.search_runs([found.experiment_id], output_format="list"))


def versions_of(name: str) -> int:
    return len(mlflow.MlflowClient().search_model_versions(f"name = '{name}'"))


def test_train_then_forecast_from_the_champion(pipeline_home):
    summary = train(config=load_config(None, tiny("loop")))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "20"
    assert run.data.params["window.lookback"] == "20"
    for name in ("test_mase", "test_naive_mase", "test_seasonal_naive_mase", "test_rmse", "test_smape"):
        assert name in run.data.metrics
    losses = client.get_metric_history(summary.run_id, "train_loss")
    assert [m.step for m in losses] == [5, 10, 15, 20]
    assert len(client.get_metric_history(summary.run_id, "val_loss")) == 4
    artifacts = {a.path for a in client.list_artifacts(summary.run_id, "plots")}
    assert artifacts == {"plots/loss.png", "plots/forecast_vs_actual.png"}
    assert run.inputs.dataset_inputs[0].dataset.digest
    assert run.data.tags["version.tensorflow"].startswith("2.")
    champion = client.get_model_version_by_alias("loop", "champion")
    assert champion.run_id == summary.run_id

    result = batch_forecast(model_name="loop", horizon=5)
    written = pd.read_parquet(result.path)
    assert list(written.columns) == ["unique_id", "ds", "yhat", "model_name", "model_version", "run_id"]
    assert list(written["ds"]) == [100, 101, 102, 103, 104]
    assert written["yhat"].between(-2, 2).all()
    assert set(written["model_version"]) == {str(champion.version)}
    assert set(written["run_id"]) == {summary.run_id}


def test_multi_series_hourly_data_from_a_csv(pipeline_home, tmp_path):
    from lstm_pipeline.sources import synthetic_panel

    panel = synthetic_panel(n_series=2, n_points=150, season_length=24, seed=1)
    panel.rename(columns={"unique_id": "store", "ds": "timestamp", "y": "sales"}).to_csv(
        tmp_path / "s.csv", index=False
    )
    mapping = {"source.id_col": "store", "source.time_col": "timestamp", "source.value_col": "sales"}
    windows = {
        "window.lookback": 24,
        "window.horizon": 6,
        "window.val_size": 12,
        "window.test_size": 12,
        "evaluate.season_length": 24,
    }
    train(config=load_config(None, tiny("panel", **mapping, **windows)), data=str(tmp_path / "s.csv"))
    result = batch_forecast(
        model_name="panel", horizon=12, config=load_config(None, mapping), data=str(tmp_path / "s.csv")
    )
    written = pd.read_parquet(result.path)
    assert len(written) == 24 and result.series == 2
    first = written[written["unique_id"] == "series_0"]["ds"]
    assert first.iloc[0] == panel["ds"].max() + pd.Timedelta(hours=1)
    assert (first.diff().dropna() == pd.Timedelta(hours=1)).all()


def test_bad_file_leaves_no_run_no_model_no_output(pipeline_home, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("unique_id,ds,value\na,1,1.0\n")
    with pytest.raises(DataSourceError, match="missing column"):
        train(config=load_config(None, tiny("badfile")), data=str(bad))
    assert runs_in("badfile") == 0 and versions_of("badfile") == 0
    with pytest.raises(DataSourceError, match="missing column"):
        batch_forecast(model_name="loop", data=str(bad))
    assert not list((pipeline_home / "outputs" / "forecasts").glob("store=*/badfile"))


def test_short_or_broken_series_are_refused_before_training(pipeline_home, tmp_path):
    short = tmp_path / "short.csv"
    pd.DataFrame({"unique_id": "a", "ds": range(15), "y": 1.0}).to_csv(short, index=False)
    why = r"window.lookback 2 \+ window.horizon 10 \+ window.val_size 0 \+ window.test_size 10"
    with pytest.raises(DataValidationError, match=rf"enough history \(at least 22 points per series: {why}\)"):
        train(config=load_config(None, tiny("short")), data=str(short))
    holed = tmp_path / "nan.csv"
    pd.DataFrame({"unique_id": "a", "ds": range(100), "y": [float("nan")] + [1.0] * 99}).to_csv(holed, index=False)
    with pytest.raises(DataValidationError, match=r"y not null \(no NaN\)': 1 of 100 rows"):
        train(config=load_config(None, tiny("short")), data=str(holed))
    assert versions_of("short") == 0
    experiment = mlflow.MlflowClient().get_experiment_by_name("short").experiment_id
    runs = mlflow.search_runs([experiment], output_format="list")
    assert [r.info.status for r in runs] == ["FAILED", "FAILED"]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(runs[0].info.run_id, "validation")}
    assert {"validation/gx_result.json", "validation/summary.md", "validation/data_docs"} <= artifacts


def test_forecast_without_a_registered_model(pipeline_home):
    with pytest.raises(ModelLoadError, match="no model 'nobody'"):
        batch_forecast(model_name="nobody")


def latest_artifact(key: str, *, flow_run: bool = False) -> Any:
    """The newest Prefect artifact under `key`: its text, or (text, flow-run id)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC, limit=1
        )
    return (str(found[0].data), str(found[0].flow_run_id)) if flow_run else str(found[0].data)


def test_the_flow_run_and_the_mlflow_run_link_each_other(pipeline_home):
    summary = train(config=load_config(None, tiny("linked")))
    text, flow_run_id = latest_artifact("train-summary", flow_run=True)
    assert summary.run_id in text
    assert "registered `linked` version 1 -> @champion" in text
    assert f"test MASE {summary.metrics['test_mase']:.3f}  (naive" in text
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.data.tags["prefect.flow_run_id"] == flow_run_id


def test_runs_and_versions_are_named_and_described_for_the_mlflow_ui(pipeline_home):
    summary = train(config=load_config(None, tiny("described")))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.info.run_name == "train-sine"
    note = run.data.tags["mlflow.note.content"]
    assert "Trained on sine: 1 series, 100 points" in note
    assert f"Test MASE on the last 10 points: {summary.metrics['test_mase']:.3f}  (naive" in note
    assert note.endswith(f"Gate: version 1 -> @champion: {summary.decision.reason}.")
    version = client.get_model_version("described", "1")
    assert version.description == f"@champion: {summary.decision.reason}."


def test_a_file_with_only_a_header_is_refused_by_the_contract_not_a_crash(pipeline_home, tmp_path):
    (tmp_path / "header.csv").write_text("unique_id,ds,y\n")
    with pytest.raises(DataValidationError, match="at least one series"):
        train(config=load_config(None, tiny("header-only")), data=str(tmp_path / "header.csv"))


def test_a_file_out_of_time_order_is_refused_until_the_sort_repair_is_asked_for(pipeline_home, tmp_path):
    from lstm_pipeline.sources import seed_sine

    seed_sine().iloc[::-1].to_csv(tmp_path / "newest_first.csv", index=False)
    with pytest.raises(DataValidationError, match=r"(?s)ds strictly increasing.*validation\.repair\.sort=true"):
        train(config=load_config(None, tiny("unsorted")), data=str(tmp_path / "newest_first.csv"))
    assert mlflow.MlflowClient().search_model_versions("name = 'unsorted'") == []


def test_repairs_are_logged_and_the_report_rides_with_the_run(pipeline_home, tmp_path):
    from lstm_pipeline.sources import seed_sine

    messy = pd.concat([seed_sine(), seed_sine().iloc[[10, 20]]]).sample(frac=1.0, random_state=0)
    messy.to_csv(tmp_path / "messy.csv", index=False)
    repairs = {"validation.repair.sort": True, "validation.repair.drop_duplicates": True}
    summary = train(config=load_config(None, tiny("repaired", **repairs)), data=str(tmp_path / "messy.csv"))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert "drop_duplicates: 2 rows" in run.data.tags["data.repairs"]
    assert "sort: " in run.data.tags["data.repairs"]  # the file's shuffled order, put right and said so
    assert run.data.metrics["repair_drop_duplicates_rows"] == 2
    validation = {a.path for a in client.list_artifacts(summary.run_id, "validation")}
    assert validation == {f"validation/{name}" for name in ("gx_result.json", "summary.md", "summary.json")}  # no Docs
    assert "Data validation (training): passed" in latest_artifact("data-validation-training")


def test_forecast_data_is_checked_against_the_model(pipeline_home, tmp_path):
    from lstm_pipeline.sources import seed_sine

    train(config=load_config(None, tiny("gate")))
    stranger = pd.concat([seed_sine(), seed_sine().assign(unique_id="stranger")], ignore_index=True)
    stranger.to_csv(tmp_path / "stranger.csv", index=False)
    with pytest.raises(DataValidationError, match=r"rule 'known series \(seen in training\)': 100 of 200 rows"):
        batch_forecast(model_name="gate", data=str(tmp_path / "stranger.csv"))
    assert not list((pipeline_home / "outputs" / "forecasts").glob("store=*/gate"))
    assert "Data validation (forecast): FAILED" in latest_artifact("data-validation-forecast")
    failed = mlflow.search_runs(
        [mlflow.MlflowClient().get_experiment_by_name("gate").experiment_id],
        filter_string="tags.stage = 'forecast'",
        output_format="list",
    )
    assert [r.info.status for r in failed] == ["FAILED"]

    skipped = batch_forecast(
        model_name="gate",
        data=str(tmp_path / "stranger.csv"),
        config=load_config(None, {"forecast.unknown_series": "skip"}),
    )
    assert set(pd.read_parquet(skipped.path)["unique_id"]) == {"sine"}


def test_a_constant_series_forecasts_its_constant(pipeline_home, tmp_path):
    pd.DataFrame({"unique_id": "flat", "ds": range(100), "y": 5.0}).to_csv(tmp_path / "flat.csv", index=False)
    summary = train(config=load_config(None, tiny("flat")), data=str(tmp_path / "flat.csv"))
    assert not summary.decision.promote  # MASE is undefined on a flat series: the gate cannot promote
    result = batch_forecast(model_name="flat", alias="1", data=str(tmp_path / "flat.csv"), horizon=5)
    assert pd.read_parquet(result.path)["yhat"].between(4.9, 5.1).all()


def test_the_same_forecast_slot_twice_gives_one_identical_output(pipeline_home, tmp_path, monkeypatch):
    from lstm_pipeline.forecasting import store_id
    from lstm_pipeline.store import tracking_uri

    train(config=load_config(None, tiny("slots")))
    monkeypatch.setenv("LSTM_PIPELINE_OUTPUT_ROOT", str(tmp_path))  # the operator allows a root outside the home
    first = batch_forecast(model_name="slots", horizon=3, as_of="2026-01-05", output_dir=str(tmp_path / "out"))
    store = f"store={store_id(tracking_uri())}"
    slot = tmp_path / "out" / store / "slots" / "version=1" / "as_of=2026-01-05" / "forecasts.parquet"
    content = slot.read_bytes()
    again = batch_forecast(model_name="slots", horizon=3, as_of="2026-01-05", output_dir=str(tmp_path / "out"))
    assert again.path == first.path == str(slot)
    written = sorted(p.name for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert written == ["forecasts.parquet", "forecasts.png"]
    assert slot.read_bytes() == content
    summary = latest_artifact("batch-forecast")
    assert "slots` version 1" in summary and "as of 2026-01-05" in summary
    assert first.model.run_id in summary


def test_outputs_outside_the_home_are_refused_before_any_work(pipeline_home, tmp_path):
    from lstm_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="outside the project home"):
        batch_forecast(model_name="slots", output_dir=str(tmp_path / "escape"))
    with pytest.raises(ConfigError, match=r"validation\.report_dir '\.\./\.\./x' resolves to"):
        train(config=load_config(None, tiny("escape", **{"validation.report_dir": "../../x"})))
    assert not (tmp_path / "escape").exists() and runs_in("escape") == 0


def test_a_slot_of_another_store_or_model_is_never_overwritten(pipeline_home):
    from lstm_pipeline.errors import OutputConflictError

    train(config=load_config(None, tiny("clash")))
    mine = batch_forecast(model_name="clash", horizon=2, as_of="2026-02-01")
    assert f"store={mine.path.split('store=')[1].split('/')[0]}" in mine.path
    pd.read_parquet(mine.path).assign(run_id="another-run").to_parquet(mine.path)  # as a recreated store leaves it
    before = pd.read_parquet(mine.path)
    with pytest.raises(OutputConflictError, match="holds forecasts of training run"):
        batch_forecast(model_name="clash", horizon=2, as_of="2026-02-01")
    pd.testing.assert_frame_equal(pd.read_parquet(mine.path), before)


def daily_sine(path, days: int = 120):
    from lstm_pipeline.sources import seed_sine

    frame = seed_sine(n_points=days).assign(ds=pd.date_range("2025-03-02", periods=days, freq="D"))
    frame.to_csv(path, index=False)
    return frame


def test_as_of_cuts_the_history_so_a_backfill_forecasts_what_was_known_then(pipeline_home, tmp_path):
    daily_sine(tmp_path / "daily.csv")  # 2025-03-02 .. 2025-06-29
    train(config=load_config(None, tiny("backfill", **{"evaluate.season_length": 7})), data=str(tmp_path / "daily.csv"))
    then = batch_forecast(model_name="backfill", data=str(tmp_path / "daily.csv"), horizon=3, as_of="2025-05-01")
    assert list(pd.read_parquet(then.path)["ds"]) == list(pd.date_range("2025-05-02", periods=3, freq="D"))
    assert "as_of=2025-05-01" in then.path
    now = batch_forecast(model_name="backfill", data=str(tmp_path / "daily.csv"), horizon=3)
    assert pd.read_parquet(now.path)["ds"].iloc[0] == pd.Timestamp("2025-06-30")


def test_a_deployment_run_takes_its_slot_from_the_scheduled_start_not_the_clock(monkeypatch):
    from prefect.runtime import deployment, flow_run

    from flows.batch_forecast import as_of_slot

    monkeypatch.setattr(deployment, "id", "a-deployment", raising=False)
    monkeypatch.setattr(flow_run, "scheduled_start_time", pd.Timestamp("2026-03-02T05:00", tz="UTC"), raising=False)
    slot, cutoff = as_of_slot(None)
    assert slot == "2026-03-02" and cutoff == pd.Timestamp("2026-03-02T05:00", tz="UTC")
    assert as_of_slot("2025-05-01") == ("2025-05-01", pd.Timestamp("2025-05-01"))


def test_a_bad_as_of_date_is_refused(pipeline_home):
    from lstm_pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="not a date"):
        batch_forecast(model_name="slots", as_of="yesterday")


def test_auto_selects_by_backtest_ensembles_the_best_and_logs_every_candidate(pipeline_home, tmp_path):
    """`train --auto` on a small monthly file: candidates as child runs, an ensemble of the best, refit."""
    path = tmp_path / "monthly.csv"
    months = pd.date_range("2015-01-01", periods=72, freq="MS")
    y = 100 + 20 * np.sin(2 * np.pi * np.arange(72) / 12) + np.arange(72)
    pd.DataFrame({"unique_id": "shop", "ds": months, "y": y}).to_csv(path, index=False)
    settings = {**tiny("auto"), "auto.enabled": True, "auto.windows": 1, "auto.top": 2, "auto.seeds": 2}
    settings["window.horizon"] = 6
    summary = train(config=load_config(None, settings), data=str(path))
    client = mlflow.MlflowClient()
    run = client.get_run(summary.run_id)
    assert run.data.metrics["ensemble_members"] == 4  # the 2 best candidates x 2 seeds
    assert {"test_mase", "test_seasonal_naive_mase", "test_AutoETS_mase", "backtest_mase"} <= set(run.data.metrics)
    children = mlflow.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{summary.run_id}'", output_format="list"
    )
    assert len(children) == 12  # 6 shapes x 2 transforms x 1 lookback (12 = a season = 2 horizons)
    assert all("backtest_mase" in c.data.metrics for c in children)
    ranks = sorted(children, key=lambda c: int(c.data.tags["auto.rank"]))
    assert ranks[0].data.metrics["backtest_mase"] <= ranks[-1].data.metrics["backtest_mase"]
    forecasts = pd.read_parquet(batch_forecast(model_name="auto", horizon=6, data=str(path)).path)
    assert len(forecasts) == 6 and np.isfinite(forecasts["yhat"]).all()


def test_forecast_without_a_champion_names_the_challenger(pipeline_home):
    train(
        config=load_config(None, tiny("refused", **{"promotion.max_vs_seasonal_naive": 1e-9}))
    )  # the gate refuses: @challenger only
    hint = r"version 1 is @challenger: forecast with --alias challenger \(or a version number"
    with pytest.raises(ModelLoadError, match=hint):
        batch_forecast(model_name="refused")


def test_a_diverged_network_is_never_registered(pipeline_home):
    from lstm_pipeline.errors import TrainingDivergedError

    with pytest.raises(TrainingDivergedError, match="non-finite weights"):
        train(config=load_config(None, tiny("diverged", **{"train.learning_rate": 1e30, "window.scaling": "none"})))
    assert versions_of("diverged") == 0
    experiment = mlflow.MlflowClient().get_experiment_by_name("diverged").experiment_id
    [run] = mlflow.search_runs([experiment], output_format="list")
    assert run.info.status == "FAILED" and run.data.tags["failure"] == "training diverged"
