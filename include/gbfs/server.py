"""The local profile's GBFS feed: a real HTTP server on 127.0.0.1 whose stock is rebuilt from the published events.

``python -m include.gbfs.server`` (started by ``make stack-up`` with the emulators, :mod:`include.localstack`)
serves one GBFS v2.3 feed per system of the systems table (:mod:`include.systems`): ``/{system_id}/gbfs.json``,
``station_information.json`` and ``station_status.json``, plus ``inventory.json``: the failure counts and
empty/full minutes per station (totals over the stations of known capacity), and what it did with the messages.
The default system's feed is also at the old paths (``/gbfs.json``, ...), so a single-system setup keeps working.

- **Systems**: each system's stock, clock and dedupe are its own (:class:`LocalFeed`); an event goes to the feed of
  its ``system_id`` (:class:`LocalFeeds`), so two systems may share a station id. A refused message is counted on
  the system it names when that is known, else on the default system.
- **Stations**: the default system's are the real Citi Bike ``station_information.json`` snapshot
  (``BIKESHARE_GBFS_STATION_INFORMATION``, default the trip data folder's, else the copy vendored in
  include/simulator/data; 1,587 stations). A capacity of 0 there (26 stations, retired before the snapshot but in
  the 2019 trips) is served as unknown (no ``capacity``), as is a station that appears only in the events (3426
  and 459 in the Jersey City trips): unknown capacity is clamped below only and has no ``num_docks_available``
  (:mod:`include.rebalancing.inventory`).
  Another system's are ``BIKESHARE_GBFS_STATION_INFORMATION_DIR/{system_id}/station_information.json`` when that
  exists (``python -m include.simulator --country KxN --out DIR`` writes them), else only those its events name.
- **Stock**: it learns every event from its own subscription on the events topic
  (``BIKESHARE_GBFS_SUBSCRIPTION``, default ``<topic>-gbfs``, created with the topic if missing), so every path
  that publishes — the replay, the synthetic fleet — feeds it. Each message is validated by the event contract
  (:func:`include.gcp.events.classify`, judged by its ``simulated_now`` when it has one) and deduplicated on
  ``(system_id, event_id)`` within the late-event window; a refused one is counted by reason, never applied. A
  pickup takes a bike, a dropoff returns one, clamped to ``[0, capacity]``; an attempt at an empty or full dock
  is a failed pickup / failed return.
- **Start snapshot**: every station half full (``capacity // 2``,
  :func:`~include.rebalancing.inventory.start_snapshot`), dated by the first event's replay time, which every
  station's ``last_reported`` takes; until that event the status lists no station (``last_updated`` 0: the
  feed has no time yet).
- **Time**: the feed lives in the replay's time: ``last_updated`` is the newest replay time seen (``simulated_now``,
  else the event's time), a station's ``last_reported`` the time of its newest event. The poller therefore judges
  "in the future" against ``last_updated`` locally (``BIKESHARE_GBFS_CLOCK=feed``), the wall clock on gcp.
- **Durable**: every system's stock and recent event ids are written to ``.local/gbfs/state.json`` before the
  messages are acknowledged, so a restart neither loses nor double-counts an event; ``make clean`` (or ``--reset``)
  starts from the snapshot again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from include.gbfs.settings import GbfsSettings
from include.gcp.events import Event, Limits, Rejection, classify, simulated_now
from include.gcp.settings import Settings, get_settings
from include.rebalancing.inventory import DROPOFF, PICKUP, UNKNOWN_CAPACITY, Docks
from include.simulator.trip_data import load_station_information
from include.systems import DEFAULT_SYSTEM, all_systems, is_known

log = logging.getLogger(__name__)
STATE_VERSION = 1  # one system's state (LocalFeed); a file of this version is the default system's
SERVER_STATE_VERSION = 2  # every system's: {"version": 2, "systems": {system_id: <version 1>}}
FILES = ("gbfs", "station_information", "station_status", "inventory")
SAVE_EVERY_S = 2.0  # messages are acknowledged once the state holding them is on disk


@dataclass(frozen=True)
class Station:
    station_id: str
    name: str
    lat: float
    lon: float
    short_name: str | None
    capacity: int  # UNKNOWN_CAPACITY where the snapshot has none or 0


def load_snapshot(path: Path) -> list[Station]:
    """The stations of a GBFS ``station_information.json`` file, gzipped or not (capacity 0 or absent: unknown)."""
    doc = load_station_information(path)
    out = []
    for s in doc["data"]["stations"]:
        capacity = s.get("capacity")
        out.append(
            Station(
                str(s["station_id"]),
                str(s["name"]),
                float(s["lat"]),
                float(s["lon"]),
                s.get("short_name"),
                capacity if isinstance(capacity, int) and capacity > 0 else UNKNOWN_CAPACITY,
            )
        )
    return out


class LocalFeed:
    """One system's feed: stations, the rebuilt docks, the replay clock, the event ids seen. Thread-safe."""

    def __init__(
        self, stations: list[Station], ttl: int = 60, limits: Limits | None = None, system_id: str = DEFAULT_SYSTEM
    ) -> None:
        self.system_id = system_id
        self.lock = threading.Lock()
        self.stations = list(stations)
        self.index = {s.station_id: i for i, s in enumerate(self.stations)}
        self.ttl = ttl
        self.limits = limits or Limits()
        self.docks: Docks | None = None  # None until the first event dates the start snapshot
        self.started_at: float | None = None
        self.clock: float | None = None
        self.last_reported: list[float] = []
        self.seen: dict[str, tuple[float, int]] = {}  # event_id -> (event time, fingerprint)
        self.counts: Counter[str] = Counter()  # applied, duplicate, and each refusal's reason

    # --- events -------------------------------------------------------------------------------------------

    def apply(self, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """One message: ``applied``, ``duplicate``, or the reason it was refused (never raises)."""
        now = simulated_now(dict(attributes or {}))
        return self.take(classify(data, now, self.limits), now)

    def take(self, result: Event | Rejection, now: datetime | None) -> str:
        """A classified message: applied when it is an event of this system (another's is ``other_system``)."""
        with self.lock:
            if not isinstance(result, Event):
                outcome = result.code
            elif result.system_id != self.system_id:
                outcome = "other_system"
            else:
                outcome = self._apply_event(result, now.timestamp() if now else None)
            self.counts[outcome] += 1
        return outcome

    def _apply_event(self, event: Event, now: float | None) -> str:
        t = event.ts.timestamp()
        known = self.seen.get(event.key)
        if known is not None:
            return "duplicate" if known[1] == event.fingerprint() else "conflicting_duplicate"
        clock = max(t, now if now is not None else t)
        if self.docks is None:
            self.started_at = clock
            self.docks = Docks.start([s.capacity for s in self.stations], at=clock)
            self.last_reported = [clock] * len(self.stations)
        i = self.index.get(event.station_id)
        if i is None:  # only in the events: capacity unknown, no name or coordinates
            i = len(self.stations)
            self.stations.append(Station(event.station_id, "", math.nan, math.nan, None, UNKNOWN_CAPACITY))
            self.index[event.station_id] = i
            self.docks = self.docks.grow([UNKNOWN_CAPACITY], at=t)
            self.last_reported.append(t)
        self.docks.apply(i, PICKUP if event.kind == "pickup" else DROPOFF, t)
        self.last_reported[i] = max(self.last_reported[i], t)
        self.seen[event.key] = (t, event.fingerprint())
        self.clock = clock if self.clock is None else max(self.clock, clock)
        if len(self.seen) % 10_000 == 0:
            self._forget()
        return "applied"

    def _forget(self) -> None:
        """Drop ids older than the late limit: a copy that old is refused as too_late anyway."""
        if self.clock is None:
            return
        cut = self.clock - self.limits.max_age.total_seconds() - self.limits.max_lead.total_seconds()
        self.seen = {k: v for k, v in self.seen.items() if v[0] >= cut}

    # --- documents ----------------------------------------------------------------------------------------

    def _header(self, data: dict[str, Any], ttl: int) -> dict[str, Any]:
        return {"last_updated": int(self.clock or 0), "ttl": ttl, "version": "2.3", "data": data}

    def discovery(self, base_url: str) -> dict[str, Any]:
        feeds = [{"name": n, "url": f"{base_url}/{n}.json"} for n in ("station_information", "station_status")]
        with self.lock:
            return self._header({"en": {"feeds": feeds}}, self.ttl)

    def information(self) -> dict[str, Any]:
        with self.lock:
            stations = []
            for s in self.stations:
                if not s.name:  # seen only in the events: nothing to describe
                    continue
                entry: dict[str, Any] = {"station_id": s.station_id, "name": s.name, "lat": s.lat, "lon": s.lon}
                if s.short_name:
                    entry["short_name"] = s.short_name
                if s.capacity != UNKNOWN_CAPACITY:
                    entry["capacity"] = s.capacity
                stations.append(entry)
            return self._header({"stations": stations}, self.ttl)

    def status(self) -> dict[str, Any]:
        with self.lock:
            stations = []
            if self.docks is not None:
                bikes, docks, cap = (
                    a.tolist() for a in (self.docks.bikes, self.docks.docks_available, self.docks.capacity)
                )
                for i, s in enumerate(self.stations):
                    entry: dict[str, Any] = {
                        "station_id": s.station_id,
                        "num_bikes_available": bikes[i],
                        "is_installed": True,
                        "is_renting": True,
                        "is_returning": True,
                        "last_reported": int(self.last_reported[i]),
                    }
                    if cap[i] != UNKNOWN_CAPACITY:
                        entry["num_docks_available"] = docks[i]
                    stations.append(entry)
            return self._header({"stations": stations}, self.ttl)

    def inventory(self) -> dict[str, Any]:
        """Failures and empty/full minutes per station (stations with any), and the message counts."""
        with self.lock:
            body: dict[str, Any] = {
                "last_updated": int(self.clock or 0),
                "started_at": int(self.started_at) if self.started_at is not None else None,
                "messages": dict(sorted(self.counts.items())),
                "failed_pickups": 0,
                "failed_returns": 0,
                "stations": [],
            }
            if self.docks is None or self.clock is None:
                body["unknown_capacity_stations"] = 0
                return body
            d = self.docks
            empty, full = d.empty_minutes(self.clock), d.full_minutes(self.clock)
            known = d.known  # totals of modelled docks; unknown capacity is a data-quality warning (listed)
            body["failed_pickups"] = int(d.failed_pickups[known].sum())
            body["failed_returns"] = int(d.failed_returns[known].sum())
            body["unknown_capacity_stations"] = int((~known).sum())
            for i, s in enumerate(self.stations):
                if d.failed_pickups[i] or d.failed_returns[i] or empty[i] or full[i] or not known[i]:
                    body["stations"].append(
                        {
                            "station_id": s.station_id,
                            "capacity": None if d.capacity[i] == UNKNOWN_CAPACITY else int(d.capacity[i]),
                            "bikes": int(d.bikes[i]),
                            "failed_pickups": int(d.failed_pickups[i]),
                            "failed_returns": int(d.failed_returns[i]),
                            "empty_minutes": round(float(empty[i]), 2),
                            "full_minutes": round(float(full[i]), 2),
                        }
                    )
            return body

    # --- state on disk ------------------------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        with self.lock:
            docks = None
            if self.docks is not None:
                docks = {
                    name: [
                        None if isinstance(v, float) and math.isnan(v) else v
                        for v in getattr(self.docks, name).tolist()
                    ]
                    for name in (
                        "capacity",
                        "bikes",
                        "failed_pickups",
                        "failed_returns",
                        "empty_since",
                        "full_since",
                        "empty_seconds",
                        "full_seconds",
                    )
                }
            return {
                "version": STATE_VERSION,
                "system_id": self.system_id,
                "stations": [[s.station_id, s.name, s.lat, s.lon, s.short_name, s.capacity] for s in self.stations],
                "docks": docks,
                "started_at": self.started_at,
                "clock": self.clock,
                "last_reported": self.last_reported,
                "seen": {k: list(v) for k, v in self.seen.items()},
                "counts": dict(self.counts),
            }

    @classmethod
    def from_state(cls, state: dict[str, Any], ttl: int = 60, limits: Limits | None = None) -> LocalFeed:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"state version {state.get('version')!r}, expected {STATE_VERSION}")
        stations = [
            Station(i, n, math.nan if lat is None else lat, math.nan if lon is None else lon, sn, c)
            for i, n, lat, lon, sn, c in state["stations"]
        ]
        feed = cls(stations, ttl, limits, state.get("system_id", DEFAULT_SYSTEM))
        if state["docks"] is not None:
            arrays = {k: [math.nan if v is None else v for v in vs] for k, vs in state["docks"].items()}
            feed.docks = Docks(**arrays)
        feed.started_at, feed.clock = state["started_at"], state["clock"]
        feed.last_reported = list(state["last_reported"])
        feed.seen = {k: (v[0], v[1]) for k, v in state["seen"].items()}
        feed.counts = Counter(state["counts"])
        return feed

    def save(self, path: Path) -> None:
        """Write the state atomically (a temp file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_state(), separators=(",", ":"), allow_nan=True))
        os.replace(tmp, path)


class LocalFeeds:
    """Every system's :class:`LocalFeed`, an event routed to its ``system_id``'s; the server's state.

    A system of the systems table without a feed yet (the table grew since the state was saved) gets one on its
    first event or request, from ``stations(system_id)``."""

    def __init__(
        self,
        feeds: Mapping[str, LocalFeed],
        ttl: int = 60,
        limits: Limits | None = None,
        stations: Callable[[str], list[Station]] | None = None,
        default_system: str = DEFAULT_SYSTEM,
    ) -> None:
        self.feeds = dict(feeds)
        self.ttl, self.limits = ttl, limits or Limits()
        self.stations = stations or (lambda _: [])
        self.default_system = default_system
        self.lock = threading.Lock()

    @classmethod
    def start(cls, stations: Callable[[str], list[Station]], ttl: int = 60, limits: Limits | None = None) -> LocalFeeds:
        """A feed per system of the systems table, each from its start snapshot."""
        feeds = cls({}, ttl, limits, stations)
        for system_id in all_systems():
            feeds.feed(system_id)
        return feeds

    @property
    def default(self) -> LocalFeed:
        feed = self.feed(self.default_system)
        assert feed is not None
        return feed

    def feed(self, system_id: str) -> LocalFeed | None:
        """The system's feed (made on first use for a system of the systems table); None: no such system."""
        with self.lock:
            feed = self.feeds.get(system_id)
            if feed is None and (system_id == self.default_system or is_known(system_id)):
                feed = self.feeds[system_id] = LocalFeed(self.stations(system_id), self.ttl, self.limits, system_id)
            return feed

    def apply(self, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """One message, applied to (or refused, counted on) its system's feed; outcomes as :meth:`LocalFeed.apply`."""
        now = simulated_now(dict(attributes or {}))
        result = classify(data, now, self.limits)
        named = result.system_id if result.system_id is not None else self.default_system
        feed = self.feed(named) if isinstance(result, Event) or is_known(named) else None
        return (feed or self.default).take(result, now)

    def to_state(self) -> dict[str, Any]:
        with self.lock:
            feeds = dict(self.feeds)
        return {"version": SERVER_STATE_VERSION, "systems": {k: f.to_state() for k, f in feeds.items()}}

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        ttl: int = 60,
        limits: Limits | None = None,
        stations: Callable[[str], list[Station]] | None = None,
    ) -> LocalFeeds:
        """Version 2, or a version 1 file (from before systems: the default system's)."""
        if state.get("version") == STATE_VERSION:
            systems = {DEFAULT_SYSTEM: {**state, "system_id": DEFAULT_SYSTEM}}
        elif state.get("version") == SERVER_STATE_VERSION:
            systems = state["systems"]
        else:
            raise ValueError(f"state version {state.get('version')!r}, expected {SERVER_STATE_VERSION}")
        feeds = {k: LocalFeed.from_state({**v, "system_id": k}, ttl, limits) for k, v in systems.items()}
        return cls(feeds, ttl, limits, stations)

    def save(self, path: Path) -> None:
        """Write every system's state atomically (a temp file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_state(), separators=(",", ":"), allow_nan=True))
        os.replace(tmp, path)


# --- Pub/Sub ---------------------------------------------------------------------------------------------


class EventListener:
    """Pulls the events topic through the feed's own subscription; acks only what the saved state holds."""

    def __init__(
        self, feed: LocalFeed | LocalFeeds, settings: Settings, gbfs: GbfsSettings, state_file: Path | None
    ) -> None:
        self.feed, self.settings, self.gbfs, self.state_file = feed, settings, gbfs, state_file
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name="gbfs-events", daemon=True)
        self.subscription = f"projects/{settings.project}/subscriptions/{gbfs.subscription}"

    def start(self) -> None:
        self.thread.start()

    def subscribe_now(self) -> None:
        """Make the subscription now when Pub/Sub answers (the listener retries it when it does not)."""
        from include.gcp import clients

        try:
            self.ensure_subscription(clients.subscriber_client(self.settings), timeout=5.0)
        except Exception as err:  # the emulator not up yet: the listener's loop makes it once it is
            log.warning("subscribing %s at start: %s (retried by the listener)", self.subscription, err)

    def ensure_subscription(self, subscriber: Any, timeout: float | None = None) -> None:
        from google.api_core import exceptions

        from include.gcp import clients

        limit: dict[str, Any] = {} if timeout is None else {"timeout": timeout, "retry": None}
        with contextlib.suppress(exceptions.AlreadyExists):
            clients.publisher_client(self.settings).create_topic(name=self.settings.topic_path, **limit)
        try:
            subscriber.create_subscription(
                request={"name": self.subscription, "topic": self.settings.topic_path, "ack_deadline_seconds": 60},
                **limit,
            )
            log.info("created %s on %s", self.subscription, self.settings.topic_path)
        except exceptions.AlreadyExists:
            pass

    def run(self) -> None:
        from google.api_core import exceptions

        from include.gcp import clients

        subscriber = None
        while not self.stop.is_set():
            try:
                if subscriber is None:
                    subscriber = clients.subscriber_client(self.settings)
                    self.ensure_subscription(subscriber)
                self._pull_and_apply(subscriber)
            except exceptions.NotFound:  # the emulator restarted: topic and subscription are gone
                subscriber = None
            except Exception as err:  # the emulator not up yet, a transport error: try again shortly
                log.warning("pulling %s: %s", self.subscription, err)
                subscriber = None
                self.stop.wait(2.0)

    def _pull_and_apply(self, subscriber: Any) -> None:
        from google.api_core import exceptions

        pending: list[str] = []
        deadline = time.monotonic() + SAVE_EVERY_S
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                response = subscriber.pull(subscription=self.subscription, max_messages=1000, timeout=1.0)
            except exceptions.DeadlineExceeded:
                break
            if not response.received_messages:
                break
            for m in response.received_messages:
                self.feed.apply(m.message.data, dict(m.message.attributes))
                pending.append(m.ack_id)
        if pending:
            if self.state_file is not None:
                self.feed.save(self.state_file)
            for start in range(0, len(pending), 1000):
                subscriber.acknowledge(subscription=self.subscription, ack_ids=pending[start : start + 1000])
        else:
            self.stop.wait(0.2)


