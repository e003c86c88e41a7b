"""The hourly steps against the local stack: BigQuery emulator tables of the contract shape, GCS emulator."""

from __future__ import annotations

from datetime import UTC, timedelta

import pandas as pd
import pytest
from google.cloud import bigquery

from include.gcp import bucket, clients, feature_runs, hour_rows, paths
from include.gcp.tables import STATION_PREDICTIONS, STATION_PREDICTIONS_BACKFILL
from include.ml import baselines, dataset, hourly, predictions, registry, served
from include.ml.model import StationFlowModel
from tests.ml import planting
from tests.ml.conftest import START, STATIONS

pytestmark = pytest.mark.integration

WEEKS = 3
CUTOFF = START + timedelta(hours=WEEKS * 168)  # the last as_of with features; labels end an hour before
CONFIG = hourly.TrainConfig(window_weeks=2, validation_days=7, params={"max_iter": 60, "random_state": 0})


def _run(cutoff, settings, config=CONFIG) -> tuple[hourly.Evaluation, hourly.Publication, str | None]:
    evaluation = hourly.train_and_evaluate(cutoff, config, settings)
    published = hourly.publish(cutoff, evaluation, config, settings)
    rows = hourly.predict(cutoff, published.serving_version, settings)
    return evaluation, published, hourly.write_predictions(cutoff, published.serving_version, rows, settings)


def test_training_frame_is_point_in_time(feature_store) -> None:
    settings, labels, _ = feature_store("lagged", WEEKS)
    window = dataset.Window.before(CUTOFF, 2)
    frame = dataset.training_frame(window, settings)
    assert (frame["as_of"] <= frame["hour_start"]).all()  # a feature row never post-dates its label hour
    assert frame["hour_start"].min() == window.start
    assert frame["hour_start"].max() == window.end - timedelta(hours=1)
    assert len(frame) == len(STATIONS) * 2 * 168  # full hours only, one row per station and label hour
    assert "as_of" not in dataset.feature_columns(frame)
    assert "net_change" not in dataset.feature_columns(frame)
    # the 1-hour trailing pickups are those of the hour before the label, never of the label hour itself
    before = labels.assign(hour_start=labels["hour_start"] + timedelta(hours=1)).set_index(["station_id", "hour_start"])
    expected = before["pickups"].reindex(pd.MultiIndex.from_frame(frame[["station_id", "hour_start"]])).to_numpy()
    assert (frame["pickup_count_1h"].to_numpy() == expected).all()
    assert dataset.features_ready(window.end, settings)
    assert not dataset.features_ready(window.end + timedelta(hours=1), settings)


def test_features_ready_waits_for_the_feature_store_runs_to_verify(feature_store) -> None:
    """Rows and labels are there either way; a features run that is building (or whose dbt test failed)
    holds the sensor until a run of the same or a newer as_of verifies."""
    settings, _, _ = feature_store("lagged", WEEKS)
    assert dataset.features_ready(CUTOFF, settings)
    feature_runs.mark_building("tests.ml.failing_run", CUTOFF, settings)
    try:
        assert not dataset.features_ready(CUTOFF, settings)
        assert not dataset.features_ready(CUTOFF - timedelta(hours=1), settings)
    finally:  # the module's other tests share these tables: a run of the same as_of passes
        feature_runs.mark_verified("tests.ml.next_run", CUTOFF, settings)
    assert dataset.features_ready(CUTOFF, settings)


