"""The GBFS path per system (issue 24): two systems share the four tables and a station id, yet their rows, dedupe
and ttl stay apart; one system's feed down dead-letters that system only; the local server keeps a feed per system;
an old station_status table's rows become Jersey City's."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from include.gbfs.feed import read_information, read_status
from include.gbfs.poll import ensure_tables, poll
from include.gbfs.server import LocalFeed, LocalFeeds, make_handler
from include.gbfs.settings import GbfsSettings, feed_url
from include.gbfs.status import inventory_as_of
from include.gcp import clients, resources
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings
from include.gcp.tables import STATION_STATUS_SPEC
from include.systems import DEFAULT_SYSTEM
from tests.gbfs.fake_feed import FakeFeed, fake_feed, gbfs_dataset, rows, station_information, station_status

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
JC, PHX = DEFAULT_SYSTEM, "phx"
SYSTEMS_CSV = (
    "system_id,name,time_zone,gbfs_url,trip_source,trucks,truck_capacity,depot_lat,depot_lon,enabled\n"
    "citibike-jc,Jersey City,America/New_York,https://gbfs.example/jc/gbfs.json,citibike,2,20,,,true\n"
    "phx,Phoenix,America/Phoenix,https://gbfs.example/phx/gbfs.json,syn,2,20,,,true\n"
)


@pytest.fixture
def two_systems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    table = tmp_path / "systems.csv"
    table.write_text(SYSTEMS_CSV)
    monkeypatch.setenv("BIKESHARE_SYSTEMS_FILE", str(table))
    return table


@pytest.fixture
def feeds() -> Iterator[tuple[FakeFeed, FakeFeed]]:
    with fake_feed() as jc, fake_feed() as phx:
        for feed in (jc, phx):
            feed.discovery(last_updated=T)
        jc.information([station_information("100", 20, "Grove St")], T)
        phx.information([station_information("100", 8, "Roosevelt Row")], T)
        yield jc, phx


@pytest.fixture
def ds(test_settings: Settings, two_systems: Path) -> Iterator[Settings]:
    with gbfs_dataset(test_settings) as s:
        yield s


def gbfs(feed: FakeFeed) -> GbfsSettings:
    return GbfsSettings(url=f"{feed.url}/gbfs.json", timeout_seconds=1.5, clock="wall")


def by_system(ds: Settings, table: str, columns: str) -> list[tuple[Any, ...]]:
    sql = f"SELECT system_id, {columns} FROM {{{table}}} ORDER BY system_id, {columns}"
    return [tuple(r.values()) for r in rows(ds, sql)]


# --- settings -------------------------------------------------------------------------------------------------


def test_each_system_has_its_own_feed_url(two_systems: Path) -> None:
    local, gcp = Settings(), Settings(profile="gcp", project="p", bucket="b")
    assert feed_url(local) == "http://127.0.0.1:8097/gbfs.json"  # the default system keeps the old path
    assert feed_url(local.for_system(PHX)) == "http://127.0.0.1:8097/phx/gbfs.json"
    assert feed_url(gcp.for_system(PHX)) == "https://gbfs.example/phx/gbfs.json"  # the systems table's
    assert feed_url(gcp) == "https://gbfs.example/jc/gbfs.json"
    override = {"BIKESHARE_GBFS_URL": "https://override/gbfs.json"}
    assert GbfsSettings.from_env(gcp, override).url == "https://override/gbfs.json"
    assert GbfsSettings.from_env(gcp.for_system(PHX), override).url == "https://gbfs.example/phx/gbfs.json"


# --- the poller on the emulator ---------------------------------------------------------------------------------


def test_two_systems_with_one_station_id_stay_apart(feeds: tuple[FakeFeed, FakeFeed], ds: Settings) -> None:
    jc_feed, phx_feed = feeds
    jc, phx = ds.for_system(JC), ds.for_system(PHX)
    at = NOW - timedelta(minutes=1)
    jc_feed.status([station_status("100", 5, 15, at)], T, ttl=120)
    phx_feed.status([station_status("100", 3, 5, at - timedelta(minutes=10))], T)  # older than Jersey City's "100"
    first = [poll(jc, gbfs(jc_feed), now=NOW), poll(phx, gbfs(phx_feed), now=NOW)]
    assert [r.dead_letters for r in first] == [{}, {}]  # phx's older report is not "before the stored" (JC's)
    assert [r.system_id for r in first] == [JC, PHX]
    assert by_system(ds, "station_status", "station_id, num_bikes_available") == [(JC, "100", 5), (PHX, "100", 3)]
    assert by_system(ds, "station_information", "station_id, capacity") == [(JC, "100", 20), (PHX, "100", 8)]
    assert by_system(ds, "gbfs_fetches", "feed") == [
        (JC, "gbfs"),
        (JC, "station_information"),
        (JC, "station_status"),
        (PHX, "gbfs"),
        (PHX, "station_information"),
        (PHX, "station_status"),
    ]

    # a minute on: Jersey City's ttl (120 s) holds it, phx's (0) does not; phx's rerun stores nothing twice
    later = NOW + timedelta(minutes=1)
    assert poll(jc, gbfs(jc_feed), now=later).skipped is not None
    again = poll(phx, gbfs(phx_feed), now=later)
    assert again.skipped is None
    assert [(f.feed, f.rows_written, f.unchanged) for f in again.fetches[1:]] == [
        ("station_information", 0, 1),
        ("station_status", 0, 1),
    ]
    # phx's report older than its own stored one is its dead letter, not Jersey City's
    phx_feed.status([station_status("100", 2, 6, at - timedelta(minutes=20))], T)
    assert poll(phx, gbfs(phx_feed), now=later + timedelta(minutes=1)).dead_letters == {"reported_before_stored": 1}
    assert by_system(ds, "gbfs_dead_letters", "reason") == [(PHX, "reported_before_stored")]

    # each system's plan reads its own stock and capacity
    hour = NOW.replace(minute=0) + timedelta(hours=1)
    assert inventory_as_of(hour, jc)[["station_id", "bikes", "capacity"]].values.tolist() == [["100", 5, 20]]
    assert inventory_as_of(hour, phx)[["station_id", "bikes", "capacity"]].values.tolist() == [["100", 3, 8]]


def test_one_systems_feed_down_dead_letters_that_system_only(feeds: tuple[FakeFeed, FakeFeed], ds: Settings) -> None:
    jc_feed, _ = feeds
    jc_feed.status([station_status("100", 5, 15, NOW - timedelta(seconds=30))], T)
    down = GbfsSettings(url="http://127.0.0.1:1/gbfs.json", clock="wall")
    assert poll(ds.for_system(PHX), down, now=NOW).dead_letters == {"http_error": 1}
    assert poll(ds.for_system(JC), gbfs(jc_feed), now=NOW).dead_letters == {}
    assert by_system(ds, "gbfs_dead_letters", "feed, reason") == [(PHX, "gbfs", "http_error")]
    assert by_system(ds, "gbfs_fetches", "feed, ok") == [
        (JC, "gbfs", True),
        (JC, "station_information", True),
        (JC, "station_status", True),
        (PHX, "gbfs", False),
    ]
    assert by_system(ds, "station_status", "station_id") == [(JC, "100")]


def test_an_old_station_status_table_becomes_jersey_citys(test_settings: Settings) -> None:
    """The copy-refill migration (include/gcp/resources.py, run by ensure_tables) gives the rows before the column
    citibike-jc, and the poller then reads them as that system's: a rerun of the same report stores nothing twice."""
    with gbfs_dataset(test_settings) as ds:
        client = clients.bigquery_client(ds)
        table_id = ds.table_id(STATION_STATUS_SPEC.name)
        old = replace(STATION_STATUS_SPEC, schema=tuple(f for f in STATION_STATUS_SPEC.schema if f.name != "system_id"))
        client.delete_table(table_id)
        client.create_table(old.to_table(table_id))
        at = NOW - timedelta(seconds=30)
        old_row = {**station_status("100", 5, 15, at), "fetched_at": format_ts(NOW - timedelta(hours=1))}
        old_row["last_reported"] = format_ts(at)
        assert client.insert_rows_json(table_id, [old_row]) == []

        done = ensure_tables(ds)  # what bikeshare_inventory's systems task runs before the polls
        assert done == [f"table {table_id} (added system_id): exists"]
        assert rows(ds, "SELECT system_id, station_id FROM {station_status}") == [
            {"system_id": JC, "station_id": "100"}
        ]
        assert ensure_tables(ds) == []  # a second run: a no-op
        assert "added" not in str(resources.ensure_table(STATION_STATUS_SPEC, ds))

        with fake_feed() as feed:
            feed.discovery(last_updated=T)
            feed.information([station_information("100", 20)], T)
            feed.status([station_status("100", 5, 15, at)], T)
            result = poll(ds, gbfs(feed), now=NOW)
        assert result.fetches[-1].unchanged == 1  # the migrated row is Jersey City's newest stored report
        assert len(rows(ds, "SELECT * FROM {station_status}")) == 1


