"""Window arithmetic of the feature store on hand-made events, end to end on the BigQuery emulator.

These were dbt unit tests of the single windowed model; the features now flow through small ephemeral
intermediates (the fleet, the 15-minute grid, the weekly profiles), which dbt unit tests cannot feed,
so each case builds ``station_features_wide`` with real dbt from its events in a dataset of its own
(its own stations and holidays too) and compares the named columns with the expected values.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from include.dbt.runner import dbt_vars, run_dbt
from include.gcp import clients, resources
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from include.systems import DEFAULT_SYSTEM

pytestmark = pytest.mark.integration

STATION_COLUMNS = "system_id string, station_id string, name string, lat float64, lon float64, capacity int64"
HOLIDAY_COLUMNS = "holiday_date date, observed_date date, holiday_name string"
SYSTEM_COLUMNS = "system_id string, name string, time_zone string, gbfs_url string"


@pytest.fixture
def window_settings(test_settings: Settings) -> Iterator[Settings]:
    """A fresh dataset of this test's own, dropped afterwards."""
    settings = test_settings.with_names(dataset=f"{test_settings.dataset}_win_{uuid.uuid4().hex[:6]}")
    yield settings
    clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)


def build_feature_store(
    settings: Settings,
    events: list[tuple[str, ...]],
    stations: list[tuple[str, ...]],
    holidays: list[tuple[str, str, str]],
    as_of: str,
    features_start: str,
    target: Path,
    models: str = "+station_features_wide",
    systems: tuple[tuple[str, str], ...] = ((DEFAULT_SYSTEM, "America/New_York"),),
) -> None:
    """Load events ((system_id,) event_id, station_id, ts, kind), stations ((system_id,) id, capacity),
    holidays and the systems (id, time zone) into the dataset, then build ``models`` for ``as_of`` from
    ``features_start`` with real dbt. A row without a system is the default system's."""
    client = clients.bigquery_client(settings)
    resources.ensure_bigquery(settings)
    events = [e if len(e) == 5 else (DEFAULT_SYSTEM, *e) for e in events]
    stations = [s if len(s) == 3 else (DEFAULT_SYSTEM, *s) for s in stations]
    load_raw_events(
        [
            {"system_id": system, "event_id": event_id, "station_id": station, "ts_iso": ts, "kind": kind, "delta": 1}
            for system, event_id, station, ts, kind in events
        ],
        settings,
        ingested_at=datetime(2019, 12, 1, tzinfo=UTC),
    )
    station_rows = ", ".join(f"('{y}', '{s}', 'Station {s}', 40.7, -74.0, {c})" for y, s, c in stations)
    holiday_rows = ", ".join(f"(date '{d}', date '{o}', '{n}')" for d, o, n in holidays)
    system_rows = ", ".join(f"('{y}', '{y}', '{zone}', 'http://127.0.0.1:1/gbfs.json')" for y, zone in systems)
    for table, columns, rows in (
        ("stations", STATION_COLUMNS, station_rows),
        ("us_federal_holidays", HOLIDAY_COLUMNS, holiday_rows),
        ("systems", SYSTEM_COLUMNS, system_rows),
    ):
        client.query(f"create table `{settings.table_id(table)}` ({columns})").result()
        if rows:
            client.query(f"insert into `{settings.table_id(table)}` values {rows}").result()
    run_dbt(
        ["run", "--select", models, "--exclude", "resource_type:seed"],
        settings,
        vars={**dbt_vars(as_of=as_of, features_start=features_start), "late_event_lookback_minutes": 60},
        target_path=target,
    )


@pytest.fixture
def build_wide(window_settings: Settings, tmp_path: Path) -> Callable[..., dict[str, dict[str, float]]]:
    """:func:`build_feature_store` in the test's dataset; returns the wide rows by station."""

    def build(*args: object, **kwargs: object) -> dict[str, dict[str, float]]:
        build_feature_store(window_settings, *args, target=tmp_path / "target", **kwargs)  # type: ignore[arg-type]
        sql = f"select * from `{window_settings.table_id('station_features_wide')}`"
        rows = clients.bigquery_client(window_settings).query(sql).result()
        return {row["station_id"]: dict(row.items()) for row in rows}

    return build