# --- HTTP ------------------------------------------------------------------------------------------------


def route(feeds: LocalFeeds, path: str) -> tuple[LocalFeed, str, str] | None:
    """``/{system_id}/{file}.json`` (or the default system's ``/{file}.json``) -> (its feed, the file, the prefix
    of the system's URLs); None when no such system or file."""
    parts = path.strip("/").split("/")
    if len(parts) == 1:
        system_id, name, prefix = feeds.default_system, parts[0], ""
    elif len(parts) == 2:
        system_id, name, prefix = parts[0], parts[1], f"/{parts[0]}"
    else:
        return None
    if not name.endswith(".json") or name[: -len(".json")] not in FILES:
        return None
    feed = feeds.feed(system_id)
    return None if feed is None else (feed, name[: -len(".json")], prefix)


def make_handler(feed: LocalFeed | LocalFeeds) -> type[BaseHTTPRequestHandler]:
    feeds = feed if isinstance(feed, LocalFeeds) else LocalFeeds({feed.system_id: feed}, default_system=feed.system_id)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host, port = self.server.server_address[:2]
            found = route(feeds, self.path.split("?", 1)[0])
            if found is None:
                self.send_error(404, "not a GBFS file of a system of this server")
                return
            feed, name, prefix = found
            base = f"http://{self.headers.get('Host') or f'{host}:{port}'}{prefix}"
            documents: dict[str, Callable[[], dict[str, Any]]] = {
                "gbfs": lambda: feed.discovery(base),
                "station_information": feed.information,
                "station_status": feed.status,
                "inventory": feed.inventory,
            }
            data = json.dumps(documents[name](), separators=(",", ":")).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", f"max-age={feed.ttl}")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet: the poller asks every minute
            pass

    return Handler


