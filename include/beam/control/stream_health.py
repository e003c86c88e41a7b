"""Is the streaming ingest healthy? Job state, data freshness and dead-letter share, from BigQuery.

Works the same on both backends: it reads only the tables the pipeline writes (docs/design.md §2), so
it judges what arrived, not what the runner says about itself. Thresholds are parameters with
defaults; the DAG passes its params. Also reported, not judged: the stations seen for the first
time in the window that the stations seed does not know (``new_stations``: accepted by ingest,
flagged here so that someone decides whether they belong to the fleet), and the dead letters of the
window by reason. BigQuery itself unreachable is a problem of its own: the monitor's queries give up
after ``QUERY_DEADLINE_S`` instead of the client's 600 s, and say so.

The station inventory from the GBFS feed (``bikeshare_inventory``, include/gbfs) is judged here too, from
the tables it writes: the newest good ``station_status`` fetch in ``gbfs_fetches`` must be younger than
``max_status_age_ttls`` (3) times the feed's ttl (at least the poller's minute), counting how old the file
already was when fetched (``lag_seconds``, wall clock on gcp; the local feed lives in replay time, so there
only the fetch's age counts). Never fetched: a problem when GBFS dead letters arrived in the window (the feed
is tried and fails); nothing tried (the inventory DAG not deployed or not running yet) is not judged, and the
report's ``station_status.fetched_at`` is null.

Each problem is a :class:`Problem`: a :class:`ProblemKind` to decide on (the start step's verdict
filters by kind) and the message an on-call engineer reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.cloud import bigquery

from include.beam.control.job import JobInfo, JobState
from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import GBFS_DEAD_LETTERS, GBFS_FETCHES, RAW_EVENTS, RAW_EVENTS_DEAD_LETTER, STATIONS
from include.systems import enabled_system_ids

MAX_STALENESS = timedelta(minutes=30)
MAX_DEAD_LETTER_SHARE = 0.05
WINDOW = timedelta(minutes=15)
QUERY_DEADLINE_S = 60.0
MAX_STATUS_AGE_TTLS = 3.0  # station status older than this many ttls is stale
MIN_STATUS_TTL = timedelta(minutes=1)  # the inventory DAG polls once a minute: a shorter ttl counts as a minute


class ProblemKind(StrEnum):
    """What is wrong with the streaming ingest, one word per check."""

    JOB_NOT_RUNNING = "job_not_running"  # the job is not RUNNING (pending, failed, drained, ...)
    NO_ROWS = "no_rows"  # raw_events is empty: nothing ingested yet
    STALE = "stale"  # the newest row was ingested longer ago than the limit
    DEAD_LETTER_SHARE = "dead_letter_share"  # too many of the window's messages were dead-lettered
    BIGQUERY_UNREACHABLE = "bigquery_unreachable"  # the check itself could not read BigQuery
    STATION_STATUS_STALE = "station_status_stale"  # the GBFS station status is older than 3 x its ttl, or never read


@dataclass(frozen=True)
class Problem:
    """One problem found: its kind, and the message an on-call engineer can act on."""

    kind: ProblemKind
    message: str

    def __str__(self) -> str:
        return self.message


class StreamUnhealthy(RuntimeError):
    """The streaming ingest needs attention; the message lists every problem found, ``problems`` holds them."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple:  # pickled or copied with its problems
        return (type(self), (*self.args, self.problems))


