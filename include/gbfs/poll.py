"""One poll of one system's GBFS feed: fetch, validate, keep what is new, dead-letter the rest (I/O of
:mod:`include.gbfs.feed`).

Every system has its own feed (:func:`include.gbfs.settings.feed_url`) and shares the four tables: every row
written carries the poll's ``system_id`` (``Settings.system_id``) and every read (the last fetches, the newest
stored status, the stored information) is of that system's rows only, so two systems may reuse a station id and
one system's feed being down dead-letters that system alone.

1. ``gbfs.json`` (the system's auto-discovery URL) gives the URLs of ``station_information`` and ``station_status``.
2. ``station_information`` when its ``ttl`` has passed since the last good fetch: a station whose name,
   coordinates or capacity changed gets a new row in ``station_information``.
3. ``station_status`` when its ``ttl`` has passed (:func:`due`): each station's row is stored when its
   ``last_reported`` is newer than the newest stored for it (read from the lookback's partitions), so a rerun or
   an unchanged station stores nothing: one row per (system_id, station_id, last_reported).

Each file fetched leaves a row in ``gbfs_fetches`` (ok or not, ``last_updated``, ``ttl``, counts): the next
poll honours the ``ttl`` from it and the stream health check judges the status' age from it. A file that
cannot be fetched (``http_error``, ``timeout``) or read, and every refused station, is a row of
``gbfs_dead_letters``; a bad feed never fails the poll. BigQuery being unreachable does (the task retries).

Rows are written with streaming inserts (``insertAll``, an insert id per row), not load jobs: a load job a
minute per table would exhaust BigQuery's 1,500 load jobs per table and day. Nothing here updates or
deletes, so the streaming buffer's DML restriction does not matter.
"""

from __future__ import annotations

import hashlib
import logging
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions
from google.cloud import bigquery

from include.gbfs.feed import (
    GBFS,
    MAX_FEED_BYTES,
    STATION_INFORMATION,
    STATION_STATUS,
    DeadLetter,
    FeedError,
    StationInformation,
    load_json,
    read_discovery,
    read_information,
    read_meta,
    read_status,
)
from include.gbfs.settings import MAX_TTL, GbfsSettings
from include.gcp import clients, resources
from include.gcp.events import format_ts
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import (
    GBFS_DEAD_LETTERS,
    GBFS_DEAD_LETTERS_SPEC,
    GBFS_FETCHES,
    GBFS_FETCHES_SPEC,
    STATION_INFORMATION_SPEC,
    STATION_STATUS_SPEC,
    STATIONS,
)
from include.gcp.tables import STATION_INFORMATION as INFORMATION_TABLE
from include.gcp.tables import STATION_STATUS as STATUS_TABLE
from include.systems import DEFAULT_SYSTEM

log = logging.getLogger(__name__)
USER_AGENT = "bikeshare-mlops-gbfs-poller/1"


class FetchError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail = code, detail


@dataclass
class FeedFetch:
    """What one file gave; its ``gbfs_fetches`` row."""

    feed: str
    url: str
    fetched_at: datetime
    ok: bool = False
    last_updated: datetime | None = None
    ttl: int | None = None
    stations: int = 0
    rows_written: int = 0
    unchanged: int = 0
    stale: int = 0
    dead_letters: int = 0
    unknown_stations: int = 0
    lag_seconds: float | None = None  # fetched_at - last_updated, on the wall clock only

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        row["fetched_at"] = format_ts(self.fetched_at)
        row["last_updated"] = format_ts(self.last_updated) if self.last_updated else None
        return row


@dataclass
class PollResult:
    polled_at: datetime
    system_id: str = DEFAULT_SYSTEM
    skipped: str | None = None  # why nothing was fetched (the status is younger than its ttl)
    fetches: list[FeedFetch] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)  # by reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (an XCom, the task log)."""
        return {
            "polled_at": self.polled_at.isoformat(),
            "system_id": self.system_id,
            "skipped": self.skipped,
            "fetches": [{k: v for k, v in f.row().items() if k != "url"} for f in self.fetches],
            "dead_letters": dict(self.dead_letters),
        }


# --- HTTP ------------------------------------------------------------------------------------------------