def assert_columns(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert {c: actual[c] for c in expected} == pytest.approx(expected)


def test_window_arithmetic_at_window_edges(build_wide) -> None:
    """Events exactly on a window's start count, events at as_of do not; lags and the same-weekday
    mean read the hour starting at as_of one day / 1..4 weeks earlier, lag2h the hour starting 2 h
    before (a2 at 10:59:59.999, not a1 at 11:00), the daily mean the hours 1..7 days earlier (a4's
    dropoff and a5's pickup cancel); stations join strictly after their first pickup (B at as_of
    joins later; D, with only a dropoff, never does). 2019-09-02 12:00 UTC is 08:00 on Labor Day in
    New York."""
    rows = build_wide(
        events=[
            ("a1", "A", "2019-09-02T11:00:00Z", "pickup"),
            ("a2", "A", "2019-09-02T10:59:59.999Z", "pickup"),
            ("a3", "A", "2019-09-02T12:00:00Z", "dropoff"),
            ("a4", "A", "2019-09-01T12:00:00Z", "dropoff"),
            ("a5", "A", "2019-08-26T12:30:00Z", "pickup"),
            ("a6", "A", "2019-08-19T12:10:00Z", "dropoff"),
            ("a7", "A", "2019-08-05T11:59:59Z", "pickup"),
            ("b1", "B", "2019-09-02T12:00:00Z", "pickup"),
            ("c1", "C", "2019-08-20T09:00:00Z", "pickup"),
            ("d1", "D", "2019-08-20T09:00:00Z", "dropoff"),
        ],
        stations=[("A", 20), ("B", 15)],
        holidays=[("2019-09-02", "2019-09-02", "Labor Day")],
        as_of="2019-09-02T12:07:00+00:00",
        features_start="2019-09-02T12:00:00+00:00",
    )
    assert set(rows) == {"A", "C"}
    assert {r["as_of"] for r in rows.values()} == {datetime(2019, 9, 2, 12, 0, tzinfo=UTC)}
    assert_columns(
        rows["A"],
        {
            "pickup_count_1h": 1,
            "pickup_count_2h": 2,
            "pickup_count_24h": 2,
            "pickup_count_7d": 3,
            "dropoff_count_24h": 1,
            "dropoff_count_7d": 1,
            "net_change_24h": -1,
            "net_change_7d": -2,
            "dropoff_count_lag24h": 1,
            "pickup_count_lag24h": 0,
            "pickup_count_lag168h": 1,
            "same_weekday_hour_mean_pickups_4w": 0.25,
            "same_weekday_hour_mean_dropoffs_4w": 0.25,
            "same_weekday_hour_mean_net_change_4w": 0,
            "system_pickup_count_1h": 1,
            "system_pickup_count_24h": 2,
            "is_peak_station": 1,
            "capacity": 20,
            "hour_of_day": 8,
            "day_of_week": 2,
            "is_holiday": 1,
            "pickup_count_lag2h": 1,
            "pickup_count_lag3h": 0,
            "daily_same_hour_mean_net_change_7d": 0,
        },
    )
    assert_columns(
        rows["C"],
        {
            "pickup_count_1h": 0,
            "pickup_count_2h": 0,
            "pickup_count_24h": 0,
            "pickup_count_7d": 0,
            "dropoff_count_24h": 0,
            "dropoff_count_7d": 0,
            "net_change_24h": 0,
            "net_change_7d": 0,
            "dropoff_count_lag24h": 0,
            "pickup_count_lag24h": 0,
            "pickup_count_lag168h": 0,
            "same_weekday_hour_mean_pickups_4w": 0,
            "same_weekday_hour_mean_dropoffs_4w": 0,
            "same_weekday_hour_mean_net_change_4w": 0,
            "system_pickup_count_1h": 1,
            "system_pickup_count_24h": 2,
            "is_peak_station": 0,
            "capacity": 0,
            "hour_of_day": 8,
            "day_of_week": 2,
            "is_holiday": 1,
            "pickup_count_lag2h": 0,
            "pickup_count_lag3h": 0,
            "daily_same_hour_mean_net_change_7d": 0,
        },
    )


def test_daily_and_weekly_lags_follow_new_york_time_across_dst(build_wide) -> None:
    """DST ended on 2019-11-03: as_of 2019-11-05 17:00 UTC is 12:00 EST, and the same wall-clock hour
    1-7 days and 1-4 weeks earlier starts at 17:00 UTC on 3-4 November but 16:00 UTC before (EDT).
    Every d* dropoff and p* pickup lies in those local hours; the x* decoys lie in the hours a plain
    UTC lag would read (17:xx UTC before the change), so a UTC lag gives other values. The 26-week
    profile of Tuesdays 12:00-13:00 has four weeks since A's first pickup: p1-p4, and d7 once."""
    events = [(f"p{i}", "A", f"2019-10-{day}T16:05:00Z", "pickup") for i, day in enumerate(("29", "22", "15", "08"), 1)]
    events += [("x1", "A", "2019-10-22T17:50:00Z", "pickup")]
    events += [
        (f"d{i}", "A", ts, "dropoff")
        for i, ts in enumerate(
            (
                "2019-11-04T17:20:00Z",
                "2019-11-03T17:20:00Z",
                "2019-11-02T16:20:00Z",
                "2019-11-01T16:20:00Z",
                "2019-10-31T16:20:00Z",
                "2019-10-30T16:20:00Z",
                "2019-10-29T16:20:00Z",
            ),
            1,
        )
    ]
    events += [
        ("x2", "A", "2019-11-02T17:40:00Z", "dropoff"),
        ("x3", "A", "2019-11-01T17:40:00Z", "dropoff"),
        ("x4", "A", "2019-10-29T17:40:00Z", "dropoff"),
    ]
    rows = build_wide(
        events=events,
        stations=[("A", 20)],
        holidays=[("2019-11-11", "2019-11-11", "Veterans Day")],
        as_of="2019-11-05T17:07:00+00:00",
        features_start="2019-11-05T17:00:00+00:00",
    )
    assert set(rows) == {"A"}
    assert_columns(
        rows["A"],
        {
            "pickup_count_lag168h": 1,
            "same_weekday_hour_mean_pickups_4w": 1,
            "dropoff_count_lag24h": 1,
            "dropoff_count_lag168h": 1,
            "daily_same_hour_mean_dropoffs_7d": 1,
            "same_weekday_hour_mean_pickups_26w": 1,
            "same_weekday_hour_mean_dropoffs_26w": 0.25,
            "hour_of_day": 12,
            "day_of_week": 3,
            "is_holiday": 0,
        },
    )


def test_the_catalogue_tests_catch_a_pair_outside_it_and_a_missing_feature(
    build_wide, window_settings: Settings, tmp_path: Path
) -> None:
    """station_features unpivots the wide table along the catalogue. Should it hold a row whose
    (feature_name, window_len) pair is not in the catalogue (each value alone is), in_feature_catalogue
    fails; should a feature be missing at a key, every_feature_present fails. The view is swapped for
    a table of its rows here so that rows can be planted."""
    build_wide(
        events=[("a1", "A", "2019-09-02T11:00:00Z", "pickup"), ("a2", "A", "2019-09-02T11:20:00Z", "dropoff")],
        stations=[("A", 20)],
        holidays=[("2019-09-02", "2019-09-02", "Labor Day")],
        as_of="2019-09-02T12:07:00+00:00",
        features_start="2019-09-02T12:00:00+00:00",
        models="+station_features",
    )
    client = clients.bigquery_client(window_settings)
    tall = window_settings.table_id("station_features")
    rows = [tuple(r.values()) for r in client.query(f"select * from `{tall}`").result()]
    assert len(rows) == 46  # one station, one as_of, every feature of the catalogue
    client.query(f"drop view `{tall}`").result()
    client.query(
        f"create table `{tall}` (system_id string, station_id string, feature_name string, window_len string, "
        "value float64, as_of timestamp)"
    ).result()
    values = ", ".join(f"('{y}', '{a}', '{f}', '{w}', {v}, timestamp '{t.isoformat()}')" for y, a, f, w, v, t in rows)
    client.query(f"insert into `{tall}` values {values}").result()
    vars_ = {**dbt_vars(as_of="2019-09-02T12:07:00+00:00"), "test_window_minutes": None}

    def catalogue_tests() -> str:
        return run_dbt(
            ["test", "--select", "in_feature_catalogue_station_features_", "every_feature_present_station_features_"],
            window_settings,
            vars=vars_,
            target_path=tmp_path / "target",
            check=False,
        ).output

    assert "PASS=2" in catalogue_tests()
    client.query(
        f"insert into `{tall}` values "
        f"('{DEFAULT_SYSTEM}', 'A', 'pickup_count', '26w', 1.0, timestamp '2019-09-02 12:00:00+00')"
    ).result()
    output = catalogue_tests()
    assert "FAIL 1 in_feature_catalogue_station_features_" in output
    assert "FAIL 1 every_feature_present_station_features_" in output  # an unknown feature at that key too
    client.query(f"delete from `{tall}` where window_len = '26w' and feature_name = 'pickup_count'").result()
    client.query(f"delete from `{tall}` where feature_name = 'capacity'").result()
    output = catalogue_tests()
    assert "PASS in_feature_catalogue_station_features_" in output
    assert "FAIL 1 every_feature_present_station_features_" in output


DST_SYSTEMS = (("ny", "America/New_York"), ("la", "America/Los_Angeles"), ("phx", "America/Phoenix"))
DST_DAYS = {  # the days before, of, after and a week after each 2019 change (02:00 local, not in Phoenix)
    "spring": (date(2019, 3, 9), date(2019, 3, 10), date(2019, 3, 11), date(2019, 3, 17)),
    "autumn": (date(2019, 11, 2), date(2019, 11, 3), date(2019, 11, 4), date(2019, 11, 10)),
}
LOCAL_FEATURES = (
    "pickup_count_lag24h",
    "pickup_count_lag168h",
    "daily_same_hour_mean_pickups_7d",
    "same_weekday_hour_mean_pickups_4w",
    "same_weekday_hour_mean_pickups_26w",
)


def _utc(day: date, hour: int, minute: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, minute), ZoneInfo(zone)).astimezone(UTC)


