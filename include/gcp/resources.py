"""Create the topic, subscription, dataset, tables and bucket if they are missing.

Every function is idempotent (a second call finds the resource and changes nothing) and returns
what it did, so a DAG task can log it. Used by the setup DAG, the streaming DAG and the tests.

The create calls of the topic, subscription, dataset and bucket have an explicit limit (:data:`ATTEMPT_SECONDS`
an attempt, :data:`TOTAL_SECONDS` with the retries): the clients' own retry for up to 10 min (Pub/Sub,
BigQuery) when the service does not answer, which left ``bikeshare_stream.ensure_resources`` silent until its
5-min ``execution_timeout``. A service that does not answer within the limit raises
:class:`ServiceUnreachable`, which names the service and its endpoint (issue 23 §3).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests
from google.api_core import exceptions
from google.api_core import retry as api_retry
from google.cloud import bigquery
from google.cloud.storage.retry import DEFAULT_RETRY as STORAGE_RETRY

from include.gcp import bucket_migration, clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import TABLE_SPECS, TableSpec
from include.systems import DEFAULT_SYSTEM

ATTEMPT_SECONDS = 60.0  # one create call (measured <= 11.6 s for the slowest ensure step under load)
TOTAL_SECONDS = 120.0  # with the retries of transient errors: well inside the tasks' 5-min execution_timeout
UNANSWERED = (
    exceptions.RetryError,
    exceptions.ServiceUnavailable,
    exceptions.DeadlineExceeded,
    requests.ConnectionError,
    requests.Timeout,
)


class ServiceUnreachable(RuntimeError):
    """A Google service did not answer a create call within its limit; the message names it and its endpoint."""


def _grpc_retry() -> api_retry.Retry:
    return api_retry.Retry(
        initial=0.5, maximum=10.0, multiplier=2.0, timeout=TOTAL_SECONDS, predicate=api_retry.if_transient_error
    )


@contextmanager
def _answering(service: str, endpoint: str, what: str) -> Iterator[None]:
    try:
        yield
    except UNANSWERED as err:
        raise ServiceUnreachable(
            f"{service} at {endpoint} did not answer within {TOTAL_SECONDS:.0f} s while ensuring {what}: "
            f"{type(err).__name__}: {err}"
        ) from err


def _endpoint(s: Settings, local: str, gcp: str) -> str:
    return local if s.is_local else gcp


@dataclass(frozen=True)
class Outcome:
    """One resource and whether this call created it."""

    kind: str
    name: str
    created: bool

    def __str__(self) -> str:
        return f"{self.kind} {self.name}: {'created' if self.created else 'exists'}"


def ensure_topic(settings: Settings | None = None) -> Outcome:
    s = settings or get_settings()
    publisher = clients.publisher_client(s)
    try:
        with _answering("Pub/Sub", _endpoint(s, s.pubsub.address, "pubsub.googleapis.com"), s.topic_path):
            publisher.create_topic(name=s.topic_path, retry=_grpc_retry(), timeout=ATTEMPT_SECONDS)
        created = True
    except exceptions.AlreadyExists:
        created = False
    return Outcome("topic", s.topic_path, created)


def ensure_subscription(settings: Settings | None = None, ack_deadline_seconds: int = 60) -> Outcome:
    s = settings or get_settings()
    subscriber = clients.subscriber_client(s)
    try:
        with (
            subscriber,
            _answering("Pub/Sub", _endpoint(s, s.pubsub.address, "pubsub.googleapis.com"), s.subscription_path),
        ):
            subscriber.create_subscription(
                request={
                    "name": s.subscription_path,
                    "topic": s.topic_path,
                    "ack_deadline_seconds": ack_deadline_seconds,
                },
                retry=_grpc_retry(),
                timeout=ATTEMPT_SECONDS,
            )
        created = True
    except exceptions.AlreadyExists:
        created = False
    return Outcome("subscription", s.subscription_path, created)


def ensure_dataset(settings: Settings | None = None) -> Outcome:
    s = settings or get_settings()
    client = clients.bigquery_client(s)
    dataset = bigquery.Dataset(f"{s.project}.{s.dataset}")
    dataset.location = s.bq_location
    try:
        with _answering(
            "BigQuery", _endpoint(s, s.bigquery.url, "https://bigquery.googleapis.com"), dataset.dataset_id
        ):
            client.create_dataset(
                dataset, retry=bigquery.DEFAULT_RETRY.with_deadline(TOTAL_SECONDS), timeout=ATTEMPT_SECONDS
            )
        created = True
    except exceptions.Conflict:
        created = False
    return Outcome("dataset", dataset.dataset_id, created)


def ensure_table(spec: TableSpec, settings: Settings | None = None) -> Outcome:
    """Create the table, or bring an existing one to the spec's columns (see :func:`add_columns`)."""
    s = settings or get_settings()
    client = clients.bigquery_client(s)
    table_id = s.table_id(spec.name)
    if _exists(client, _copy_id(table_id)):  # a migration killed half-way: finish it first
        _finish_migration(client, spec, table_id, _copy_id(table_id))
    try:
        client.create_table(spec.to_table(table_id))
        return Outcome("table", table_id, True)
    except exceptions.Conflict:
        pass
    added = add_columns(client, spec, table_id)
    return Outcome("table", table_id + (f" (added {', '.join(added)})" if added else ""), False)


