"""Late events on the BigQuery emulator: written to raw_events after the features of their time exist.

docs/design.md §2.2: events up to late_event_limit_minutes late are counted in their own label hour and in
every feature as_of that should include them, by the next features run (macros/late_events.sql).
Real Citi Bike events of 1-3 September 2019 plus planted late events; every expectation is a Python
recount of what raw_events holds. The module moves forward in time as the 15-minute DAG would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.cloud import bigquery

from include.dbt.runner import DbtResult
from include.gcp import clients
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings

pytestmark = pytest.mark.integration

NEWEST = datetime(2019, 9, 3, 3, 0, tzinfo=UTC)  # the newest as_of before the first late event
STEP = timedelta(minutes=15)
HOUR = timedelta(hours=1)
N_FEATURES = 46
WINDOWS = {"1h": HOUR, "2h": 2 * HOUR, "24h": timedelta(days=1), "7d": timedelta(days=7)}
RETRY = bigquery.DEFAULT_RETRY.with_deadline(30)


def query(settings: Settings, sql: str) -> list[bigquery.Row]:
    sql = sql.replace("{ds}", f"`{settings.project}.{settings.dataset}`")
    return list(clients.bigquery_client(settings).query(sql).result(retry=RETRY))


def raw_events(settings: Settings) -> list[Event]:
    """What raw_events holds, one event per event_id: the truth every recount starts from."""
    rows = query(settings, "select event_id, station_id, ts_iso, kind, delta from {ds}.raw_events")
    unique = {r.event_id: r for r in rows}
    return [Event(r.ts_iso, r.event_id, r.station_id, r.kind, r.delta) for r in unique.values()]


def load_late(settings: Settings, event_id: str, station: str, kind: str, ts: datetime) -> None:
    load_raw_events([Event(ts, event_id, station, kind).to_dict()], settings)


def floor_to(t: datetime, step: timedelta) -> datetime:
    return datetime.fromtimestamp(t.timestamp() // step.total_seconds() * step.total_seconds(), UTC)


def first_pickup(events: list[Event], station: str) -> datetime | None:
    return min((e.ts for e in events if e.station_id == station and e.kind == "pickup"), default=None)


def assert_features_match_recount(settings: Settings, station: str, since: datetime, until: datetime) -> None:
    """Every as_of in (since, until] (since floored to 15 minutes): the station has a row exactly
    when it is in the fleet (its first pickup is before the as_of), and its 1h / 2h / 24h / 7d
    pickups and dropoffs equal a recount."""
    events = raw_events(settings)
    since = floor_to(since, STEP)
    rows = query(
        settings,
        f"select * from {{ds}}.station_features_wide where station_id = '{station}' "
        f"and as_of > '{since.isoformat()}' and as_of <= '{until.isoformat()}' order by as_of",
    )
    joined = first_pickup(events, station)
    grid = [since + STEP * i for i in range(1, (until - since) // STEP + 1)]
    assert [r.as_of for r in rows] == [t for t in grid if joined is not None and joined < t]
    mine = [e for e in events if e.station_id == station]
    for row in rows:
        for window, length in WINDOWS.items():
            for kind in ("pickup", "dropoff"):
                recount = sum(e.delta for e in mine if e.kind == kind and row.as_of - length <= e.ts < row.as_of)
                assert row[f"{kind}_count_{window}"] == recount, (row.as_of, kind, window)


def assert_labels_match_recount(settings: Settings, station: str, since: datetime, until: datetime) -> None:
    """Every hour in [since, until) (since floored to the hour): a row exactly when the station is
    in the fleet before the hour ends, with the recounted pickups and dropoffs of the hour."""
    events = raw_events(settings)
    since = floor_to(since, HOUR)
    rows = query(
        settings,
        f"select hour_start, pickups, dropoffs from {{ds}}.station_hourly_labels where station_id = '{station}' "
        f"and hour_start >= '{since.isoformat()}' and hour_start < '{until.isoformat()}' order by hour_start",
    )
    joined = first_pickup(events, station)
    hours = [since + HOUR * i for i in range((until - since) // HOUR)]
    expected = [
        (
            h,
            sum(e.delta for e in events if e.station_id == station and e.kind == "pickup" and h <= e.ts < h + HOUR),
            sum(e.delta for e in events if e.station_id == station and e.kind == "dropoff" and h <= e.ts < h + HOUR),
        )
        for h in hours
        if joined is not None and joined < h + HOUR
    ]
    assert [(r.hour_start, r.pickups, r.dropoffs) for r in rows] == expected


def wide_snapshot(settings: Settings, station: str) -> dict[datetime, tuple]:
    rows = query(settings, f"select * from {{ds}}.station_features_wide where station_id = '{station}'")
    return {r.as_of: tuple(r.values()) for r in rows}


def tall_snapshot(settings: Settings, station: str) -> dict[tuple, float]:
    rows = query(
        settings,
        f"select feature_name, window_len, as_of, value from {{ds}}.station_features where station_id = '{station}'",
    )
    return {(r.feature_name, r.window_len, r.as_of): r.value for r in rows}


def assert_tall_equals_wide(settings: Settings, station: str) -> None:
    """station_features holds exactly the wide table's values, unpivoted (column <feature>_<window>)."""
    wide = query(settings, f"select * from {{ds}}.station_features_wide where station_id = '{station}'")
    unpivoted = {
        (column, row.as_of): value
        for row in wide
        for column, value in row.items()
        if column not in ("system_id", "station_id", "as_of")
    }
    tall = {(f"{f}_{w}" if w != "static" else f, t): v for (f, w, t), v in tall_snapshot(settings, station).items()}
    assert tall == unpivoted


