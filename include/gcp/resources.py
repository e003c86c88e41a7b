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
    s = settings or get_settings()
    client = clients.bigquery_client(s)
    table_id = s.table_id(spec.name)
    try:
        client.create_table(spec.to_table(table_id))
        created = True
    except exceptions.Conflict:
        created = False
    return Outcome("table", table_id, created)


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
