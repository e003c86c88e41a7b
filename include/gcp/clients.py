"""Google Cloud clients for the active profile: the same client classes against both backends.

In the ``local`` profile they carry anonymous credentials and point at the emulators; in the
``gcp`` profile they use Application Default Credentials (Workload Identity on Astro).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, pubsub_v1, storage
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from include.gcp.settings import Settings, get_settings

if TYPE_CHECKING:
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient


def bigquery_client(settings: Settings | None = None) -> bigquery.Client:
    s = settings or get_settings()
    if not s.is_local:
        return bigquery.Client(project=s.project, location=s.bq_location)
    return bigquery.Client(
        project=s.project,
        location=s.bq_location,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=s.bigquery.url),
    )


def bigquery_read_client(settings: Settings | None = None) -> BigQueryReadClient:
    """The BigQuery Storage Read API: a table scan as Arrow streams, for bulk reads (training windows).

    Locally it talks gRPC to the emulator, which sends a stream's rows in one message, hence no receive
    limit. Measured on 12 weeks of station_features_wide (193k rows): 0.4 s, against 30.5 s for the
    same rows paged through the emulator's REST query API.
    """
    from google.cloud.bigquery_storage_v1 import BigQueryReadClient
    from google.cloud.bigquery_storage_v1.services.big_query_read.transports import BigQueryReadGrpcTransport

    s = settings or get_settings()
    if not s.is_local:
        return BigQueryReadClient()
    endpoint = f"{s.bigquery_grpc.host}:{s.bigquery_grpc.port}"
    channel = grpc.insecure_channel(endpoint, options=[("grpc.max_receive_message_length", -1)])
    return BigQueryReadClient(transport=BigQueryReadGrpcTransport(channel=channel))


def storage_client(settings: Settings | None = None) -> storage.Client:
    s = settings or get_settings()
    if not s.is_local:
        return storage.Client(project=s.project)
    return storage.Client(
        project=s.project,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=s.storage.url),
    )


def publisher_client(
    settings: Settings | None = None,
    batch_settings: pubsub_v1.types.BatchSettings | None = None,
    publisher_options: pubsub_v1.types.PublisherOptions | None = None,
) -> pubsub_v1.PublisherClient:
    s = settings or get_settings()
    extra = {}
    if batch_settings is not None:
        extra["batch_settings"] = batch_settings
    if publisher_options is not None:
        extra["publisher_options"] = publisher_options
    if not s.is_local:
        return pubsub_v1.PublisherClient(**extra)
    # The emulator speaks plain gRPC, so give the client an insecure channel explicitly.
    transport = PublisherGrpcTransport(channel=grpc.insecure_channel(s.pubsub.address))
    return pubsub_v1.PublisherClient(transport=transport, **extra)


def subscriber_client(settings: Settings | None = None) -> pubsub_v1.SubscriberClient:
    s = settings or get_settings()
    if not s.is_local:
        return pubsub_v1.SubscriberClient()
    transport = SubscriberGrpcTransport(channel=grpc.insecure_channel(s.pubsub.address))
    return pubsub_v1.SubscriberClient(transport=transport)