def rows_written(target: Path) -> dict[str, int]:
    """Rows each model's merge wrote in the last dbt command (run_results.json)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected") for r in results}


def fleet_sizes(settings: Settings, since: datetime, until: datetime) -> dict[datetime, int]:
    """Stations per as_of in [since, until] in station_features_wide."""
    rows = query(
        settings,
        "select as_of, count(*) as n from {ds}.station_features_wide "
        f"where as_of >= '{since.isoformat()}' and as_of <= '{until.isoformat()}' group by as_of",
    )
    return {r.as_of: r.n for r in rows}


def assert_tests_pass(dbt: Callable[..., DbtResult], as_of: datetime) -> None:
    """The 15-minute run's dbt tests (data tests of the window, point in time), as the DAG runs them."""
    result = dbt("test", "--exclude", "resource_type:unit_test", as_of=as_of)
    assert "ERROR=0" in result.output
    assert "PASS assert_station_features_point_in_time" in result.output


@pytest.fixture(scope="module")
def built(dbt: Callable[..., DbtResult], dbt_settings: Settings) -> Settings:
    """Features and labels up to NEWEST (a first build, or a catch-up after the other modules)."""
    dbt("run", as_of=NEWEST)
    return dbt_settings


@pytest.fixture(scope="module")
def busiest(built: Settings) -> str:
    events = [e for e in raw_events(built) if e.ts < NEWEST]
    counts: dict[str, int] = {}
    for e in events:
        counts[e.station_id] = counts.get(e.station_id, 0) + 1
    return max(counts, key=counts.__getitem__)


def test_a_late_event_outside_the_lookback_is_counted_in_every_as_of_after_it(
    built: Settings, busiest: str, dbt: Callable[..., DbtResult], dbt_target: Path
) -> None:
    """A pickup 3 h 45 min before the newest as_of (the lookback is 60 min) reaches its label hour
    and the windows of every as_of after it; the run rebuilds from 45 minutes before the first as_of
    whose 1-hour count shows it, not more."""
    ts = NEWEST - timedelta(hours=3, minutes=45) + timedelta(seconds=30)  # 2019-09-02 23:15:30
    first_as_of = datetime(2019, 9, 2, 23, 30, tzinfo=UTC)
    before = wide_snapshot(built, busiest)
    (label_before,) = query(
        built,
        f"select pickups from {{ds}}.station_hourly_labels where station_id = '{busiest}' "
        f"and hour_start = '{first_as_of.replace(minute=0).isoformat()}'",
    )

    load_late(built, "late-outside-lookback", busiest, "pickup", ts)
    dbt("run", as_of=NEWEST)

    after = wide_snapshot(built, busiest)
    assert {t: v for t, v in after.items() if t < first_as_of} == {t: v for t, v in before.items() if t < first_as_of}
    assert after[first_as_of] != before[first_as_of]
    assert_features_match_recount(built, busiest, first_as_of - STEP, NEWEST)
    assert_labels_match_recount(built, busiest, first_as_of - 5 * HOUR, NEWEST)
    (label_after,) = query(
        built,
        f"select pickups from {{ds}}.station_hourly_labels where station_id = '{busiest}' "
        f"and hour_start = '{first_as_of.replace(minute=0).isoformat()}'",
    )
    assert label_after.pickups == label_before.pickups + 1

    rebuilt = fleet_sizes(built, first_as_of - 3 * STEP, NEWEST)  # 22:45 .. 03:00
    written = rows_written(dbt_target)
    assert written["station_features_wide"] == sum(rebuilt.values())
    assert_tall_equals_wide(built, busiest)  # station_features, a view, follows by itself
    assert_tests_pass(dbt, NEWEST)