def test_a_good_model_is_promoted_and_a_rerun_replaces_not_adds(feature_store) -> None:
    settings, _, _ = feature_store("lagged", WEEKS)
    _, published, uri = _run(CUTOFF, settings)
    version = registry.version_for(CUTOFF)
    assert published == hourly.Publication(version=version, promoted=True, serving_version=version)
    meta = registry.read_metadata(version, settings)
    assert meta["promoted"] is True
    assert meta["metrics"]["model"]["mae"] < min(meta["metrics"][k]["mae"] for k in baselines.BASELINES)
    assert meta["rows"]["validation"] == len(STATIONS) * 7 * 24
    assert meta["point_forecasts"]["predicted_net_change"] in ("mean", "median")
    # MAE is scored on the net_change column, RMSE on the mean column, and the metadata says so
    assert meta["point_forecasts"]["predicted_net_change_mean"] == "mean"
    assert meta["scored_columns"] == {"mae": "predicted_net_change", "rmse": "predicted_net_change_mean"}
    assert meta["metrics"]["model"]["mae"] == meta["metrics"]["model_net_change_column"]["mae"]
    assert meta["metrics"]["model"]["rmse"] == meta["metrics"]["model_net_change_mean_column"]["rmse"]
    assert {"features", "training_window", "package_versions", "cutoff_hour", "trained_at"} <= set(meta)
    assert registry.latest(settings)["model_version"] == version
    assert bucket.exists(registry.plot_path(settings.system_root, version), settings)
    assert bucket.read_bytes(registry.plot_path(settings.system_root, version), settings)[:4] == b"\x89PNG"

    assert meta["config"]["horizons"] == 3
    for k in (1, 2, 3):  # each horizon's count MAE beside a naive rate's, on the validation days
        assert {f"h{k}_pickups_mae", f"h{k}_dropoffs_naive_4w_mae"} <= set(meta["metrics"]["horizons"])
    target = CUTOFF
    rows = predictions.read(version, target, settings)  # one file per run, keyed by its cut-off
    assert [(r["horizon"], r["target_hour"]) for r in rows] == [
        (k, target + timedelta(hours=k - 1)) for k in (1, 2, 3) for _ in STATIONS
    ]
    for k in (1, 2, 3):
        assert sorted(r["station_id"] for r in rows if r["horizon"] == k) == sorted(STATIONS)
    assert all(r["predicted_pickups"] > 0 and r["predicted_dropoffs"] > 0 for r in rows)
    assert all(isinstance(r["predicted_net_change_mean"], float) for r in rows)
    assert [r["station_id"] for r in predictions.next_hour(rows)] == [r["station_id"] for r in rows[: len(STATIONS)]]
    assert uri.endswith(paths.predictions(settings.system_root, version, target))
    rates = served.rates_for_run(target, settings)  # the same rows in station_predictions, all horizons
    assert len(rates) == 3 * len(STATIONS)
    assert rates.groupby("station_id")["horizon"].apply(list).tolist() == [[1, 2, 3]] * len(STATIONS)
    written = {(r["station_id"], r["horizon"]): r["predicted_pickups"] for r in rows}
    assert {(r.station_id, r.horizon): r.predicted_pickups for r in rates.itertuples()} == pytest.approx(written)
    assert served.rows_for_hour(target, settings) == len(STATIONS)

    model_blob = (
        clients.storage_client(settings)
        .bucket(settings.bucket)
        .get_blob(paths.model_skops(settings.system_root, version))
    )
    before = bucket.list_paths(f"{settings.env}/", settings)
    served_file = bucket.read_bytes(paths.predictions(settings.system_root, version, target), settings)
    again = _run(CUTOFF, settings)
    assert again[0].reused is True  # a committed version is never retrained or rewritten
    assert again[1].serving_version == version  # the model that served the hour
    assert again[2].endswith(
        paths.predictions_backfill(settings.system_root, target)
    )  # the rerun: a backfill beside it
    backfill_file = paths.predictions_backfill(settings.system_root, target)
    assert set(bucket.list_paths(f"{settings.env}/", settings)) == {*before, backfill_file}  # nothing else added
    after_blob = clients.storage_client(settings).bucket(settings.bucket).get_blob(model_blob.name)
    assert after_blob.md5_hash == model_blob.md5_hash
    assert (
        bucket.read_bytes(paths.predictions(settings.system_root, version, target), settings) == served_file
    )  # as served
    assert len(predictions.read_backfill(target, settings)) == 3 * len(STATIONS)
    assert len(served.rates_for_run(target, settings)) == 3 * len(STATIONS)  # the served rows, not doubled