# --- the local server -----------------------------------------------------------------------------------------


def event(n: int, system_id: str, station: str, kind: str, minutes: float) -> Event:
    ts = datetime(2019, 9, 29, 8, tzinfo=UTC) + timedelta(minutes=minutes)
    return Event(ts, f"ev{n}", station, kind, system_id=system_id)  # type: ignore[arg-type]


def apply(feeds: LocalFeeds, events: list[Event]) -> list[str]:
    return [feeds.apply(e.to_json(), {"simulated_now": format_ts(e.ts)}) for e in events]


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@pytest.fixture
def two_feeds(two_systems: Path, tmp_path: Path) -> LocalFeeds:
    """Jersey City from its snapshot ("100", capacity 2); phx from BIKESHARE_GBFS_STATION_INFORMATION_DIR ("100", 4)."""
    snapshot = tmp_path / "jc.json"
    snapshot.write_text(json.dumps({"data": {"stations": [station_information("100", 2, "Grove St")]}}))
    folder = tmp_path / "country"
    (folder / PHX).mkdir(parents=True)
    phx = {"data": {"stations": [station_information("100", 4, "Roosevelt Row")]}}
    (folder / PHX / "station_information.json").write_text(json.dumps(phx))
    g = GbfsSettings(url="http://127.0.0.1:1/gbfs.json", station_information=snapshot, station_information_dir=folder)
    assert g.station_information_of(PHX) == folder / PHX / "station_information.json"
    assert g.station_information_of("other") is None  # no snapshot: its events define its stations

    from include.gbfs.server import load_snapshot

    return LocalFeeds.start(lambda system_id: load_snapshot(p) if (p := g.station_information_of(system_id)) else [])