def test_a_late_first_pickup_brings_its_station_into_the_fleet_from_then_on(
    built: Settings, dbt: Callable[..., DbtResult]
) -> None:
    """A station that only received bikes joins the fleet with a late pickup: rows from the first
    as_of after it (every feature), labels from its hour, by the next run (the next as_of)."""
    events = raw_events(built)
    dropoff_only = sorted({e.station_id for e in events} - {e.station_id for e in events if e.kind == "pickup"})
    assert dropoff_only, "the fixture should hold stations that only receive bikes (Manhattan trip ends)"
    station = dropoff_only[0]
    ts = NEWEST - timedelta(hours=2, minutes=10)  # 2019-09-03 00:50
    assert wide_snapshot(built, station) == {}

    load_late(built, "late-first-pickup", station, "pickup", ts)
    as_of = NEWEST + STEP
    dbt("run", as_of=as_of)

    assert_features_match_recount(built, station, ts - 4 * HOUR, as_of)
    assert min(wide_snapshot(built, station)) == datetime(2019, 9, 3, 1, 0, tzinfo=UTC)
    (features,) = query(
        built,
        "select count(*) as n, count(distinct as_of) as as_ofs from {ds}.station_features "
        f"where station_id = '{station}'",
    )
    assert features.n == features.as_ofs * N_FEATURES
    assert_labels_match_recount(built, station, ts - 4 * HOUR, as_of.replace(minute=0))
    assert_tests_pass(dbt, as_of)  # every_active_station_present: the fleet grew everywhere it should


def test_a_late_dropoff_before_a_stations_first_pickup_reaches_its_windows(
    built: Settings, dbt: Callable[..., DbtResult]
) -> None:
    """A dropoff at a station three hours before it joined the fleet (its first pickup, 00:50, the
    previous test's) is in no 1-hour count of a fleet row, but in the station's 24h / 7d windows from
    its first as_of on: the next run finds it there."""
    events = raw_events(built)
    station = next(e.station_id for e in events if e.event_id == "late-first-pickup")
    joined = first_pickup(events, station)
    ts = joined - timedelta(hours=3)  # 2019-09-02 21:50
    as_of = NEWEST + STEP
    before = wide_snapshot(built, station)

    load_late(built, "late-before-first-pickup", station, "dropoff", ts)
    dbt("run", as_of=as_of)

    after = wide_snapshot(built, station)
    assert set(after) == set(before)  # the station still joins at 01:00
    assert after[min(after)] != before[min(before)]
    assert_features_match_recount(built, station, ts - STEP, as_of)
    assert_labels_match_recount(built, station, ts - HOUR, as_of.replace(minute=0))


def test_events_older_than_the_limit_are_not_reconciled(
    built: Settings, busiest: str, dbt: Callable[..., DbtResult]
) -> None:
    """With a 2-hour limit, a dropoff 5 hours before the newest as_of (one the ingest would refuse as
    too_late) changes nothing: the staging table's increment reads events from the newest as_of less
    the limit and 2 hours on (macros/event_bounds.sql, partition pruning), so no label hour and no
    as_of counts it; history loads behind existing features need the full refresh of
    include/dbt/README.md. The default 48-hour limit takes it in everywhere on the next run (it was
    ingested inside the staging table's 60-minute margin)."""
    as_of = NEWEST + STEP
    ts = as_of - timedelta(hours=5) + timedelta(seconds=10)  # 2019-09-02 22:15:10
    features_before = wide_snapshot(built, busiest)
    labels_sql = f"select * from {{ds}}.station_hourly_labels where station_id = '{busiest}' order by hour_start"
    labels_before = [tuple(r.values()) for r in query(built, labels_sql)]

    load_late(built, "late-beyond-limit", busiest, "dropoff", ts)
    dbt("run", as_of=as_of, late_event_limit_minutes=120)
    after = wide_snapshot(built, busiest)
    assert after == features_before  # the lookback was recomputed, from the same events
    assert [tuple(r.values()) for r in query(built, labels_sql)] == labels_before

    dbt("run", as_of=as_of)
    assert wide_snapshot(built, busiest) != features_before
    assert_features_match_recount(built, busiest, ts - STEP, as_of)
    assert_labels_match_recount(built, busiest, ts - 2 * HOUR, as_of.replace(minute=0))


