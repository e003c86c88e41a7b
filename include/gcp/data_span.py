"""The local profile's hours without data: which scheduled runs have nothing to work on, and why.

Locally the data is replayed history (a Citi Bike month of 2019, ``bikeshare_replay``), while Airflow schedules
the hourly DAGs on the wall clock (2026): unpaused, they would run hours no event will ever reach, and the
training sensor would wait 3 h and fail, the freshness check alert ``predictions_late``, all false alarms.
So on the ``local`` profile a run whose hour lies outside the data is **skipped** with the reason
(:func:`outside_reason`, raised as AirflowSkipException by the DAG's first task ``within_data``: the run shows as
skipped in the UI, nothing alerts). Backfills and manual runs of replayed hours run as before.

"The data" is ``[first event, newest event or newest feature-store as_of]``: ``raw_events`` (the replay's
events) and ``feature_store_runs`` (a feature build as of an instant, which tests and scripts also record
without events). An hour up to :data:`GRACE` after the newest is still inside: a replay or a feature backfill
running beside the hourly runs reaches it soon. The ``gcp`` profile never skips: there an hour without data is
an outage, and its alerts are the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import FEATURE_STORE_RUNS, RAW_EVENTS

# How far past the newest data an hour may lie and still wait for it: a replay at its default speed (one hour of
# events per second) or a feature backfill beside the hourly runs covers that in minutes.
GRACE = timedelta(hours=6)


@dataclass(frozen=True)
class Span:
    """The first event and the newest data (event or feature-store as_of); None: none of that kind."""

    first: datetime | None
    last: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _one(sql: str, s: Settings) -> dict:
    try:
        return dict(next(iter(clients.bigquery_client(s).query(sql).result())))
    except exceptions.NotFound:  # no such table yet: no data of that kind
        return {}


def span(settings: Settings | None = None) -> Span:
    """The data the local stack holds (two small aggregate queries)."""
    s = settings or get_settings()
    events = _one(f"SELECT MIN(ts_iso) AS first, MAX(ts_iso) AS last FROM `{s.table_id(RAW_EVENTS)}`", s)
    runs = _one(f"SELECT MAX(as_of) AS last FROM `{s.table_id(FEATURE_STORE_RUNS)}`", s)
    lasts = [t for t in (_aware(events.get("last")), _aware(runs.get("last"))) if t is not None]
    return Span(_aware(events.get("first")), max(lasts) if lasts else None)


def outside_reason(hour: datetime, settings: Settings | None = None) -> str | None:
    """Why the run of ``hour`` has no data to work on (local profile only), or None: run it."""
    s = settings or get_settings()
    if not s.is_local:
        return None
    data = span(s)
    todo = (
        "On the local profile the scheduled runs follow the wall clock while the data is replayed history: "
        "replay a month (bikeshare_replay), build its features (bikeshare_features), then backfill or trigger "
        "the hours inside it (docs/backfills.md)."
    )
    if data.last is None:
        return f"no data ({RAW_EVENTS} and {FEATURE_STORE_RUNS} are empty): {hour:%Y-%m-%d %H:%M} UTC skipped. {todo}"
    if hour > data.last + GRACE:
        return (
            f"the hour {hour:%Y-%m-%d %H:%M} UTC is after the data (newest {data.last:%Y-%m-%d %H:%M} UTC, "
            f"waiting at most {GRACE} past it): skipped, not alerted. {todo}"
        )
    if data.first is not None and hour < data.first:
        return (
            f"the hour {hour:%Y-%m-%d %H:%M} UTC is before the data (first event {data.first:%Y-%m-%d %H:%M} UTC): "
            f"skipped, not alerted. {todo}"
        )
    return None


def skip_outside_data(hour: datetime, settings: Settings | None = None) -> str:
    """The DAGs' ``within_data`` task: skip (``AirflowSkipException``, the reason shown in the UI) an hour
    :func:`outside_reason` names, else say the hour is within the data."""
    from airflow.sdk.exceptions import AirflowSkipException

    if reason := outside_reason(hour, settings):
        raise AirflowSkipException(reason)
    return f"{hour.isoformat()}: within the data"