def fetch(url: str, timeout: float) -> bytes:
    """The body of ``url`` within ``timeout`` seconds in all (a slow trickle is a timeout too); :class:`FetchError`."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FetchError("timeout", f"no complete answer within {timeout:g} s")
                _set_timeout(response, left)
                chunk = response.read(65536)
                if not chunk:
                    return b"".join(chunks)
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise FetchError("too_large", f"over {MAX_FEED_BYTES} bytes")
                chunks.append(chunk)
    except urllib.error.HTTPError as err:
        raise FetchError("http_error", f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise FetchError("timeout", f"no answer within {timeout:g} s") from None
        raise FetchError("http_error", f"{type(err.reason).__name__}: {err.reason}") from None
    except TimeoutError:
        raise FetchError("timeout", f"no complete answer within {timeout:g} s") from None
    except (OSError, ValueError) as err:  # connection reset, a malformed URL or response
        raise FetchError("http_error", f"{type(err).__name__}: {err}") from None


def _set_timeout(response: Any, seconds: float) -> None:
    sock = getattr(getattr(getattr(response, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        sock.settimeout(max(seconds, 0.001))


# --- BigQuery --------------------------------------------------------------------------------------------


def _system(s: Settings) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter("system_id", "STRING", s.system_id)


def last_fetches(client: bigquery.Client, s: Settings, now: datetime) -> dict[str, dict[str, Any]]:
    """The system's newest good fetch of each file in the last day: {feed: {fetched_at, ttl, last_updated}}."""
    sql = f"""
        SELECT feed, fetched_at, ttl, last_updated FROM `{s.table_id(GBFS_FETCHES)}`
        WHERE ok AND fetched_at >= @since AND system_id = @system_id
        QUALIFY ROW_NUMBER() OVER (PARTITION BY feed ORDER BY fetched_at DESC) = 1
    """
    params = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", now - timedelta(days=1)), _system(s)]
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
    return {r["feed"]: dict(r.items()) for r in job.result()}


def due(last: dict[str, Any] | None, now: datetime) -> bool:
    """Due when the ttl of its last good fetch (at most :data:`MAX_TTL`) has passed; never fetched: due."""
    if last is None or last.get("ttl") is None:
        return True
    wait = min(max(timedelta(seconds=int(last["ttl"])), timedelta(0)), MAX_TTL)
    return now >= last["fetched_at"] + wait - timedelta(seconds=1)  # a scheduler's second of jitter


def newest_stored(client: bigquery.Client, s: Settings, since: datetime) -> dict[str, datetime]:
    """The system's station_id -> newest stored last_reported at or after ``since`` (only those partitions are read)."""
    sql = f"""
        SELECT station_id, MAX(last_reported) AS newest FROM `{s.table_id(STATUS_TABLE)}`
        WHERE last_reported >= @since AND system_id = @system_id GROUP BY station_id
    """
    params = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since), _system(s)]
    job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
    return {r["station_id"]: r["newest"] for r in job.result()}


def stored_information(client: bigquery.Client, s: Settings, seed: bool = True) -> dict[str, StationInformation]:
    """Each of the system's stations' newest ``station_information`` row; the ``stations`` seed when the system has
    none (``seed``; the seed is Jersey City's stations, so the default system's only)."""
    sql = f"""
        SELECT station_id, name, lat, lon, capacity FROM `{s.table_id(INFORMATION_TABLE)}`
        WHERE system_id = @system_id
        QUALIFY ROW_NUMBER() OVER (PARTITION BY station_id ORDER BY fetched_at DESC) = 1
    """
    rows = list(client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=[_system(s)])).result())
    if not rows and seed and s.system_id == DEFAULT_SYSTEM:
        try:
            rows = list(
                client.query(f"SELECT station_id, name, lat, lon, capacity FROM `{s.table_id(STATIONS)}`").result()
            )
        except exceptions.NotFound:  # seeds not loaded (bikeshare_setup): no capacity known
            rows = []
    return {
        str(r["station_id"]): StationInformation(str(r["station_id"]), r["name"], r["lat"], r["lon"], r["capacity"])
        for r in rows
    }


def insert(client: bigquery.Client, table_id: str, rows: list[dict[str, Any]], ids: list[str]) -> list[int]:
    """Streaming insert in chunks; returns the indices of the rows BigQuery refused."""
    refused: list[int] = []
    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(table_id, rows[start : start + 500], row_ids=ids[start : start + 500])
        refused.extend(start + e["index"] for e in errors)
    return refused


