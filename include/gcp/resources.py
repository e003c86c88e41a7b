"""Create the topic, subscription, dataset, tables and bucket if they are missing.

Every function is idempotent (a second call finds the resource and changes nothing) and returns
what it did, so a DAG task can log it. Used by the setup DAG, the streaming DAG and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import TABLE_SPECS, TableSpec


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
        publisher.create_topic(name=s.topic_path)
        created = True
    except exceptions.AlreadyExists:
        created = False
    return Outcome("topic", s.topic_path, created)


def ensure_subscription(settings: Settings | None = None, ack_deadline_seconds: int = 60) -> Outcome:
    s = settings or get_settings()
    subscriber = clients.subscriber_client(s)
    try:
        with subscriber:
            subscriber.create_subscription(
                request={
                    "name": s.subscription_path,
                    "topic": s.topic_path,
                    "ack_deadline_seconds": ack_deadline_seconds,
                }
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
        client.create_dataset(dataset)
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
        columns = ", ".join(f"`{c}`" for c in copied)
        client.query(f"INSERT INTO `{table_id}` ({columns}) SELECT {columns} FROM `{copy_id}`").result()
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
        client.create_bucket(s.bucket, location=None if s.is_local else s.region)
        created = True
    except exceptions.Conflict:
        created = False
    return Outcome("bucket", s.bucket, created)


def ensure_pubsub(settings: Settings | None = None) -> list[Outcome]:
    return [ensure_topic(settings), ensure_subscription(settings)]


def ensure_bigquery(settings: Settings | None = None) -> list[Outcome]:
    return [ensure_dataset(settings)] + [ensure_table(spec, settings) for spec in TABLE_SPECS]


def ensure_all(settings: Settings | None = None) -> list[Outcome]:
    """Everything the pipeline writes to, in dependency order."""
    return [*ensure_pubsub(settings), *ensure_bigquery(settings), ensure_bucket(settings)]
