"""The feature store's run log (table ``feature_store_runs``) and the gate hourly training waits on.

dbt writes a run's rows before ``dbt test`` checks them, so "the feature table has rows as of T" does
not mean that they passed. The ``bikeshare_features`` DAG therefore appends two rows per run to an
append-only table (spec in :mod:`include.gcp.tables`):

- ``building`` (:func:`mark_building`) before its first dbt model writes;
- ``verified`` (:func:`mark_verified`) in its last task, which runs only once every model and the
  ``dbt test`` task succeeded.

``as_of`` is the run's dbt ``as_of``: its data-interval end floored to 15 minutes (:func:`as_of_for`).
``recorded_at`` is the warehouse's clock (``CURRENT_TIMESTAMP()`` of the INSERT), so rows written from
different workers sort on one clock. Rows are only ever inserted: the log is the audit trail.

**The gate** (:func:`read_gate`, :meth:`Gate.ready_for`). Training for the hour ``T`` may read the
feature store only if

1. no run is *open*: every ``building`` row is followed (a later ``recorded_at``) by a ``verified``
   row whose ``as_of`` is at least its own — its own run passed, or a later run of the same or a newer
   interval did (a live run's tests check the day before its ``as_of``, so they re-check the rows the
   open run of 15 minutes earlier wrote); and
2. some run verified an ``as_of`` >= ``T``.

Hence:

- a run in progress closes the gate until it verifies: training waits rather than read rows whose tests
  have not run;
- a run whose dbt build failed (a model or a test), or that was killed, leaves its ``building`` row open: training
  waits, and the training sensor's timeout eventually fails its run (the alert), until a run of that
  interval or a newer one passes: a rerun of the failed run, or the next 15-minute run once the data is
  fixed. Marking the failed ``dbt_build`` task successful in the UI lets ``features_ready`` run and record
  ``verified``: an operator's explicit override, in the log like any other row;
- a backfill of an old interval closes the gate while it runs; once it verified, the gate is open again
  for the current hour although the newest row is a ``verified`` with an old ``as_of``: the newer rows
  were verified by the runs that wrote them, and nothing since is open;
- a failed backfill stays open until a run of its interval or a newer one (the next live run) passes;
  a live run's tests do not reach that far back, so rerun the backfill (or the full audit below) to
  re-check the old interval. The simpler rule "the newest row is ``verified``" would let a successful
  backfill of an old interval hide a live run that failed just before it; this one does not.

Limits. "Verified" means the run's ``dbt test`` passed, and those tests check the day before its
``as_of`` (``test_window_minutes``, include/dbt/README.md): older rows a failed run rewrote (late-event
reconciliation reaches back ~49 h) are re-checked by the full audit (``python -m include.dbt test``),
not by the next run. The gate assumes that runs do not overlap, as the DAG's ``max_active_runs=1``
says (overlapping runs would also collide in their merges): Airflow 3 does not count a backfill's runs
against that limit, so give a backfill ``max_active_runs=1`` and do not let it run beside live runs:
a live run that verifies while a backfill run still writes would also settle that backfill's
``building`` row, and training could read what the backfill writes afterwards.

Builds outside the DAG (scripts, test fixtures) use :func:`building`, which records both rows around
the build (``verified`` only if the block finished without an exception), or :func:`mark_building` alone
when a DAG run will verify afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients, resources
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import FEATURE_STORE_RUNS, FEATURE_STORE_RUNS_SPEC

BUILDING = "building"
VERIFIED = "verified"
STATES = (BUILDING, VERIFIED)
QUARTER_HOUR = timedelta(minutes=15)


def as_of_for(interval_end: datetime) -> datetime:
    """The dbt ``as_of`` of a run: its data-interval end in UTC, floored to 15 minutes (as dbt floors it)."""
    if interval_end.tzinfo is None:
        raise ValueError(f"{interval_end!r} has no time zone")
    # a plain datetime: pendulum's (Airflow's) loses the zone on arithmetic when it holds timezone.utc
    value = datetime.fromtimestamp(interval_end.timestamp(), UTC)
    return value - timedelta(minutes=value.minute % 15, seconds=value.second, microseconds=value.microsecond)


@dataclass(frozen=True)
class Record:
    """One appended row (``recorded_at`` is set by the warehouse)."""

    run_id: str
    as_of: datetime
    state: str

    def __str__(self) -> str:
        return f"{FEATURE_STORE_RUNS}: {self.state} run {self.run_id} as of {self.as_of.isoformat()}"


def record(run_id: str, as_of: datetime, state: str, settings: Settings | None = None) -> Record:
    """Append one row. The table is created on first use (an existing deployment gets it from its next run)."""
    if state not in STATES:
        raise ValueError(f"state {state!r} is not one of {STATES}")
    if not run_id:
        raise ValueError("run_id is empty")
    s = settings or get_settings()
    row = Record(run_id, as_of_for(as_of), state)
    client = clients.bigquery_client(s)
    sql = (
        f"INSERT INTO `{s.table_id(FEATURE_STORE_RUNS)}` (run_id, as_of, state, recorded_at) "
        "VALUES (@run_id, @as_of, @state, CURRENT_TIMESTAMP())"
    )
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("run_id", "STRING", row.run_id),
            bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", row.as_of),
            bigquery.ScalarQueryParameter("state", "STRING", row.state),
        ]
    )
    try:
        client.query(sql, job_config=config).result()
    except exceptions.NotFound:  # a deployment older than the table: its first run creates it
        resources.ensure_table(FEATURE_STORE_RUNS_SPEC, s)
        client.query(sql, job_config=config).result()
    return row


def mark_building(run_id: str, as_of: datetime, settings: Settings | None = None) -> Record:
    """A run starts writing the feature tables: the gate closes until it (or a later run) verifies."""
    return record(run_id, as_of, BUILDING, settings)


def mark_verified(run_id: str, as_of: datetime, settings: Settings | None = None) -> Record:
    """A run's models and dbt tests all passed. Call only after the tests, never instead of them."""
    return record(run_id, as_of, VERIFIED, settings)


