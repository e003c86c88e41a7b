"""A GBFS feed for tests: a real HTTP server on 127.0.0.1 that serves what the test puts in it, good or bad."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from include.gcp import clients, resources
from include.gcp.settings import Settings
from include.gcp.tables import GBFS_DEAD_LETTERS_SPEC, GBFS_FETCHES_SPEC, STATION_INFORMATION_SPEC, STATION_STATUS_SPEC


@dataclass
class Answer:
    body: bytes
    status: int = 200
    delay: float = 0.0  # seconds before the body (a slow feed)


@dataclass
class FakeFeed:
    """Routes path -> :class:`Answer`; ``gbfs.json`` lists this server's own station files."""

    url: str = ""
    routes: dict[str, Answer] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)

    def discovery(self, ttl: int = 0, last_updated: int = 0) -> None:
        feeds = [{"name": n, "url": f"{self.url}/{n}.json"} for n in ("station_information", "station_status")]
        doc = {"last_updated": last_updated, "ttl": ttl, "version": "2.3", "data": {"en": {"feeds": feeds}}}
        self.set("/gbfs.json", doc)

    def set(self, path: str, doc: Any, status: int = 200, delay: float = 0.0) -> None:
        body = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        self.routes[path] = Answer(body, status, delay)

    def information(self, stations: list[dict[str, Any]], last_updated: int, ttl: int = 0) -> None:
        self.set("/station_information.json", gbfs_doc(stations, last_updated, ttl))

    def status(self, stations: list[dict[str, Any]], last_updated: int, ttl: int = 0) -> None:
        self.set("/station_status.json", gbfs_doc(stations, last_updated, ttl))


def gbfs_doc(stations: list[dict[str, Any]], last_updated: int, ttl: int = 0) -> dict[str, Any]:
    return {"last_updated": last_updated, "ttl": ttl, "version": "2.3", "data": {"stations": stations}}


def station_status(station_id: str, bikes: int, docks: int | None, reported: datetime) -> dict[str, Any]:
    entry = {
        "station_id": station_id,
        "num_bikes_available": bikes,
        "is_installed": True,
        "is_renting": True,
        "is_returning": True,
        "last_reported": int(reported.timestamp()),
    }
    if docks is not None:
        entry["num_docks_available"] = docks
    return entry


def station_information(station_id: str, capacity: int | None, name: str = "") -> dict[str, Any]:
    entry = {"station_id": station_id, "name": name or f"Station {station_id}", "lat": 40.72, "lon": -74.04}
    if capacity is not None:
        entry["capacity"] = capacity
    return entry


@contextmanager
def fake_feed() -> Iterator[FakeFeed]:
    feed = FakeFeed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            feed.hits.append(path)
            answer = feed.routes.get(path, Answer(b"not found", 404))
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if answer.delay:
                    self.wfile.write(answer.body[:1])  # the headers and a first byte, then nothing for a while
                    self.wfile.flush()
                    time.sleep(answer.delay)
                    self.wfile.write(answer.body[1:])
                else:
                    self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    feed.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield feed
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def gbfs_dataset(settings: Settings) -> Iterator[Settings]:
    """A dataset of the test's own with the four GBFS tables (and nothing else: no stations seed)."""
    own = settings.with_names(dataset=f"gbfs_{uuid.uuid4().hex[:8]}")
    resources.ensure_dataset(own)
    for spec in (STATION_STATUS_SPEC, STATION_INFORMATION_SPEC, GBFS_DEAD_LETTERS_SPEC, GBFS_FETCHES_SPEC):
        resources.ensure_table(spec, own)
    try:
        yield own
    finally:
        clients.bigquery_client(own).delete_dataset(own.dataset, delete_contents=True, not_found_ok=True)


class _Tables(dict):
    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings

    def __missing__(self, name: str) -> str:
        return f"`{self.settings.table_id(name)}`"


def rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """Query with ``{table}`` standing for the dataset's table: ``rows(s, "SELECT * FROM {station_status}")``."""
    client = clients.bigquery_client(settings)
    return [dict(r.items()) for r in client.query(sql.format_map(_Tables(settings))).result()]