class FeedServer:
    """The feed, its listener and its HTTP server, started and stopped together (tests run it in-process)."""

    def __init__(self, settings: Settings, gbfs: GbfsSettings, host: str, port: int, reset: bool = False) -> None:
        limits = Limits(
            max_age=timedelta(minutes=settings.late_event_limit_minutes),
            max_lead=timedelta(minutes=settings.future_event_limit_minutes),
        )
        state_file = gbfs.state_file

        def stations(system_id: str) -> list[Station]:
            path = gbfs.station_information_of(system_id)
            if path is None:
                return []
            try:
                return load_snapshot(path)
            except (OSError, ValueError, KeyError, TypeError) as err:  # no data folder: events alone define stations
                log.error("%s: no station snapshot (%s): serving only the stations the events name", system_id, err)
                return []

        if state_file is not None and state_file.exists() and not reset:
            state = json.loads(state_file.read_text())
            self.feeds = LocalFeeds.from_state(state, gbfs.ttl_seconds, limits, stations)
        else:
            self.feeds = LocalFeeds.start(stations, gbfs.ttl_seconds, limits)
        self.listener = EventListener(self.feeds, settings, gbfs, state_file)
        self.http = ThreadingHTTPServer((host, port), make_handler(self.feeds))
        self.http.daemon_threads = True
        self.http_thread = threading.Thread(target=self.http.serve_forever, name="gbfs-http", daemon=True)

    @property
    def feed(self) -> LocalFeed:
        """The default system's feed (the one at the old paths)."""
        return self.feeds.default

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FeedServer:
        """Serve, and subscribe before returning: an event published after ``start()`` is never missed."""
        self.listener.subscribe_now()
        self.http_thread.start()
        self.listener.start()
        return self

    def stop(self) -> None:
        self.listener.stop.set()
        self.listener.thread.join(timeout=10)
        self.http.shutdown()
        self.http.server_close()
        if self.listener.state_file is not None and any(f.docks is not None for f in self.feeds.feeds.values()):
            self.feeds.save(self.listener.state_file)


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    gbfs = GbfsSettings.from_env(settings)
    parser = argparse.ArgumentParser(prog="python -m include.gbfs.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=settings.gbfs.host)
    parser.add_argument("--port", type=int, default=settings.gbfs.port)
    parser.add_argument("--reset", action="store_true", help="start from the snapshot, ignoring the saved state")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    server = FeedServer(settings, gbfs, args.host, args.port, reset=args.reset).start()
    log.info(
        "GBFS feeds on %s: %s (events from %s)",
        server.url,
        ", ".join(f"/{k}/gbfs.json {len(f.stations)} stations" for k, f in server.feeds.feeds.items()),
        server.listener.subscription,
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    while not stopped.wait(1.0):
        pass
    server.stop()
    log.info("stopped; %s", {k: dict(f.counts) for k, f in server.feeds.feeds.items()})


if __name__ == "__main__":
    main()