def test_a_run_whose_rows_never_landed_is_served_by_its_rerun_and_the_run_before_it_kept(feature_store) -> None:
    """Runs T-1h and T both forecast the hours T and T+1h. Run T's rows lost (a crash between its file and its
    rows: the hour served nothing), its rerun serves the hour, all three horizons, and run T-1h keeps its rows."""
    settings, _, _ = feature_store("lagged", WEEKS)
    before = CUTOFF - timedelta(hours=1)
    for cutoff in (before, CUTOFF):
        _run(cutoff, settings)
    earlier = served.rates_for_run(before, settings)
    assert len(earlier) == 3 * len(STATIONS)
    bq = clients.bigquery_client(settings)
    table = settings.table_id(STATION_PREDICTIONS)
    bq.query(f"DELETE FROM `{table}` WHERE {served.RUN_ROWS}", job_config=hour_rows.hour_param(CUTOFF)).result()
    assert served.rows_for_hour(CUTOFF, settings) == 0  # run T-1h's horizon 2 of the hour T does not count
    assert served.served_version(CUTOFF, settings) is None

    _run(CUTOFF, settings)  # the rerun
    assert served.rows_for_hour(CUTOFF, settings) == len(STATIONS)
    assert len(served.rates_for_run(CUTOFF, settings)) == 3 * len(STATIONS)
    pd.testing.assert_frame_equal(served.rates_for_run(before, settings), earlier)
    hours = [before + timedelta(hours=k) for k in range(4)]
    sql = f"SELECT target_hour, COUNT(*) AS n FROM `{table}` WHERE target_hour BETWEEN @first AND @last GROUP BY 1"
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("first", "TIMESTAMP", hours[0]),
            bigquery.ScalarQueryParameter("last", "TIMESTAMP", hours[-1]),
        ]
    )
    by_hour = {r["target_hour"].replace(tzinfo=UTC): r["n"] for r in bq.query(sql, job_config=config).result()}
    # hour T-1h: run T-1h's horizon 1; T and T+1h: one row of each run; T+2h: run T's horizon 3
    assert by_hour == {h: n * len(STATIONS) for h, n in zip(hours, [1, 2, 2, 1], strict=True)}


def test_a_rerun_of_a_served_hour_keeps_the_record_and_predicts_with_the_model_that_served(feature_store) -> None:
    """The hour T was served by an older model (the hour's own training was not there yet). A later run of T
    (a backfill) trains and promotes T's version, but predicts with the model that served T and writes its
    forecasts beside the served ones: station_predictions (what model_performance scores) keeps the same
    rows, values and model; the backfill is in station_predictions_backfill and predictions_backfill/."""
    settings, _, _ = feature_store("lagged", WEEKS)
    hour = CUTOFF - timedelta(hours=5)
    older = registry.version_for(hour - timedelta(hours=3))
    planting.commit_model(settings, older, planting.fitted_model())
    hourly.write_predictions(hour, older, hourly.predict(hour, older, settings), settings, run_id="scheduled__live")
    table = settings.table_id(STATION_PREDICTIONS)
    sql = f"SELECT * FROM `{table}` WHERE {served.RUN_ROWS} ORDER BY station_id, horizon"
    bq = clients.bigquery_client(settings)

    def record() -> pd.DataFrame:
        rows = bq.query(sql, job_config=hour_rows.hour_param(hour)).result()
        return rows.to_arrow(create_bqstorage_client=False).to_pandas()

    as_served = record()
    assert set(as_served["model_version"]) == {older}
    assert len(as_served) == 3 * len(STATIONS)
    served_file = bucket.read_bytes(paths.predictions(settings.system_root, older, hour), settings)

    evaluation, published, uri = _run(hour, settings)  # the backfill of the hour
    version = registry.version_for(hour)
    assert (evaluation.version, evaluation.reused, evaluation.promoted) == (version, False, True)
    assert registry.serving_version(version, settings) == version  # a newer model would serve the hour now...
    assert published.serving_version == older  # ...but the rerun predicts with the one that served it
    assert uri.endswith(paths.predictions_backfill(settings.system_root, hour))
    pd.testing.assert_frame_equal(record(), as_served)  # the served record: same rows, values and model
    assert bucket.read_bytes(paths.predictions(settings.system_root, older, hour), settings) == served_file
    assert not bucket.exists(paths.predictions(settings.system_root, version, hour), settings)
    backfill = bq.query(
        f"SELECT * FROM `{settings.table_id(STATION_PREDICTIONS_BACKFILL)}` WHERE {served.RUN_ROWS}",
        job_config=hour_rows.hour_param(hour),
    ).result()
    assert {(r["model_version"], r["run_id"]) for r in backfill} == {(older, None)}
    assert len(predictions.read_backfill(hour, settings)) == 3 * len(STATIONS)
    # what model_performance scores (int_served_vs_outcome: station_predictions, horizon 1): one forecast per
    # station of the hour, the served one
    assert served.rows_for_hour(hour, settings) == len(STATIONS)