def test_a_recomputed_old_as_of_updates_its_rows_and_never_duplicates_them(
    built: Settings, busiest: str, dbt: Callable[..., DbtResult], dbt_target: Path
) -> None:
    """A dropoff 40 hours before the newest as_of: the as_ofs since then are recomputed and merged
    onto their rows (the merge predicate reaches that far back); the full audit finds no duplicate."""
    as_of = NEWEST + STEP
    ts = as_of - timedelta(hours=40) + timedelta(seconds=20)  # 2019-09-01 11:15:20
    assert first_pickup(raw_events(built), busiest) < ts, "the station should be in the fleet already"
    counts_sql = (
        "select (select count(*) from {ds}.station_features) as tall, "
        "(select count(*) from {ds}.station_features_wide) as wide, "
        "(select count(*) from {ds}.station_hourly_labels) as labels"
    )
    (counts_before,) = query(built, counts_sql)

    load_late(built, "late-40-hours", busiest, "dropoff", ts)
    dbt("run", as_of=as_of)

    (counts_after,) = query(built, counts_sql)
    assert tuple(counts_after.values()) == tuple(counts_before.values())
    rebuilt = fleet_sizes(built, datetime(2019, 9, 1, 10, 45, tzinfo=UTC), as_of)  # 45 min before 11:30
    assert len(rebuilt) == 163  # 2019-09-01 10:45 .. 2019-09-03 03:15
    assert rows_written(dbt_target)["station_features_wide"] == sum(rebuilt.values())
    assert_features_match_recount(built, busiest, ts - STEP, as_of)
    assert_labels_match_recount(built, busiest, ts - 2 * HOUR, as_of.replace(minute=0))
    # no as_of: the whole tables (staging, the fleet and the feature store's three, each keyed by system;
    # model_performance is not built here)
    audit = dbt("test", "--select", "unique_combination_*", "--exclude", "tag:monitoring")
    assert "PASS=5" in audit.output
    assert "ERROR=0" in audit.output


def test_a_run_that_stopped_after_the_wide_table_leaves_nothing_behind(
    built: Settings, busiest: str, dbt: Callable[..., DbtResult]
) -> None:
    """station_features_wide took a late event in, then the run stopped before anything else: the
    tall station_features (a view of the wide table) already shows it, and the labels catch up on
    the next run."""
    as_of = NEWEST + STEP
    ts = as_of - timedelta(hours=6) + timedelta(seconds=5)  # 2019-09-02 21:15:05
    load_late(built, "late-run-stopped", busiest, "pickup", ts)
    dbt("run", "--select", "+station_features_wide", as_of=as_of)  # staging, the fleet, the wide table
    assert_features_match_recount(built, busiest, ts - STEP, as_of)
    assert_tall_equals_wide(built, busiest)
    dbt("run", as_of=as_of)
    assert_labels_match_recount(built, busiest, ts - HOUR, as_of.replace(minute=0))


def test_a_features_outage_still_reconciles_what_arrived_meanwhile(
    built: Settings, busiest: str, dbt: Callable[..., DbtResult]
) -> None:
    """The features DAG was down for 6 hours; a pickup 10 hours older than the newest as_of arrived
    meanwhile, inside a 10-hour limit. The catch-up run builds the missing as_ofs and reconciles
    the old ones: the window follows the newest as_of the tables hold, not the run's as_of (16
    hours after the pickup)."""
    newest = NEWEST + STEP
    ts = newest - timedelta(hours=10) + timedelta(seconds=40)  # 2019-09-02 17:15:40
    load_late(built, "late-during-outage", busiest, "pickup", ts)
    as_of = newest + timedelta(hours=6)
    dbt("run", as_of=as_of, late_event_limit_minutes=600)
    assert_features_match_recount(built, busiest, ts - STEP, as_of)
    assert_labels_match_recount(built, busiest, ts - HOUR, as_of.replace(minute=0))


def test_a_run_without_late_data_does_not_widen_the_rebuilt_range(
    built: Settings, dbt: Callable[..., DbtResult], dbt_target: Path
) -> None:
    """Once everything late is reconciled, an increment rewrites the new as_of and the 60-minute
    lookback (5 as_ofs) and the label hour of the lookback, as before late events were reconciled."""
    (newest,) = query(built, "select max(as_of) as t from {ds}.station_features")
    as_of = newest.t + STEP
    dbt("run", as_of=as_of)
    fleet = fleet_sizes(built, as_of - HOUR, as_of)
    assert len(fleet) == 5
    (labels,) = query(
        built,
        "select count(*) as n from {ds}.station_hourly_labels "
        f"where hour_start = '{(as_of.replace(minute=0) - HOUR).isoformat()}'",
    )
    expected = {
        "station_features_wide": sum(fleet.values()),
        "station_hourly_labels": labels.n,
    }
    assert {m: n for m, n in rows_written(dbt_target).items() if m in expected} == expected
    dbt("run", as_of=as_of)  # a re-run of the same interval: the same rows again, nothing more
    assert {m: n for m, n in rows_written(dbt_target).items() if m in expected} == expected