def test_the_server_keeps_a_feed_per_system(two_feeds: LocalFeeds) -> None:
    outcomes = apply(
        two_feeds,
        [
            event(1, JC, "100", "pickup", 1),  # JC "100": 1 -> 0
            event(1, PHX, "100", "dropoff", 2),  # the same event id and station id in phx: 2 -> 3
            event(2, PHX, "100", "dropoff", 3),  # 3 -> 4 (full)
            event(3, PHX, "200", "pickup", 4),  # a station only phx's events name
        ],
    )
    assert outcomes == ["applied"] * 4
    assert apply(two_feeds, [event(1, PHX, "100", "dropoff", 2)]) == ["duplicate"]  # deduped within phx
    assert two_feeds.apply(b"{not json") == "bad_json"  # names no system: counted on the default one
    unknown = Event(datetime(2019, 9, 29, 8, 5, tzinfo=UTC), "ev9", "100", "pickup", system_id="gotham")
    assert two_feeds.apply(unknown.to_json()) == "unknown_system"

    jc, phx = two_feeds.feed(JC), two_feeds.feed(PHX)
    assert jc is not None
    assert phx is not None
    jc_status = {s["station_id"]: s["num_bikes_available"] for s in jc.status()["data"]["stations"]}
    phx_status = {s["station_id"]: s["num_bikes_available"] for s in phx.status()["data"]["stations"]}
    assert jc_status == {"100": 0}
    assert phx_status == {"100": 4, "200": 0}
    assert phx.status()["last_updated"] == int(datetime(2019, 9, 29, 8, 4, tzinfo=UTC).timestamp())  # its own clock
    assert jc.inventory()["messages"] == {"applied": 1, "bad_json": 1, "unknown_system": 1}
    assert phx.inventory()["messages"] == {"applied": 3, "duplicate": 1}
    assert phx.inventory()["stations"][0]["full_minutes"] == 1.0

    # a single system's feed refuses another system's event rather than mixing it in
    assert LocalFeed([], system_id=JC).apply(event(5, PHX, "100", "pickup", 1).to_json()) == "other_system"

    # every system's state survives a restart; a file from before systems is the default system's
    again = LocalFeeds.from_state(json.loads(json.dumps(two_feeds.to_state())))
    assert {k: f.status() for k, f in again.feeds.items()} == {JC: jc.status(), PHX: phx.status()}
    assert apply(again, [event(2, PHX, "100", "dropoff", 3)]) == ["duplicate"]
    old = LocalFeeds.from_state({k: v for k, v in jc.to_state().items() if k != "system_id"})
    assert list(old.feeds) == [JC]
    assert old.default.status() == jc.status()