def test_a_model_from_before_the_horizons_serves_the_next_hour_only(feature_store) -> None:
    """A committed model whose file predates the horizons (its state has no ``horizons``) keeps serving: its
    run writes horizon 1, the next hour, and nothing for hours +2 and +3."""
    settings, _, _ = feature_store("lagged", WEEKS)
    cutoff = CUTOFF - timedelta(hours=2)
    old = planting.fitted_model()
    for name in ("horizons", "ahead", "ahead_history"):
        vars(old).pop(name, None)
    version = registry.version_for(cutoff - timedelta(hours=1))
    planting.commit_model(settings, version, old)
    rows = hourly.predict(cutoff, version, settings)
    assert [(r["horizon"], r["target_hour"]) for r in rows] == [(1, cutoff.isoformat())] * len(STATIONS)
    hourly.write_predictions(cutoff, version, rows, settings)
    assert served.rates_for_run(cutoff, settings)["horizon"].tolist() == [1] * len(STATIONS)


def test_a_worse_model_is_not_promoted_and_the_previous_one_keeps_serving(feature_store) -> None:
    settings, _, _ = feature_store("weekly", WEEKS + 1)
    earlier = CUTOFF  # seed a promoted model by committing one by hand, as an earlier good run would have
    checksum = registry.save_model(registry.version_for(earlier), StationFlowModel(["x"]), settings)
    registry.commit(registry.version_for(earlier), {"promoted": True, registry.MODEL_SHA256: checksum}, settings)
    cutoff = CUTOFF + timedelta(weeks=1)
    evaluation = hourly.train_and_evaluate(cutoff, CONFIG, settings)
    assert evaluation.metrics["mean_last_4_same_weekday_hours"]["mae"] == 0  # weekly data: the baseline is exact
    assert evaluation.promoted is False
    assert "does not beat" in evaluation.gate
    published = hourly.publish(cutoff, evaluation, CONFIG, settings)
    assert published.promoted is False
    assert published.serving_version == registry.version_for(earlier)
    assert registry.read_metadata(registry.version_for(cutoff), settings)["promoted"] is False
    assert registry.latest(settings) is None  # nothing was promoted through the pointer in this dataset's bucket


def test_storage_read_scan_matches_sql_and_an_empty_window_keeps_the_columns(feature_store) -> None:
    """The training frame comes from the Storage Read API; the same rows through SQL must be identical."""
    settings, _, _ = feature_store("lagged", WEEKS)
    window = dataset.Window.before(CUTOFF, 1)
    frame = dataset.training_frame(window, settings)
    sql = (
        f"SELECT * FROM `{settings.table_id(dataset.FEATURES_TABLE)}` "
        f"WHERE as_of >= '{window.start.isoformat()}' AND as_of < '{window.end.isoformat()}' "
        "AND EXTRACT(MINUTE FROM as_of) = 0"
    )
    rows = clients.bigquery_client(settings).query(sql).result().to_arrow(create_bqstorage_client=False).to_pandas()
    rows["as_of"] = pd.to_datetime(rows["as_of"], utc=True)
    rows = rows.sort_values(["as_of", "station_id"]).reset_index(drop=True)
    columns = ["system_id", "station_id", "as_of", *dataset.feature_columns(frame)]
    assert list(rows.columns) == columns  # every feature column, in table order
    pd.testing.assert_frame_equal(frame[columns], rows[columns], check_dtype=False)

    empty = dataset.training_frame(dataset.Window.before(START, 1), settings)
    assert empty.empty
    assert list(empty.columns) == list(frame.columns)