@contextmanager
def building(run_id: str, as_of: datetime, settings: Settings | None = None) -> Iterator[Record]:
    """Record ``building`` before the block and ``verified`` after it, unless it raised.

    For builds outside the DAG whose block includes the checks (dbt ``build``/``test``, or tables
    constructed by a test fixture): an exception leaves the run open, as a failed DAG run does.
    """
    started = mark_building(run_id, as_of, settings)
    yield started
    mark_verified(run_id, as_of, settings)


@dataclass(frozen=True)
class Gate:
    """What the run log says about the feature store; :meth:`ready_for` is the rule of the module docstring."""

    verified_as_of: datetime | None  # the newest as_of any run verified
    open_runs: int  # building rows not followed by a verified row of the same or a newer as_of
    open_run_id: str | None = None  # the most recent of them
    open_as_of: datetime | None = None
    open_since: datetime | None = None

    def ready_for(self, hour: datetime) -> bool:
        return self.open_runs == 0 and self.verified_as_of is not None and self.verified_as_of >= hour

    def explain(self, hour: datetime) -> str:
        """Why the gate is open or closed for ``hour``: for the sensor's log."""
        if self.open_runs:
            return (
                f"{self.open_runs} feature store run(s) building or failed without a later verified run; newest: "
                f"{self.open_run_id} as of {_iso(self.open_as_of)}, building since {_iso(self.open_since)}"
            )
        if self.verified_as_of is None:
            return f"no feature store run verified yet ({FEATURE_STORE_RUNS} is empty or missing)"
        if self.verified_as_of < hour:
            return f"the newest verified features are as of {_iso(self.verified_as_of)}, before {_iso(hour)}"
        return f"features verified as of {_iso(self.verified_as_of)}, no run open"


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value is not None else "-"


def _aware(value: datetime | None) -> datetime | None:
    """TIMESTAMPs are UTC; the emulator may return one without its zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def gate_sql(table_id: str) -> str:
    """One scan of the log: for each row the newest ``as_of`` verified after it, then the open runs.

    Ties on ``recorded_at`` (separate INSERTs, so not expected) sort ``building`` before ``verified``.
    Portable: a ROWS frame, scalar subqueries, IF; no correlated subquery.
    """
    return f"""
        WITH log AS (
          SELECT
            run_id, as_of, state, recorded_at,
            MAX(IF(state = '{VERIFIED}', as_of, NULL)) OVER (
              ORDER BY recorded_at, state, run_id ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
            ) AS verified_after
          FROM `{table_id}`
        ),
        open_runs AS (
          SELECT run_id, as_of, recorded_at
          FROM log
          WHERE state = '{BUILDING}' AND (verified_after IS NULL OR verified_after < as_of)
        )
        SELECT
          (SELECT MAX(as_of) FROM log WHERE state = '{VERIFIED}') AS verified_as_of,
          (SELECT COUNT(*) FROM open_runs) AS open_runs,
          (SELECT run_id FROM open_runs ORDER BY recorded_at DESC LIMIT 1) AS open_run_id,
          (SELECT as_of FROM open_runs ORDER BY recorded_at DESC LIMIT 1) AS open_as_of,
          (SELECT recorded_at FROM open_runs ORDER BY recorded_at DESC LIMIT 1) AS open_since
    """


def read_gate(settings: Settings | None = None) -> Gate:
    """The gate as the log stands now. A missing table reads as an empty log: closed, nothing verified.

    The log grows by two rows per 15-minute run (~70k a year); the query reads all of it, a few MB.
    """
    s = settings or get_settings()
    try:
        row = next(iter(clients.bigquery_client(s).query(gate_sql(s.table_id(FEATURE_STORE_RUNS))).result()))
    except exceptions.NotFound:
        return Gate(verified_as_of=None, open_runs=0)
    return Gate(
        verified_as_of=_aware(row["verified_as_of"]),
        open_runs=int(row["open_runs"] or 0),
        open_run_id=row["open_run_id"],
        open_as_of=_aware(row["open_as_of"]),
        open_since=_aware(row["open_since"]),
    )


def ready(hour: datetime, settings: Settings | None = None) -> bool:
    """True if training for ``hour`` may read the feature store (the gate only; the sensor also checks rows)."""
    return read_gate(settings).ready_for(hour)
