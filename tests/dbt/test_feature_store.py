"""The dbt feature store on the BigQuery emulator, with real Citi Bike events of 1-3 September 2019.

One module builds once and then moves forward in time, as the 15-minute DAG would: first build,
values against a Python recount, idempotent re-run, catch-up over a gap, a late event, freshness.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import bigquery

from include.dbt.runner import DbtResult
from include.gcp import clients
from include.gcp.events import Event, format_ts
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings

pytestmark = pytest.mark.integration

T0 = datetime(2019, 9, 3, 0, 0, tzinfo=UTC)
N_FEATURES = 46
RETRY = bigquery.DEFAULT_RETRY.with_deadline(30)


def query(settings: Settings, sql: str) -> list[bigquery.Row]:
    sql = sql.replace("{ds}", f"`{settings.project}.{settings.dataset}`")
    return list(clients.bigquery_client(settings).query(sql).result(retry=RETRY))


@pytest.fixture(scope="module")
def first_build(dbt: Callable[..., DbtResult]) -> DbtResult:
    """`dbt build` at T0: models, unit tests, data tests and the point-in-time test."""
    return dbt("build", as_of=T0)


def test_first_build_passes_every_test(first_build: DbtResult) -> None:
    assert first_build.ok
    assert "ERROR=0" in first_build.output
    assert "hourly_labels_include_zero_hours" in first_build.output  # the dbt unit test ran
    assert "assert_station_features_point_in_time" in first_build.output


def test_every_active_station_has_every_feature(first_build: DbtResult, dbt_settings: Settings, trip_events) -> None:
    rows = query(
        dbt_settings,
        "select as_of, count(distinct station_id) as stations, count(*) as n "
        "from {ds}.station_features group by as_of order by as_of",
    )
    first_pickup = min(e.ts for e in trip_events if e.kind == "pickup")
    assert rows[0].as_of == datetime.fromtimestamp(first_pickup.timestamp() // 900 * 900 + 900, UTC)
    assert rows[-1].as_of == T0
    assert len(rows) == (T0 - rows[0].as_of) // timedelta(minutes=15) + 1
    dropoff_only = {e.station_id for e in trip_events} - {e.station_id for e in trip_events if e.kind == "pickup"}
    assert dropoff_only, "the fixture should hold stations that only receive bikes (Manhattan trip ends)"
    for row in rows:
        active = {e.station_id for e in trip_events if e.kind == "pickup" and e.ts < row.as_of}
        assert row.stations == len(active)
        assert row.n == len(active) * N_FEATURES


def _recount(events: list[Event], station: str, kind: str, start: datetime, end: datetime) -> int:
    return sum(1 for e in events if e.station_id == station and e.kind == kind and start <= e.ts < end)


def test_values_match_a_python_recount(first_build: DbtResult, dbt_settings: Settings, trip_events) -> None:
    as_of = datetime(2019, 9, 2, 18, 0, tzinfo=UTC)  # 14:00 in New York, Labor Day
    busiest = Counter(e.station_id for e in trip_events if e.ts < as_of).most_common(1)[0][0]
    (row,) = query(
        dbt_settings,
        f"select * from {{ds}}.station_features_wide where station_id = '{busiest}' and as_of = '{as_of.isoformat()}'",
    )
    for window, length in [("1h", timedelta(hours=1)), ("2h", timedelta(hours=2)), ("24h", timedelta(days=1))]:
        pickups = _recount(trip_events, busiest, "pickup", as_of - length, as_of)
        dropoffs = _recount(trip_events, busiest, "dropoff", as_of - length, as_of)
        assert row[f"pickup_count_{window}"] == pickups
        assert row[f"dropoff_count_{window}"] == dropoffs
        assert row[f"net_change_{window}"] == dropoffs - pickups
    lag_start = as_of - timedelta(hours=24)
    assert row["pickup_count_lag24h"] == _recount(
        trip_events, busiest, "pickup", lag_start, lag_start + timedelta(hours=1)
    )
    lag2_start, hour = as_of - timedelta(hours=2), timedelta(hours=1)
    assert row["pickup_count_lag2h"] == _recount(trip_events, busiest, "pickup", lag2_start, lag2_start + hour)
    days_back = [as_of - timedelta(days=d) for d in range(1, 8)]
    daily_net = [
        _recount(trip_events, busiest, "dropoff", t, t + hour) - _recount(trip_events, busiest, "pickup", t, t + hour)
        for t in days_back
    ]
    assert row["daily_same_hour_mean_net_change_7d"] == pytest.approx(sum(daily_net) / 7)
    fleet = {e.station_id for e in trip_events if e.kind == "pickup" and e.ts < as_of}
    for window, length in [("15m", timedelta(minutes=15)), ("30m", timedelta(minutes=30)), ("1h", hour)]:
        for kind in ("pickup", "dropoff"):
            system = sum(
                1 for e in trip_events if e.kind == kind and e.station_id in fleet and as_of - length <= e.ts < as_of
            )
            assert row[f"system_{kind}_count_{window}"] == system
    assert row["system_pickup_count_15m"] < row["system_pickup_count_30m"]  # the windows are not all empty
    assert (row["hour_of_day"], row["day_of_week"], row["is_holiday"]) == (14, 2, 1)
    assert row["is_peak_station"] == 1
    assert row["capacity"] > 0


def test_labels_count_every_fleet_event_of_complete_hours(
    first_build: DbtResult, dbt_settings: Settings, trip_events
) -> None:
    (row,) = query(
        dbt_settings,
        "select sum(pickups) as p, sum(dropoffs) as d, max(hour_start) as last_hour, "
        "countif(pickups + dropoffs = 0) as quiet from {ds}.station_hourly_labels",
    )
    assert row.last_hour == T0 - timedelta(hours=1)
    assert row.p == sum(1 for e in trip_events if e.kind == "pickup" and e.ts < T0)
    first_pickup: dict[str, datetime] = {}
    for e in trip_events:
        if e.kind == "pickup":
            first_pickup[e.station_id] = min(e.ts, first_pickup.get(e.station_id, e.ts))
    # a station's dropoffs count from the hour of its first pickup on; dropoff-only stations have none
    hour = timedelta(hours=1)
    assert row.d == sum(
        1
        for e in trip_events
        if e.kind == "dropoff"
        and e.ts < T0
        and e.station_id in first_pickup
        and first_pickup[e.station_id] < datetime.fromtimestamp(e.ts.timestamp() // 3600 * 3600, UTC) + hour
    )
    assert row.quiet > 0  # zeros are rows


def _snapshot(settings: Settings) -> tuple:
    (row,) = query(
        settings,
        # an integer sum: exact and independent of the order the engine adds the rows in
        "select count(*) as n, sum(cast(round(value * 1000000) as int64)) as total, max(as_of) as last "
        "from {ds}.station_features",
    )
    (wide,) = query(settings, "select count(*) as n from {ds}.station_features_wide")
    return row.n, row.total, row.last, wide.n


def test_one_run_catches_up_and_a_rerun_changes_nothing(
    first_build: DbtResult, dbt: Callable[..., DbtResult], dbt_settings: Settings
) -> None:
    later = T0 + timedelta(hours=3, minutes=7)  # the grid floor is 03:00: 12 missing as_ofs
    dbt("run", as_of=later)
    after_catch_up = _snapshot(dbt_settings)
    rows = query(dbt_settings, f"select count(distinct as_of) as n from {{ds}}.station_features where as_of > '{T0}'")
    assert rows[0].n == 12
    assert after_catch_up[2] == T0 + timedelta(hours=3)
    dbt("run", as_of=later)
    assert _snapshot(dbt_settings) == after_catch_up
    (dupes,) = query(
        dbt_settings,
        "select count(*) as n from (select station_id, as_of from {ds}.station_features_wide "
        "group by 1, 2 having count(*) > 1)",
    )
    assert dupes.n == 0


def test_late_event_inside_the_lookback_is_picked_up(
    first_build: DbtResult, dbt: Callable[..., DbtResult], dbt_settings: Settings, trip_events
) -> None:
    as_of = T0 + timedelta(hours=3)
    station = trip_events[0].station_id
    late_ts = as_of - timedelta(minutes=20)

    def pickups_1h() -> tuple[float, float]:
        (row,) = query(
            dbt_settings,
            f"select pickup_count_1h as p, net_change_1h as n from {{ds}}.station_features_wide "
            f"where station_id = '{station}' and as_of = '{as_of.isoformat()}'",
        )
        return row.p, row.n

    dbt("run", as_of=as_of)
    before = pickups_1h()
    late = {"event_id": "late-test-1", "station_id": station, "kind": "pickup", "delta": 1}
    load_raw_events([{**late, "ts_iso": format_ts(late_ts)}], dbt_settings)
    dbt("run", as_of=as_of)
    assert pickups_1h() == (before[0] + 1, before[1] - 1)
    tests = dbt("test", "--select", "station_features", "station_features_wide", as_of=as_of)
    assert "ERROR=0" in tests.output


def test_source_freshness_passes_for_fresh_loads(first_build: DbtResult, dbt: Callable[..., DbtResult]) -> None:
    result = dbt("source", "freshness")
    assert "PASS" in result.output