def test_off_its_daily_hour_a_system_with_a_promoted_model_predicts_with_it_and_fits_nothing(feature_store) -> None:
    from zoneinfo import ZoneInfo

    from include.ml.cadence import TrainCadence
    from include.systems import time_zone

    base, _, _ = feature_store("lagged", WEEKS)
    settings = base.with_names(bucket=f"{base.bucket}-daily")
    clients.storage_client(settings).create_bucket(settings.bucket)
    first, second = CUTOFF - timedelta(hours=1), CUTOFF
    local_hour = (second.astimezone(ZoneInfo(time_zone(settings.system_id))).hour + 12) % 24
    daily = TrainCadence("daily", local_hour)  # neither hour is the fitting hour
    assert not daily.fits(first, time_zone(settings.system_id))
    assert not daily.fits(second, time_zone(settings.system_id))

    fitted = hourly.train_and_evaluate(first, CONFIG, settings, daily)  # no promoted model yet: it fits anyway
    assert not fitted.reused
    assert hourly.publish(first, fitted, CONFIG, settings).serving_version == fitted.version
    skipped = hourly.train_and_evaluate(second, CONFIG, settings, daily)
    assert skipped.reused
    assert not skipped.promoted
    assert f"the promoted model {fitted.version} serves" in skipped.gate
    assert registry.read_metadata(registry.version_for(second), settings) is None  # nothing fitted or committed
    published = hourly.publish(second, skipped, CONFIG, settings)
    assert published.serving_version == fitted.version
    rows = hourly.predict(second, published.serving_version, settings)
    assert {r["model_version"] for r in rows} == {fitted.version}


def test_under_the_daily_cadence_no_hour_waits_for_its_own_fit(feature_store) -> None:
    """The model fitted before the hour serves it, whether or not the hour's own fit (its daily hour) is published
    yet: that fit serves from the next hour on, so the forecasts never wait for a fit. A system's first fit is
    the exception: with nothing before it, the hour waits for it. The hourly cadence always waits for its own."""
    from zoneinfo import ZoneInfo

    from include.ml.cadence import TrainCadence
    from include.systems import time_zone

    base, _, _ = feature_store("lagged", WEEKS)
    settings = base.with_names(bucket=f"{base.bucket}-beside")
    clients.storage_client(settings).create_bucket(settings.bucket)
    first, second, third = (CUTOFF - timedelta(hours=h) for h in (30, 29, 28))  # hours no other test serves
    zone = time_zone(settings.system_id)
    daily = TrainCadence("daily", second.astimezone(ZoneInfo(zone)).hour)  # the second hour is the fitting hour
    assert daily.fits(second, zone)
    assert not daily.fits(first, zone)

    assert hourly.serving_for(first, settings, daily) is None  # no model yet: the first hour waits for its fit
    fitted = hourly.train_and_evaluate(first, CONFIG, settings, daily)  # the first fit, off the daily hour
    hourly.publish(first, fitted, CONFIG, settings)
    assert fitted.promoted, fitted.gate
    assert hourly.serving_for(first, settings, daily).serving_version == fitted.version

    assert hourly.serving_for(second, settings, daily).serving_version == fitted.version  # before its own fit ends
    own = hourly.train_and_evaluate(second, CONFIG, settings, daily)
    assert not own.reused  # the daily hour fits
    published = hourly.publish(second, own, CONFIG, settings)
    assert own.promoted, own.gate
    assert published.serving_version == own.version  # publish names the newest up to the hour ...
    chosen = hourly.serving_for(second, settings, daily)
    assert chosen.serving_version == fitted.version  # ... the hour is served by the rule: the same as before it ended
    assert chosen.promoted  # the hour's own version was promoted (for the next hours)
    assert hourly.serving_for(third, settings, daily).serving_version == own.version  # it serves from the next hour

    every_hour = TrainCadence("hourly")
    assert hourly.serving_for(second, settings, every_hour).serving_version == own.version
    assert hourly.serving_for(third, settings, every_hour) is None  # its own fit is not published: it waits