def _row_id(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()


# --- the poll --------------------------------------------------------------------------------------------


class _Poll:
    def __init__(self, s: Settings, g: GbfsSettings, now: datetime) -> None:
        self.s, self.g, self.now = s, g, now
        self.client = clients.bigquery_client(s)
        self.result = PollResult(now, s.system_id)
        self.letters: list[dict[str, Any]] = []
        self.letter_ids: list[str] = []

    def stamp(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row with the poll's system: every table the poller writes is shared by the systems."""
        row["system_id"] = self.s.system_id
        return row

    def row_id(self, *parts: object) -> str:
        """A streaming insert id; with the system, so two systems' rows of one station id are never one row."""
        return _row_id(self.s.system_id, *parts)

    def dead_letter(self, letter: DeadLetter, url: str, fetch_: FeedFetch | None = None) -> None:
        self.letters.append(self.stamp(letter.row(url, self.now)))
        self.letter_ids.append(
            self.row_id(letter.feed, url, letter.reason, letter.station_id, self.now, len(self.letters))
        )
        self.result.dead_letters[letter.reason] = self.result.dead_letters.get(letter.reason, 0) + 1
        if fetch_ is not None:
            fetch_.dead_letters += 1

    def get(self, feed: str, url: str) -> tuple[bytes | None, FeedFetch]:
        record = FeedFetch(feed, url, self.now)
        self.result.fetches.append(record)
        try:
            return fetch(url, self.g.timeout_seconds), record
        except FetchError as err:
            self.dead_letter(DeadLetter(feed, err.code, err.detail), url, record)
            return None, record

    def information(self, url: str) -> dict[str, StationInformation] | None:
        body, record = self.get(STATION_INFORMATION, url)
        if body is None:
            return None
        result = read_information(body)
        for letter in result.dead_letters:
            self.dead_letter(letter, url, record)
        if result.meta is None:
            return None
        record.ok, record.last_updated, record.ttl = True, result.meta.last_updated, result.meta.ttl
        record.stations = len(result.stations) + len(result.dead_letters)
        known = stored_information(self.client, self.s, seed=False)
        changed = [st for st in result.stations if known.get(st.station_id) != st]
        record.unchanged = len(result.stations) - len(changed)
        rows = [self.stamp(st.row(self.now)) for st in changed]
        refused = insert(
            self.client,
            self.s.table_id(INFORMATION_TABLE),
            rows,
            [self.row_id(r["station_id"], r["fetched_at"]) for r in rows],
        )
        for i in refused:
            self.dead_letter(
                DeadLetter(
                    STATION_INFORMATION, "write_failed", "BigQuery refused the row", str(rows[i]), rows[i]["station_id"]
                ),
                url,
                record,
            )
        record.rows_written = len(rows) - len(refused)
        return {st.station_id: st for st in result.stations}

    def status(self, url: str, capacity: dict[str, int | None]) -> None:
        body, record = self.get(STATION_STATUS, url)
        if body is None:
            return
        try:  # the lookback is counted on the feed's clock when that is the clock; a bad file fails in read_status
            feed_now = read_meta(load_json(body)).last_updated
        except FeedError:
            feed_now = self.now
        reference = self.now if self.g.clock == "wall" else feed_now
        stored = newest_stored(self.client, self.s, reference - self.g.lookback)
        result = read_status(
            body,
            capacity=capacity,
            stored=stored,
            clock=self.now if self.g.clock == "wall" else None,
            max_lead=timedelta(minutes=self.s.future_event_limit_minutes),
            lookback=self.g.lookback,
        )
        for letter in result.dead_letters:
            self.dead_letter(letter, url, record)
        if result.meta is None:
            return
        record.ok, record.last_updated, record.ttl = True, result.meta.last_updated, result.meta.ttl
        if self.g.clock == "wall":  # the status' age at the fetch: the health check adds the time since
            record.lag_seconds = (self.now - result.meta.last_updated).total_seconds()
        record.stations = len(result.rows) + len(result.dead_letters) + result.unchanged + result.stale
        record.unchanged, record.stale, record.unknown_stations = (
            result.unchanged,
            result.stale,
            len(result.unknown_stations),
        )
        rows = [self.stamp(r.row(self.now)) for r in result.rows]
        refused = insert(
            self.client,
            self.s.table_id(STATUS_TABLE),
            rows,
            [self.row_id(r["station_id"], r["last_reported"]) for r in rows],
        )
        for i in refused:
            self.dead_letter(
                DeadLetter(
                    STATION_STATUS, "write_failed", "BigQuery refused the row", str(rows[i]), rows[i]["station_id"]
                ),
                url,
                record,
            )
        record.rows_written = len(rows) - len(refused)
        if result.unknown_stations:
            log.warning(
                "%s: %d station(s) in station_status without a capacity in station_information: %s",
                self.s.system_id,
                len(result.unknown_stations),
                ", ".join(result.unknown_stations[:20]),
            )

    def finish(self) -> PollResult:
        if self.result.dead_letters:
            log.warning(
                "%s: GBFS dead letters by reason: %s (table gbfs_dead_letters)",
                self.s.system_id,
                self.result.dead_letters,
            )
        if self.letters:
            refused = insert(self.client, self.s.table_id(GBFS_DEAD_LETTERS), self.letters, self.letter_ids)
            if refused:  # cannot happen for rows feed.py made writable; say so loudly if it does
                log.error(
                    "BigQuery refused %d GBFS dead letters: %s", len(refused), [self.letters[i] for i in refused][:3]
                )
        fetches = [self.stamp(f.row()) for f in self.result.fetches]
        if fetches:
            insert(
                self.client,
                self.s.table_id(GBFS_FETCHES),
                fetches,
                [self.row_id(f["feed"], f["fetched_at"]) for f in fetches],
            )
        return self.result


GBFS_SPECS = (STATION_STATUS_SPEC, STATION_INFORMATION_SPEC, GBFS_DEAD_LETTERS_SPEC, GBFS_FETCHES_SPEC)


def ensure_tables(settings: Settings | None = None) -> list[str]:
    """Bring the four GBFS tables to their specs when they are not (missing, or older than a column such as
    ``system_id``: the copy-refill migration of :func:`include.gcp.resources.ensure_table`); returns what it did.

    Run once per DAG run before the per-system polls (the ``systems`` task): the migration must not run in
    several mapped polls at once, and a poll of a table without ``system_id`` would fail on its filter."""
    s = settings or get_settings()
    client = clients.bigquery_client(s)
    done = []
    for spec in GBFS_SPECS:
        try:
            have = {f.name for f in client.get_table(s.table_id(spec.name)).schema}
        except exceptions.NotFound:
            have = set()
        if {f.name for f in spec.schema} - have:
            done.append(str(resources.ensure_table(spec, s)))
    return done


def poll(
    settings: Settings | None = None,
    gbfs: GbfsSettings | None = None,
    now: datetime | None = None,
    force: bool = False,
    system_id: str | None = None,
) -> PollResult:
    """Fetch what is due of one system's feed and store what is new (module docstring); ``force`` ignores the ttl.

    The system is ``system_id`` (the settings scoped to it, :meth:`Settings.for_system`), else the settings' own;
    its feed is ``gbfs``, else :meth:`GbfsSettings.from_env` of that system."""
    s = settings or get_settings()
    if system_id is not None:
        s = s.for_system(system_id)
    g = gbfs or GbfsSettings.from_env(s)
    run = _Poll(s, g, (now or datetime.now(UTC)).astimezone(UTC))
    try:
        last = last_fetches(run.client, s, run.now)
    except exceptions.NotFound:  # a deployment older than the tables: the first poll creates them
        for spec in GBFS_SPECS:
            resources.ensure_table(spec, s)
        last = {}
    if not force and not due(last.get(STATION_STATUS), run.now):
        prev = last[STATION_STATUS]
        run.result.skipped = f"station_status fetched at {prev['fetched_at'].isoformat()} with ttl {prev['ttl']} s"
        return run.result
    body, record = run.get(GBFS, g.url)
    if body is None:
        return run.finish()
    discovery = read_discovery(body, g.language)
    if isinstance(discovery, DeadLetter):
        run.dead_letter(discovery, g.url, record)
        return run.finish()
    record.ok, record.last_updated, record.ttl = True, discovery.meta.last_updated, discovery.meta.ttl
    record.stations = len(discovery.urls)
    info = (
        run.information(discovery.urls[STATION_INFORMATION])
        if force or due(last.get(STATION_INFORMATION), run.now)
        else None
    )
    known = info if info else stored_information(run.client, s)
    run.status(discovery.urls[STATION_STATUS], {k: v.capacity for k, v in known.items()})
    return run.finish()