@dataclass(frozen=True)
class HealthReport:
    checked_at: datetime
    job_state: JobState
    newest_ingested_at: datetime | None
    newest_event_ts: datetime | None  # event time: informational (replays carry old timestamps)
    window: timedelta
    rows_in_window: int
    dead_letters_in_window: int
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    new_stations: list[str] = field(default_factory=list)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    status: StatusFreshness | None = None  # the GBFS station status (None: not measured)

    @property
    def staleness(self) -> timedelta | None:
        return None if self.newest_ingested_at is None else self.checked_at - self.newest_ingested_at

    @property
    def dead_letter_share(self) -> float | None:
        total = self.rows_in_window + self.dead_letters_in_window
        return self.dead_letters_in_window / total if total else None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem_kinds(self) -> list[ProblemKind]:
        return [p.kind for p in self.problems]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (an XCom)."""

        def iso(ts: datetime | None) -> str | None:
            return ts.isoformat() if ts else None

        return {
            "checked_at": iso(self.checked_at),
            "job_state": str(self.job_state),
            "newest_ingested_at": iso(self.newest_ingested_at),
            "newest_event_ts": iso(self.newest_event_ts),
            "staleness_seconds": self.staleness.total_seconds() if self.staleness is not None else None,
            "window_seconds": self.window.total_seconds(),
            "rows_in_window": self.rows_in_window,
            "dead_letters_in_window": self.dead_letters_in_window,
            "dead_letter_share": self.dead_letter_share,
            "problems": [p.message for p in self.problems],
            "problem_kinds": [str(p.kind) for p in self.problems],
            "notes": list(self.notes),
            "new_station": len(self.new_stations),
            "new_stations": list(self.new_stations),
            "dead_letters_by_reason": dict(self.dead_letters_by_reason),
            "station_status": self.status.to_dict(self.checked_at) if self.status else None,
        }


@dataclass(frozen=True)
class StatusFreshness:
    """The newest good ``station_status`` fetch of the GBFS poller, and the feed's dead letters in the window."""

    fetched_at: datetime | None  # None: never fetched
    ttl: int | None = None
    lag_seconds: float | None = None  # how old the file was when fetched (wall clock only)
    dead_letters_by_reason: dict[str, int] = field(default_factory=dict)
    system_id: str | None = None  # whose feed: the stalest system's is the one judged (stalest_status)

    def age(self, now: datetime) -> timedelta | None:
        if self.fetched_at is None:
            return None
        return now - self.fetched_at + timedelta(seconds=self.lag_seconds or 0.0)

    def limit(self, ttls: float = MAX_STATUS_AGE_TTLS) -> timedelta:
        return ttls * max(timedelta(seconds=self.ttl or 0), MIN_STATUS_TTL)

    def to_dict(self, now: datetime) -> dict[str, Any]:
        age = self.age(now)
        return {
            "fetched_at": self.fetched_at.isoformat() if self.fetched_at else None,
            "ttl": self.ttl,
            "age_seconds": age.total_seconds() if age is not None else None,
            "limit_seconds": self.limit().total_seconds(),
            "gbfs_dead_letters_by_reason": dict(self.dead_letters_by_reason),
            "system_id": self.system_id,
        }


class WarehouseUnreachable(RuntimeError):
    """BigQuery did not answer the monitor within :data:`QUERY_DEADLINE_S`."""


def _rows(settings: Settings, sql: str, params: list[bigquery.ScalarQueryParameter] | None = None) -> list[dict]:
    client = clients.bigquery_client(settings)
    retry = bigquery.DEFAULT_RETRY.with_timeout(QUERY_DEADLINE_S)
    config = bigquery.QueryJobConfig(query_parameters=params or [])
    try:
        job = client.query(sql, job_config=config, retry=retry, timeout=QUERY_DEADLINE_S, job_retry=None)
        return [dict(r.items()) for r in job.result(retry=retry, timeout=QUERY_DEADLINE_S)]
    except (api_exceptions.NotFound, api_exceptions.BadRequest):
        raise
    except Exception as err:  # connection refused, timeouts, 5xx after the retries
        raise WarehouseUnreachable(f"BigQuery did not answer within {QUERY_DEADLINE_S:.0f} s: {err}") from err


def _query(settings: Settings, sql: str, params: list[bigquery.ScalarQueryParameter] | None = None) -> dict:
    return _rows(settings, sql, params)[0]


