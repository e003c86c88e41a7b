"""The poller (include/gbfs/poll.py) against a local HTTP server that serves good and bad feeds, on the emulator:
bad feeds become dead letters in BigQuery (never an exception, never a stored bad row), reruns store nothing
twice, the ttl is honoured; and the reader (include/gbfs/status.py) on what it stored."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from include.gbfs.poll import due, fetch, poll
from include.gbfs.settings import GbfsSettings
from include.gbfs.status import inventory_as_of
from include.gcp.settings import Settings
from tests.gbfs.fake_feed import (
    FakeFeed,
    fake_feed,
    gbfs_dataset,
    rows,
    station_information,
    station_status,
)

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
NO_FEEDS = {"last_updated": T, "ttl": 0, "data": {"en": {"feeds": []}}}
INFO = [station_information("A", 20), station_information("B", 10), station_information("C", None)]


@pytest.fixture
def feed() -> Iterator[FakeFeed]:
    with fake_feed() as f:
        f.discovery(last_updated=T)
        f.information(INFO, T)
        yield f


@pytest.fixture
def ds(test_settings: Settings) -> Iterator[Settings]:
    with gbfs_dataset(test_settings) as s:
        yield s


def gbfs(feed: FakeFeed, **kw: object) -> GbfsSettings:
    return GbfsSettings(url=f"{feed.url}/gbfs.json", timeout_seconds=1.5, clock="wall", **kw)  # type: ignore[arg-type]


def stored(ds: Settings) -> list[tuple[str, datetime, int]]:
    return [
        (r["station_id"], r["last_reported"], r["num_bikes_available"])
        for r in rows(ds, "SELECT * FROM {station_status} ORDER BY station_id, last_reported")
    ]


def letters(ds: Settings) -> list[tuple[str, str, str | None]]:
    return [
        (r["feed"], r["reason"], r["station_id"])
        for r in rows(ds, "SELECT * FROM {gbfs_dead_letters} ORDER BY feed, reason, station_id")
    ]


def test_a_good_feed_is_stored_once_and_changes_add_rows(feed: FakeFeed, ds: Settings) -> None:
    at = NOW - timedelta(seconds=30)
    feed.status([station_status("A", 5, 15, at), station_status("B", 2, 8, at), station_status("C", 7, None, at)], T)
    first = poll(ds, gbfs(feed), now=NOW)
    assert first.dead_letters == {}
    assert [(f.feed, f.ok, f.rows_written) for f in first.fetches] == [
        ("gbfs", True, 0),
        ("station_information", True, 3),
        ("station_status", True, 3),
    ]
    assert first.fetches[2].unknown_stations == 1  # C publishes no capacity
    assert stored(ds) == [("A", at, 5), ("B", at, 2), ("C", at, 7)]

    again = poll(ds, gbfs(feed), now=NOW + timedelta(minutes=1))  # the same feed: nothing new
    assert [(f.rows_written, f.unchanged) for f in again.fetches[1:]] == [(0, 3), (0, 3)]
    assert len(stored(ds)) == 3

    later = NOW + timedelta(minutes=1)
    unchanged = [station_status("B", 2, 8, at), station_status("C", 7, None, at)]
    feed.status([station_status("A", 4, 16, later), *unchanged], T + 60)
    feed.information([*INFO[:2], station_information("C", 30)], T + 60)  # C's capacity is now known
    third = poll(ds, gbfs(feed), now=NOW + timedelta(minutes=2))
    assert [f.rows_written for f in third.fetches[1:]] == [1, 1]
    assert stored(ds)[:2] == [("A", at, 5), ("A", later, 4)]
    assert len(rows(ds, "SELECT * FROM {gbfs_fetches}")) == 9
    assert letters(ds) == []


def test_bad_stations_are_dead_letters_and_never_stored(feed: FakeFeed, ds: Settings) -> None:
    at = NOW - timedelta(seconds=30)
    feed.status([station_status("A", 5, 15, at)], T)
    poll(ds, gbfs(feed), now=NOW)
    feed.status(
        [
            station_status("A", 5, 15, at - timedelta(minutes=5)),  # older than the stored row
            station_status("B", 11, 0, at),  # over B's capacity 10
            {**station_status("C", 1, 1, at), "num_docks_available": -1},
            station_status("D", 1, 1, NOW + timedelta(minutes=7)),  # 6 min ahead of the wall clock
            {**station_status("E", 1, 1, at), "is_renting": "yes"},
            station_status("F", 3, 3, at),  # the one good new station (not in station_information: a warning)
        ],
        T,
    )
    result = poll(ds, gbfs(feed), now=NOW + timedelta(minutes=1))
    assert result.dead_letters == {
        "reported_before_stored": 1,
        "bikes_over_capacity": 1,
        "negative_count": 1,
        "reported_in_future": 1,
        "schema": 1,
    }
    assert letters(ds) == [
        ("station_status", "bikes_over_capacity", "B"),
        ("station_status", "negative_count", "C"),
        ("station_status", "reported_before_stored", "A"),
        ("station_status", "reported_in_future", "D"),
        ("station_status", "schema", "E"),
    ]
    assert [s for s, _, _ in stored(ds)] == ["A", "F"]
    payload = rows(ds, "SELECT payload FROM {gbfs_dead_letters} WHERE station_id = 'B'")[0]["payload"]
    assert '"num_bikes_available": 11' in payload


@pytest.mark.parametrize(
    ("route", "answer", "feed_name", "reason"),
    [
        ("/gbfs.json", {"status": 500, "doc": b"oops"}, "gbfs", "http_error"),
        ("/gbfs.json", {"status": 200, "doc": b"{}", "delay": 3.0}, "gbfs", "timeout"),
        ("/gbfs.json", {"status": 200, "doc": NO_FEEDS}, "gbfs", "schema"),
        ("/station_status.json", {"status": 503, "doc": b"busy"}, "station_status", "http_error"),
        ("/station_status.json", {"status": 200, "doc": b'{"last_updated": 1, "ttl": '}, "station_status", "bad_json"),
        ("/station_status.json", {"status": 200, "doc": {"last_updated": T, "ttl": 0}}, "station_status", "schema"),
        ("/station_status.json", {"status": 200, "doc": b"{}", "delay": 3.0}, "station_status", "timeout"),
        ("/station_information.json", {"status": 404, "doc": b"gone"}, "station_information", "http_error"),
    ],
)
def test_a_bad_file_is_one_dead_letter_and_the_poll_goes_on(
    feed: FakeFeed, ds: Settings, route: str, answer: dict, feed_name: str, reason: str
) -> None:
    feed.status([station_status("A", 5, 15, NOW - timedelta(seconds=5))], T)
    feed.set(route, answer["doc"], answer["status"], answer.get("delay", 0.0))
    result = poll(ds, gbfs(feed), now=NOW)  # never raises
    assert result.dead_letters == {reason: 1}
    assert letters(ds) == [(feed_name, reason, None)]
    fetched = {f.feed: f.ok for f in result.fetches}
    assert fetched[feed_name] is False
    # a broken information file still lets the status through (capacity from what is stored or the seed)
    assert [s for s, _, _ in stored(ds)] == (["A"] if feed_name == "station_information" else [])


def test_an_unreachable_feed_is_an_http_error(ds: Settings) -> None:
    result = poll(ds, GbfsSettings(url="http://127.0.0.1:1/gbfs.json", clock="wall"), now=NOW)
    assert result.dead_letters == {"http_error": 1}
    assert rows(ds, "SELECT ok FROM {gbfs_fetches}") == [{"ok": False}]


def test_the_ttl_is_honoured(feed: FakeFeed, ds: Settings) -> None:
    feed.status([station_status("A", 5, 15, NOW)], T, ttl=120)
    feed.information(INFO, T, ttl=3600)
    assert poll(ds, gbfs(feed), now=NOW).skipped is None
    skipped = poll(ds, gbfs(feed), now=NOW + timedelta(seconds=60))
    assert skipped.skipped is not None
    assert skipped.fetches == []
    later = poll(ds, gbfs(feed), now=NOW + timedelta(seconds=120))
    assert [f.feed for f in later.fetches] == ["gbfs", "station_status"]  # information's hour has not passed
    assert poll(ds, gbfs(feed), now=NOW + timedelta(seconds=130), force=True).fetches[1].feed == "station_information"


def test_due_caps_the_ttl() -> None:
    assert due(None, NOW)
    assert not due({"fetched_at": NOW, "ttl": 10**9}, NOW + timedelta(minutes=59))
    assert due({"fetched_at": NOW, "ttl": 10**9}, NOW + timedelta(hours=1))
    assert due({"fetched_at": NOW, "ttl": 0}, NOW)


def test_fetch_limits_a_slow_trickle(feed: FakeFeed) -> None:
    feed.set("/slow", b"x" * 10, delay=2.0)
    with pytest.raises(Exception, match="timeout"):
        fetch(feed.url + "/slow", timeout=0.5)


def test_inventory_as_of_reads_the_newest_status_at_or_before_the_hour(feed: FakeFeed, ds: Settings) -> None:
    hour = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)
    before, after = hour - timedelta(minutes=10), hour + timedelta(minutes=10)
    feed.status([station_status("A", 5, 15, before), station_status("B", 1, 9, before)], T)
    poll(ds, gbfs(feed), now=NOW)
    feed.status([station_status("A", 9, 11, after), station_status("B", 1, 9, before)], T)
    poll(ds, gbfs(feed), now=NOW + timedelta(minutes=1))
    frame = inventory_as_of(hour, ds)
    assert list(frame.columns) == [
        "station_id",
        "bikes",
        "docks",
        "capacity",
        "lat",
        "lon",
        "name",
        "last_reported",
        "is_renting",
        "is_returning",
    ]
    assert frame[["station_id", "bikes", "docks", "capacity"]].values.tolist() == [["A", 5, 15, 20], ["B", 1, 9, 10]]
    assert frame["last_reported"].tolist() == [before, before]
    assert frame["name"].tolist() == ["Station A", "Station B"]
    assert inventory_as_of(hour + timedelta(hours=1), ds)["bikes"].tolist() == [9, 1]
    assert inventory_as_of(hour - timedelta(hours=1), ds).empty


def test_inventory_falls_back_to_the_stations_seed(ds: Settings) -> None:
    from include.gcp import clients

    client = clients.bigquery_client(ds)
    client.query(
        f"CREATE TABLE `{ds.table_id('stations')}` AS "
        "SELECT '3186' AS station_id, 'Grove St PATH' AS name, 40.7196 AS lat, -74.0431 AS lon, 23 AS capacity"
    ).result()
    client.insert_rows_json(
        ds.table_id("station_status"),
        [
            {
                "station_id": "3186",
                "last_reported": "2019-09-29T07:55:00Z",
                "num_bikes_available": 4,
                "num_docks_available": 19,
                "is_installed": True,
                "is_renting": True,
                "is_returning": True,
                "fetched_at": "2026-12-07T12:00:00Z",
                "system_id": "citibike-jc",
            }
        ],
    )
    frame = inventory_as_of(datetime(2019, 9, 29, 8, tzinfo=UTC), ds)
    assert frame[["station_id", "bikes", "capacity", "name"]].values.tolist() == [["3186", 4, 23, "Grove St PATH"]]
