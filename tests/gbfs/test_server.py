"""The local GBFS feed (include/gbfs/server.py): stock rebuilt from events, served over real HTTP.

The unit part drives :class:`LocalFeed` with message bytes; the integration part starts the server on a free
port, publishes events to the Pub/Sub emulator and reads the feed with a real HTTP client. Every document the
server serves must pass the poller's own contract (include/gbfs/feed.py) without a dead letter.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import NotFound

from include.gbfs.feed import read_discovery, read_information, read_status
from include.gbfs.server import FeedServer, LocalFeed, Station, load_snapshot
from include.gbfs.settings import GbfsSettings
from include.gcp import clients, resources
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings
from include.rebalancing.inventory import UNKNOWN_CAPACITY
from include.simulator.trip_data import VENDORED_STATION_INFORMATION

T0 = datetime(2019, 9, 29, 8, 0, tzinfo=UTC)
SNAPSHOT = VENDORED_STATION_INFORMATION  # the real Citi Bike snapshot, gzipped in the repository
STATIONS = [
    Station("A", "Grove St PATH", 40.7196, -74.0431, "JC005", 2),  # starts with 1 bike
    Station("B", "Newport PATH", 40.7272, -74.0338, "JC066", 3),  # starts with 1 bike
    Station("C", "Retired", 40.7, -74.0, None, UNKNOWN_CAPACITY),  # capacity 0 in the snapshot
]


def event(n: int, station: str, kind: str, minutes: float) -> Event:
    return Event(T0 + timedelta(minutes=minutes), f"ev{n}-{kind[0]}", station, kind)  # type: ignore[arg-type]


def attrs(e: Event) -> dict[str, str]:
    return {"simulated_now": format_ts(e.ts)}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def test_clamping_failures_duplicates_and_refusals() -> None:
    feed = LocalFeed(STATIONS)
    assert encode(feed.status()) == encode({"last_updated": 0, "ttl": 60, "version": "2.3", "data": {"stations": []}})
    events = [
        event(1, "A", "pickup", 1),  # A: 1 -> 0
        event(2, "A", "pickup", 2),  # A empty: failed pickup
        event(3, "B", "dropoff", 3),  # B: 1 -> 2
        event(4, "B", "dropoff", 4),  # B: 2 -> 3 (full)
        event(5, "B", "dropoff", 5),  # B full: failed return
        event(6, "Z9", "dropoff", 6),  # unknown station: appended, unknown capacity
    ]
    assert [feed.apply(e.to_json(), attrs(e)) for e in events] == ["applied"] * 6
    assert feed.apply(events[0].to_json(), attrs(events[0])) == "duplicate"
    changed = Event(events[0].ts, events[0].event_id, "B", "pickup")
    assert feed.apply(changed.to_json(), attrs(changed)) == "conflicting_duplicate"
    assert feed.apply(b"{not json", {}) == "bad_json"
    late = event(7, "A", "dropoff", -3 * 24 * 60)
    assert feed.apply(late.to_json(), attrs(events[-1])) == "too_late"  # judged by the message's replay clock

    status = {s["station_id"]: s for s in feed.status()["data"]["stations"]}
    assert status["A"]["num_bikes_available"] == 0
    assert status["A"]["num_docks_available"] == 2
    assert status["B"]["num_bikes_available"] == 3
    assert status["B"]["num_docks_available"] == 0
    assert "num_docks_available" not in status["C"]  # unknown capacity: no promise of docks
    assert status["Z9"]["num_bikes_available"] == 1
    assert status["A"]["last_reported"] == int((T0 + timedelta(minutes=2)).timestamp())
    assert status["C"]["last_reported"] == int((T0 + timedelta(minutes=1)).timestamp())  # the start snapshot's date
    assert feed.status()["last_updated"] == int((T0 + timedelta(minutes=6)).timestamp())

    inventory = feed.inventory()
    assert (inventory["failed_pickups"], inventory["failed_returns"]) == (1, 1)
    assert inventory["messages"] == {
        "applied": 6,
        "bad_json": 1,
        "conflicting_duplicate": 1,
        "duplicate": 1,
        "too_late": 1,
    }
    by_id = {s["station_id"]: s for s in inventory["stations"]}
    assert by_id["A"]["empty_minutes"] == 5.0  # empty since minute 1, the clock at minute 6
    assert by_id["B"]["full_minutes"] == 2.0  # full since minute 4


def test_served_documents_pass_the_pollers_contract() -> None:
    feed = LocalFeed(STATIONS)
    for n, e in enumerate([event(1, "A", "pickup", 1), event(2, "Z9", "dropoff", 2)]):
        assert feed.apply(e.to_json(), attrs(e)) == "applied", n
    discovery = read_discovery(encode(feed.discovery("http://127.0.0.1:1")))
    assert not hasattr(discovery, "reason"), discovery
    info = read_information(encode(feed.information()))
    assert info.dead_letters == []
    assert [s.station_id for s in info.stations] == ["A", "B", "C"]
    assert [s.capacity for s in info.stations] == [2, 3, None]
    capacity = {s.station_id: s.capacity for s in info.stations}
    status = read_status(encode(feed.status()), capacity=capacity, stored={}, clock=None)
    assert status.dead_letters == []
    assert [r.station_id for r in status.rows] == ["A", "B", "C", "Z9"]
    assert status.unknown_stations == ["C", "Z9"]


def test_state_round_trips_through_json(tmp_path: Path) -> None:
    feed = LocalFeed(STATIONS)
    for e in [event(1, "A", "pickup", 1), event(2, "A", "pickup", 2), event(3, "Q", "dropoff", 3)]:
        feed.apply(e.to_json(), attrs(e))
    feed.save(tmp_path / "state.json")
    again = LocalFeed.from_state(json.loads((tmp_path / "state.json").read_text()))
    assert again.status() == feed.status()
    assert again.inventory() == feed.inventory()
    e = event(1, "A", "pickup", 1)
    assert again.apply(e.to_json(), attrs(e)) == "duplicate"


def test_the_real_snapshot_loads_with_retired_docks_unknown() -> None:
    stations = load_snapshot(SNAPSHOT)
    assert len(stations) == 1587
    assert sum(s.capacity == UNKNOWN_CAPACITY for s in stations) == 26  # capacity 0 in the snapshot
    info = read_information(encode(LocalFeed(stations).information()))
    assert info.dead_letters == []
    assert len(info.stations) == 1587


def test_the_server_serves_the_data_folders_snapshot_else_the_vendored_one(tmp_path: Path) -> None:
    def snapshot(environ: dict[str, str]) -> Path:
        return GbfsSettings.from_env(Settings(trips_data_dir=tmp_path), environ).station_information

    assert snapshot({}) == SNAPSHOT
    (tmp_path / "station_information.json").write_text('{"data": {"stations": []}}')
    assert snapshot({}) == tmp_path / "station_information.json"
    assert snapshot({"BIKESHARE_GBFS_STATION_INFORMATION": str(tmp_path / "other.json")}) == tmp_path / "other.json"


# --- a real server, real Pub/Sub ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def snapshot_file(path: Path) -> Path:
    stations = [
        {"station_id": s.station_id, "name": s.name, "lat": s.lat, "lon": s.lon, "capacity": max(s.capacity, 0)}
        for s in STATIONS
    ]
    path.write_text(json.dumps({"last_updated": 1, "ttl": 5, "data": {"stations": stations}}))
    return path


@pytest.fixture
def own_topic(test_settings: Settings) -> Iterator[Settings]:
    """A topic of the test's own: its events (and its "not an event") must not reach the session's subscription,
    which other tests count messages on."""
    settings = test_settings.with_names(topic=f"gbfs-test-events-{uuid.uuid4().hex[:8]}")
    resources.ensure_topic(settings)
    try:
        yield settings
    finally:
        with suppress(NotFound):
            clients.publisher_client(settings).delete_topic(topic=settings.topic_path)


@pytest.fixture
def feed_server(own_topic: Settings, tmp_path: Path) -> Iterator[tuple[FeedServer, GbfsSettings]]:
    test_settings = own_topic
    gbfs = GbfsSettings(
        url="http://127.0.0.1:1/gbfs.json",
        subscription=f"gbfs-test-{uuid.uuid4().hex[:8]}",
        station_information=snapshot_file(tmp_path / "station_information.json"),
        state_file=tmp_path / "state.json",
    )
    server = FeedServer(test_settings, gbfs, "127.0.0.1", free_port()).start()
    try:
        yield server, gbfs
    finally:
        server.stop()
        with suppress(NotFound), clients.subscriber_client(test_settings) as subscriber:
            subscriber.delete_subscription(subscription=server.listener.subscription)


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def publish(settings: Settings, events: list[Event]) -> None:
    publisher = clients.publisher_client(settings)
    for future in [publisher.publish(settings.topic_path, e.to_json(), **attrs(e)) for e in events]:
        future.result(timeout=30)


def _saved(gbfs: GbfsSettings) -> dict:
    return json.loads(gbfs.state_file.read_text())["systems"]["citibike-jc"]


def test_the_server_rebuilds_stock_from_published_events(
    feed_server: tuple[FeedServer, GbfsSettings], own_topic: Settings
) -> None:
    test_settings = own_topic
    server, gbfs = feed_server
    wait_for(lambda: server.listener.thread.is_alive() and _subscribed(test_settings, server))
    discovery = get(server.url + "/gbfs.json")
    urls = {f["name"]: f["url"] for f in discovery["data"]["en"]["feeds"]}
    assert urls["station_status"] == server.url + "/station_status.json"  # from the Host the client used
    events = [
        event(1, "A", "pickup", 1),
        event(2, "A", "pickup", 2),  # failed: A is empty
        event(3, "B", "dropoff", 3),
        event(4, "B", "dropoff", 4),
        event(5, "B", "dropoff", 5),  # failed: B is full
    ]
    publish(test_settings, events + events[:2])  # the copies are duplicates
    publisher = clients.publisher_client(test_settings)
    publisher.publish(test_settings.topic_path, b"not an event").result(timeout=30)
    wait_for(lambda: sum(get(server.url + "/inventory.json")["messages"].values()) == 8)

    status = {s["station_id"]: s for s in get(urls["station_status"])["data"]["stations"]}
    assert (status["A"]["num_bikes_available"], status["B"]["num_bikes_available"]) == (0, 3)
    inventory = get(server.url + "/inventory.json")
    assert (inventory["failed_pickups"], inventory["failed_returns"]) == (1, 1)
    assert inventory["messages"] == {"applied": 5, "duplicate": 2, "bad_json": 1}
    # saved before the acks, once the pulled batch is applied (the counts above are the memory's: they lead the file)
    wait_for(lambda: gbfs.state_file.exists() and _saved(gbfs)["counts"]["applied"] == 5)

    # a restart reads the saved state: nothing lost, a redelivered copy not counted twice
    server.stop()
    again = FeedServer(test_settings, gbfs, "127.0.0.1", free_port()).start()
    try:
        publish(test_settings, [events[0], event(9, "B", "pickup", 9)])
        wait_for(lambda: get(again.url + "/inventory.json")["messages"].get("duplicate") == 3)
        wait_for(lambda: get(again.url + "/inventory.json")["messages"]["applied"] == 6)
        status = {s["station_id"]: s for s in get(again.url + "/station_status.json")["data"]["stations"]}
        assert (status["A"]["num_bikes_available"], status["B"]["num_bikes_available"]) == (0, 2)
    finally:
        again.stop()
    server.listener.subscription = again.listener.subscription  # the fixture deletes it


def _subscribed(settings: Settings, server: FeedServer) -> bool:
    try:
        with clients.subscriber_client(settings) as subscriber:
            subscriber.get_subscription(subscription=server.listener.subscription)
        return True
    except NotFound:
        return False


def test_unknown_paths_are_404(feed_server: tuple[FeedServer, GbfsSettings]) -> None:
    server, _ = feed_server
    with pytest.raises(urllib.error.HTTPError, match="404"):
        get(server.url + "/free_bike_status.json")