def test_the_server_serves_every_systems_feed_over_http(two_feeds: LocalFeeds) -> None:
    apply(two_feeds, [event(1, JC, "100", "pickup", 1), event(1, PHX, "100", "dropoff", 2)])
    http = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(two_feeds))
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    try:
        served = {}
        for system_id, prefix in ((JC, f"/{JC}"), (PHX, f"/{PHX}"), ("old path", "")):
            urls = {f["name"]: f["url"] for f in get(f"{base}{prefix}/gbfs.json")["data"]["en"]["feeds"]}
            assert urls["station_status"] == f"{base}{prefix}/station_status.json"
            info = read_information(json.dumps(get(urls["station_information"])).encode())
            capacity = {s.station_id: s.capacity for s in info.stations}
            body = json.dumps(get(urls["station_status"])).encode()
            status = read_status(body, capacity=capacity, stored={}, clock=None)
            assert info.dead_letters == []  # the poller's own contract
            assert status.dead_letters == []
            served[system_id] = [(r.station_id, r.num_bikes_available, capacity[r.station_id]) for r in status.rows]
        assert served == {JC: [("100", 0, 2)], PHX: [("100", 3, 4)], "old path": [("100", 0, 2)]}
        assert get(f"{base}/{PHX}/inventory.json")["messages"] == {"applied": 1}
        for missing in ("/gotham/gbfs.json", f"/{PHX}/free_bike_status.json", f"/{PHX}/x/gbfs.json"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                get(base + missing)
    finally:
        http.shutdown()
        http.server_close()


def test_the_server_serves_the_synthetic_countrys_stations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m include.simulator --country 2x50 --out DIR``'s files: each system starts from its own snapshot,
    found through BIKESHARE_GBFS_STATION_INFORMATION_DIR (and its systems table through BIKESHARE_SYSTEMS_FILE)."""
    from include.gbfs.server import load_snapshot
    from include.simulator.country import CountrySpec, write_country

    files = write_country(CountrySpec(2, 50), tmp_path)
    monkeypatch.setenv("BIKESHARE_SYSTEMS_FILE", files["systems_file"])
    environ = {"BIKESHARE_GBFS_STATION_INFORMATION_DIR": str(tmp_path)}
    g = GbfsSettings.from_env(Settings(), environ)
    feeds = LocalFeeds.start(lambda system_id: load_snapshot(p) if (p := g.station_information_of(system_id)) else [])
    counts = {k: len(read_information(json.dumps(f.information()).encode()).stations) for k, f in feeds.feeds.items()}
    assert counts == {"syn-01": 50, "syn-02": 50}
