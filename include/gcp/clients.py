"""Google Cloud clients for the active profile: the same client classes against both backends.

In the ``local`` profile they carry anonymous credentials and point at the emulators; in the
``gcp`` profile they use Application Default Credentials (Workload Identity on Astro).
"""

from __future__ import annotations

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, pubsub_v1, storage
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

from include.gcp.settings import Settings, get_settings


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