def newest_timestamps(settings: Settings) -> tuple[datetime | None, datetime | None]:
    """(max ``ingested_at``, max ``ts_iso``) of raw_events; None while the table is empty."""
    row = _query(
        settings,
        f"SELECT MAX(ingested_at) AS ingested, MAX(ts_iso) AS event_ts FROM `{settings.table_id(RAW_EVENTS)}`",
    )
    return row["ingested"], row["event_ts"]


def freshness(settings: Settings, now: datetime | None = None) -> timedelta | None:
    """How long ago the pipeline last wrote a row (now - max ``ingested_at``); None: no rows yet."""
    newest, _ = newest_timestamps(settings)
    return None if newest is None else (now or datetime.now(UTC)) - newest


def window_counts(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> tuple[int, int]:
    """(rows written to raw_events, dead letters) in the ``window`` before ``now``."""
    until = now or datetime.now(UTC)
    params = [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", until - window),
        bigquery.ScalarQueryParameter("until", "TIMESTAMP", until),
    ]
    row = _query(
        settings,
        f"""
        SELECT
          (SELECT COUNT(*) FROM `{settings.table_id(RAW_EVENTS)}`
            WHERE ingested_at >= @since AND ingested_at < @until) AS good,
          (SELECT COUNT(*) FROM `{settings.table_id(RAW_EVENTS_DEAD_LETTER)}`
            WHERE received_at >= @since AND received_at < @until) AS bad
        """,
        params,
    )
    return int(row["good"]), int(row["bad"])


def _window_params(window: timedelta, until: datetime) -> list[bigquery.ScalarQueryParameter]:
    return [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", until - window),
        bigquery.ScalarQueryParameter("until", "TIMESTAMP", until),
    ]


def new_stations(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> list[str]:
    """Stations of rows ingested in the window that no earlier row had and the stations seed lacks."""
    raw = f"`{settings.table_id(RAW_EVENTS)}`"
    try:
        clients.bigquery_client(settings).get_table(settings.table_id(STATIONS))
        known = f"AND station_id NOT IN (SELECT station_id FROM `{settings.table_id(STATIONS)}`)"
    except api_exceptions.NotFound:  # seeds not loaded yet (bikeshare_setup): every unseen station is new
        known = ""
    sql = f"""
        SELECT DISTINCT station_id FROM {raw}
        WHERE ingested_at >= @since AND ingested_at < @until {known}
          AND station_id NOT IN (SELECT station_id FROM {raw} WHERE ingested_at < @since)
        ORDER BY station_id
    """
    return [r["station_id"] for r in _rows(settings, sql, _window_params(window, now or datetime.now(UTC)))]


def dead_letters_by_reason(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> dict:
    """Dead letters received in the window, by reason code (rows from before the code column: ``error``'s prefix)."""
    sql = f"""
        SELECT COALESCE(reason, SPLIT(error, ':')[OFFSET(0)]) AS reason, COUNT(*) AS n
        FROM `{settings.table_id(RAW_EVENTS_DEAD_LETTER)}`
        WHERE received_at >= @since AND received_at < @until
        GROUP BY 1 ORDER BY 1
    """
    return {r["reason"]: int(r["n"]) for r in _rows(settings, sql, _window_params(window, now or datetime.now(UTC)))}


def status_freshness(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> StatusFreshness:
    """The settings' system's newest good station_status fetch and its feed's dead letters in the window
    (tables missing: a deployment from before the inventory, never fetched)."""
    system = [bigquery.ScalarQueryParameter("system_id", "STRING", settings.system_id)]
    try:
        newest = _rows(
            settings,
            f"""
            SELECT fetched_at, ttl, lag_seconds FROM `{settings.table_id(GBFS_FETCHES)}`
            WHERE feed = 'station_status' AND ok AND system_id = @system_id ORDER BY fetched_at DESC LIMIT 1
            """,
            system,
        )
        letters = _rows(
            settings,
            f"""
            SELECT reason, COUNT(*) AS n FROM `{settings.table_id(GBFS_DEAD_LETTERS)}`
            WHERE received_at >= @since AND received_at < @until AND system_id = @system_id
            GROUP BY reason ORDER BY reason
            """,
            [*_window_params(window, now or datetime.now(UTC)), *system],
        )
    except api_exceptions.NotFound:
        return StatusFreshness(None, system_id=settings.system_id)
    by_reason = {r["reason"]: int(r["n"]) for r in letters}
    if not newest:
        return StatusFreshness(None, dead_letters_by_reason=by_reason, system_id=settings.system_id)
    row = newest[0]
    return StatusFreshness(row["fetched_at"], row["ttl"], row["lag_seconds"], by_reason, settings.system_id)


def stalest_status(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> StatusFreshness:
    """Of every enabled system's feed, the one furthest behind its limit (never read counts as furthest): one
    system's fresh feed must not hide another's stale one."""
    checked_at = now or datetime.now(UTC)
    found = [status_freshness(settings.for_system(sid), window, checked_at) for sid in enabled_system_ids()]

    def behind(status: StatusFreshness) -> float:
        age = status.age(checked_at)
        return float("inf") if age is None else age / status.limit()

    return max(found, key=behind)


def dead_letter_share(settings: Settings, window: timedelta = WINDOW, now: datetime | None = None) -> float | None:
    """Dead letters / all messages handled in the window; None when nothing arrived."""
    good, bad = window_counts(settings, window, now)
    return bad / (good + bad) if good + bad else None


def judge(
    report: HealthReport,
    *,
    max_staleness: timedelta = MAX_STALENESS,
    max_dead_letter_share: float = MAX_DEAD_LETTER_SHARE,
    max_status_age_ttls: float = MAX_STATUS_AGE_TTLS,
) -> list[Problem]:
    """Every problem in a report, in words an on-call engineer can act on."""
    problems = []
    if report.job_state is not JobState.RUNNING:
        problems.append(Problem(ProblemKind.JOB_NOT_RUNNING, f"streaming job is {report.job_state}, not RUNNING"))
    if report.newest_ingested_at is None:
        problems.append(Problem(ProblemKind.NO_ROWS, "raw_events has no rows: nothing has been ingested yet"))
    elif report.staleness is not None and report.staleness > max_staleness:
        problems.append(
            Problem(
                ProblemKind.STALE,
                f"data is stale: newest row ingested {_minutes(report.staleness)} ago "
                f"(at {report.newest_ingested_at.isoformat()}), limit {_minutes(max_staleness)}",
            )
        )
    share = report.dead_letter_share
    if share is not None and share > max_dead_letter_share:
        problems.append(
            Problem(
                ProblemKind.DEAD_LETTER_SHARE,
                f"dead-letter share {share:.1%} over the last {_minutes(report.window)} "
                f"({report.dead_letters_in_window} of {report.rows_in_window + report.dead_letters_in_window} "
                f"messages), limit {max_dead_letter_share:.1%}: see raw_events_dead_letter.error",
            )
        )
    status = report.status
    if status is not None:
        age, limit = status.age(report.checked_at), status.limit(max_status_age_ttls)
        letters = ", ".join(f"{k} {v}" for k, v in status.dead_letters_by_reason.items())
        if age is None and letters:
            problems.append(
                Problem(
                    ProblemKind.STATION_STATUS_STALE,
                    f"station status{_of(status)} was never read from the GBFS feed; its dead letters in the last "
                    f"{_minutes(report.window)}: {letters} (see gbfs_dead_letters)",
                )
            )
        elif age is not None and age > limit:
            problems.append(
                Problem(
                    ProblemKind.STATION_STATUS_STALE,
                    f"station status{_of(status)} is stale: {_minutes(age)} old "
                    f"(last read {status.fetched_at.isoformat()}, "
                    f"ttl {status.ttl} s), limit {_minutes(limit)}"
                    + (f"; GBFS dead letters in the last {_minutes(report.window)}: {letters}" if letters else "")
                    + ": is bikeshare_inventory running, does the feed answer? (gbfs_fetches, gbfs_dead_letters)",
                )
            )
    return problems


def check_health(
    settings: Settings,
    job_state: JobState,
    *,
    started: JobInfo | None = None,
    job_error: str = "",
    max_staleness: timedelta = MAX_STALENESS,
    max_dead_letter_share: float = MAX_DEAD_LETTER_SHARE,
    max_status_age_ttls: float = MAX_STATUS_AGE_TTLS,
    window: timedelta = WINDOW,
    now: datetime | None = None,
    raise_on_problem: bool = True,
) -> HealthReport:
    """Measure, judge, and raise :class:`StreamUnhealthy` listing every problem (unless told not to).

    ``started`` is what the start step of the same run found or did, which changes the verdict:
    a job stopped on purpose (drained, cancelled) is not judged at all; a job launched fresh in this run (first start,
    or resumed after a drain) has had no time to write, so stale data is only a note; a job that
    replaced a failed one is judged in full, and the failure's reason joins any error, as does
    ``job_error`` (:meth:`StreamingJob.last_error`) for a job that has ended since.
    """
    checked_at = now or datetime.now(UTC)
    try:
        ingested, event_ts = newest_timestamps(settings)
        good, bad = window_counts(settings, window, checked_at)
        status = stalest_status(settings, window, checked_at)
        report = HealthReport(checked_at, job_state, ingested, event_ts, window, good, bad, status=status)
        report.new_stations.extend(new_stations(settings, window, checked_at))
        report.dead_letters_by_reason.update(dead_letters_by_reason(settings, window, checked_at))
    except WarehouseUnreachable as err:
        unreachable = Problem(ProblemKind.BIGQUERY_UNREACHABLE, str(err))
        report = HealthReport(checked_at, job_state, None, None, window, 0, 0, problems=[unreachable])
        if raise_on_problem:
            raise StreamUnhealthy(
                f"streaming ingest into {settings.table_id(RAW_EVENTS)} cannot be checked: {err} "
                f"(the local job holds its messages unacknowledged and retries; Dataflow retries too)",
                [unreachable],
            ) from err
        return report
    if report.new_stations:
        report.notes.append(
            f"{len(report.new_stations)} new station(s) not in the stations seed: {', '.join(report.new_stations[:20])}"
        )
    found = judge(
        report,
        max_staleness=max_staleness,
        max_dead_letter_share=max_dead_letter_share,
        max_status_age_ttls=max_status_age_ttls,
    )
    if started and not started.created and started.state.stopped_on_purpose:
        report.notes.append(
            f"job {started.name} was {started.state} on purpose; not judged ({'; '.join(p.message for p in found)})"
        )
        return report
    if started and started.created and not (started.replaced and started.replaced.is_failure):
        report.notes.extend(
            f"new job, not judged yet: {p.message}" for p in found if p.kind is not ProblemKind.JOB_NOT_RUNNING
        )
        found = [p for p in found if p.kind is ProblemKind.JOB_NOT_RUNNING and job_state is not JobState.PENDING]
    if started and started.created and started.replaced and started.replaced.is_failure:
        report.notes.append(f"restarted in this run after the job ended {started.replaced}: {started.message}")
    if job_error and job_state.is_failure:
        report.notes.append(f"the job ended {job_state}: {job_error}")
    report.problems.extend(found)
    if report.problems and raise_on_problem:
        message = f"streaming ingest into {settings.table_id(RAW_EVENTS)} is unhealthy:\n- " + "\n- ".join(
            p.message for p in found
        )
        raise StreamUnhealthy("\n".join([message, *report.notes]), found)
    return report


def _of(status: StatusFreshness) -> str:
    return f" of system {status.system_id}" if status.system_id else ""


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.1f} min"