def add_columns(client: bigquery.Client, spec: TableSpec, table_id: str) -> list[str]:
    """Give an existing table the NULLABLE columns the spec gained since it was created; returns them.
    The rows already there get the spec's ``fill_added`` literal for such a column (``system_id``: Jersey
    City), NULL otherwise.

    By copy, not ``ALTER TABLE ADD COLUMN`` / ``tables.update``: the emulator accepts those but then
    fails every insert (HTTP 500), and the copy runs on both backends. Rows are kept:
    the table is copied to ``<table>__migrating``, re-created from the spec and refilled. A process
    killed half-way leaves the copy, and the next :func:`ensure_table` finishes from it (never twice).
    """
    copy_id = _copy_id(table_id)
    have = {f.name for f in client.get_table(table_id).schema}
    missing = [f for f in spec.schema if f.name not in have]
    if not missing:
        return []
    if any(f.mode == "REQUIRED" for f in missing):
        raise ValueError(f"{table_id}: cannot add REQUIRED columns {[f.name for f in missing]} to existing rows")
    client.query(f"CREATE TABLE `{copy_id}` AS SELECT * FROM `{table_id}`").result()
    _finish_migration(client, spec, table_id, copy_id, copy_is_fresh=True)
    return [f.name for f in missing]


def _finish_migration(
    client: bigquery.Client, spec: TableSpec, table_id: str, copy_id: str, copy_is_fresh: bool = False
) -> None:
    """From a complete copy: the table re-created from the spec, the copy's rows in it, the copy gone.

    A copy left by a killed run beside a table of the old schema is dropped instead (the caller copies again).
    """
    copied = [f.name for f in client.get_table(copy_id).schema]
    if _exists(client, table_id) and {f.name for f in client.get_table(table_id).schema} != {
        f.name for f in spec.schema
    }:
        if not copy_is_fresh:  # killed before the drop: rows may have arrived since the copy
            client.delete_table(copy_id)
            return
        client.delete_table(table_id)  # still the old schema: its rows are all in the copy
    if not _exists(client, table_id):
        client.create_table(spec.to_table(table_id))
    if _count(client, table_id) < _count(client, copy_id):  # not refilled yet (an INSERT is atomic)
        fills = [(c, literal) for c, literal in spec.fill_added if c not in copied]  # the rows before the column
        columns = ", ".join(f"`{c}`" for c in [*copied, *(c for c, _ in fills)])
        values = ", ".join([*(f"`{c}`" for c in copied), *(literal for _, literal in fills)])
        client.query(f"INSERT INTO `{table_id}` ({columns}) SELECT {values} FROM `{copy_id}`").result()
    client.delete_table(copy_id)


def _copy_id(table_id: str) -> str:
    return f"{table_id}__migrating"


def _exists(client: bigquery.Client, table_id: str) -> bool:
    try:
        client.get_table(table_id)
        return True
    except exceptions.NotFound:
        return False


def _count(client: bigquery.Client, table_id: str) -> int:
    return next(iter(client.query(f"SELECT COUNT(*) AS n FROM `{table_id}`").result())).n


def ensure_bucket(settings: Settings | None = None) -> Outcome:
    s = settings or get_settings()
    client = clients.storage_client(s)
    try:
        with _answering("Cloud Storage", _endpoint(s, s.storage.url, "https://storage.googleapis.com"), s.bucket):
            client.create_bucket(
                s.bucket,
                location=None if s.is_local else s.region,
                retry=STORAGE_RETRY.with_timeout(TOTAL_SECONDS),
                timeout=ATTEMPT_SECONDS,
            )
        created = True
    except exceptions.Conflict:
        created = False
    if not created and bucket_migration.needed(s):  # objects from before systems: copy them once
        moved = bucket_migration.migrate(s)
        return Outcome("bucket", f"{s.bucket} (copied {len(moved.copied)} objects to {s.env}/{DEFAULT_SYSTEM}/)", False)
    return Outcome("bucket", s.bucket, created)


def ensure_pubsub(settings: Settings | None = None) -> list[Outcome]:
    return [ensure_topic(settings), ensure_subscription(settings)]


def ensure_bigquery(settings: Settings | None = None) -> list[Outcome]:
    return [ensure_dataset(settings)] + [ensure_table(spec, settings) for spec in TABLE_SPECS]


def ensure_all(settings: Settings | None = None) -> list[Outcome]:
    """Everything the pipeline writes to, in dependency order."""
    return [*ensure_pubsub(settings), *ensure_bigquery(settings), ensure_bucket(settings)]