@pytest.mark.parametrize("change", ["spring", "autumn"])
def test_three_systems_with_a_station_100_each_read_their_own_clock_across_dst(
    window_settings: Settings, tmp_path: Path, change: str
) -> None:
    """New York, Los Angeles and Phoenix each have a station "100" with one pickup at 08:10 local every day.
    At 08:00 local (a different UTC hour in each) on the days around the change, every local-hour feature
    reads exactly that pickup: a day back is 23 or 25 hours in New York and Los Angeles across the change,
    always 24 in Phoenix. The calendar is the system's own. On New York's clock alone (before issue 24)
    Phoenix's lags missed the pickup on the day of the change and every hour_of_day was New York's."""
    days = DST_DAYS[change]
    first_event_day = days[0] - timedelta(days=35)  # 4 weeks of same-weekday hours, and the 28-day grid
    event_days = [first_event_day + timedelta(days=k) for k in range((days[-1] - first_event_day).days + 1)]
    events = [
        (system, f"{system}-{day:%m%d}", "100", _utc(day, 8, 10, zone).isoformat(), "pickup")
        for system, zone in DST_SYSTEMS
        for day in event_days
    ]
    build_feature_store(
        window_settings,
        events=events,
        stations=[(system, "100", 20) for system, _ in DST_SYSTEMS],
        holidays=[],
        as_of=f"{days[-1] + timedelta(days=1):%Y-%m-%d}T00:00:00+00:00",
        features_start=f"{days[0]:%Y-%m-%d}T00:00:00+00:00",
        target=tmp_path / "target",
        systems=DST_SYSTEMS,
    )
    checked = {(system, _utc(day, 8, 0, zone)): day for system, zone in DST_SYSTEMS for day in days}
    sql = (
        f"select system_id, as_of, hour_of_day, day_of_week, {', '.join(LOCAL_FEATURES)} "
        f"from `{window_settings.table_id('station_features_wide')}` where station_id = '100'"
    )
    rows = {
        (r["system_id"], r["as_of"].astimezone(UTC)): r
        for r in clients.bigquery_client(window_settings).query(sql).result()
    }
    for key, day in checked.items():
        row = rows[key]
        assert {f: row[f] for f in LOCAL_FEATURES} == dict.fromkeys(LOCAL_FEATURES, 1.0), key
        assert row["hour_of_day"] == 8.0, key
        assert row["day_of_week"] == float((day.weekday() + 1) % 7 + 1), key  # 1 = Sunday
    # the same station id in three systems: three rows per as_of, never merged
    assert {system for system, _ in rows} == {system for system, _ in DST_SYSTEMS}
