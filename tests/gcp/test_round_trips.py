"""Each Google client round-trips through the project's own code against the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from google.cloud import bigquery

from include.gcp import bucket, clients, paths, resources
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER, TABLE_SPECS
from tests.conftest import drop_resources

pytestmark = pytest.mark.integration


def test_ensure_all_is_idempotent(test_settings: Settings) -> None:
    fresh = test_settings.with_names(
        dataset=test_settings.dataset + "_again",
        topic=test_settings.topic + "-again",
        subscription=test_settings.subscription + "-again",
        bucket=test_settings.bucket + "-again",
    )
    try:
        first = resources.ensure_all(fresh)
        tables = len(TABLE_SPECS)  # raw_events, dead letters, feature_store_runs, station_predictions, feature_drift
        assert [o.created for o in first] == [True] * (tables + 4)
        assert [o.kind for o in first] == ["topic", "subscription", "dataset", *["table"] * tables, "bucket"]
        assert [o.created for o in resources.ensure_all(fresh)] == [False] * (tables + 4)
    finally:
        drop_resources(fresh)


def test_pubsub_publish_and_pull(test_settings: Settings) -> None:
    publisher = clients.publisher_client(test_settings)
    events = [
        {
            "system_id": "citibike-jc",
            "event_id": f"e{i}",
            "station_id": "3186",
            "ts_iso": "2019-09-01T08:00:00Z",
            "kind": "pickup",
            "delta": 1,
        }
        for i in range(20)
    ]
    futures = [publisher.publish(test_settings.topic_path, json.dumps(e).encode()) for e in events]
    message_ids = [f.result(timeout=30) for f in futures]
    assert len(set(message_ids)) == 20

    received: list[dict] = []
    with clients.subscriber_client(test_settings) as subscriber:
        for _ in range(20):
            response = subscriber.pull(
                request={"subscription": test_settings.subscription_path, "max_messages": 50}, timeout=10
            )
            received += [json.loads(m.message.data) for m in response.received_messages]
            if response.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": test_settings.subscription_path,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
            if len(received) >= 20:
                break
    assert sorted(received, key=lambda e: e["event_id"]) == sorted(events, key=lambda e: e["event_id"])


def test_bigquery_insert_and_query(test_settings: Settings) -> None:
    client = clients.bigquery_client(test_settings)
    rows = [
        {
            "event_id": "a",
            "station_id": "3186",
            "ts_iso": "2019-09-01T08:05:00Z",
            "kind": "pickup",
            "delta": 1,
        },
        {
            "event_id": "b",
            "station_id": "3186",
            "ts_iso": "2019-09-01T08:20:00Z",
            "kind": "dropoff",
            "delta": 1,
        },
        {
            "event_id": "c",
            "station_id": "3203",
            "ts_iso": "2019-09-01T09:10:00Z",
            "kind": "dropoff",
            "delta": 1,
        },
    ]
    assert client.insert_rows_json(test_settings.table_id(RAW_EVENTS), rows) == []
    dead = [{"payload": "{not json", "error": "bad JSON", "received_at": "2019-09-01T08:00:00Z"}]
    assert client.insert_rows_json(test_settings.table_id(RAW_EVENTS_DEAD_LETTER), dead) == []

    job = client.query(
        f"""
        select station_id,
               sum(if(kind = 'dropoff', delta, -delta)) as net_change,
               count(*) as events
        from `{test_settings.table_id(RAW_EVENTS)}`
        where ts_iso >= @start and ts_iso < timestamp_add(@start, interval 1 hour)
          and event_id in unnest(@ids)  -- other tests of the session write to this table too
        group by station_id
        """,
        job_config=bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", datetime(2019, 9, 1, 8, tzinfo=UTC)),
                bigquery.ArrayQueryParameter("ids", "STRING", [r["event_id"] for r in rows]),
            ]
        ),
    )
    result = {r.station_id: (r.net_change, r.events) for r in job.result(timeout=30)}
    assert result == {"3186": (0, 2)}

    table = client.get_table(test_settings.table_id(RAW_EVENTS))
    assert [f.name for f in table.schema] == [
        "event_id",
        "station_id",
        "ts_iso",
        "kind",
        "delta",
        "ingested_at",
        "system_id",
    ]
    assert table.time_partitioning.field == "ts_iso"


def test_bucket_write_read_and_rerun_replaces(test_settings: Settings) -> None:
    hour = datetime(2019, 9, 1, 9, tzinfo=UTC)
    path = paths.predictions(test_settings.system_root, "v1", hour)
    uri = bucket.write_bytes(path, b"first", "avro/binary", test_settings)
    assert uri == f"gs://{test_settings.bucket}/{path}"
    assert bucket.read_bytes(path, test_settings) == b"first"

    bucket.write_bytes(path, b"second run", "avro/binary", test_settings)
    assert bucket.read_bytes(path, test_settings) == b"second run"
    prefix = f"{test_settings.system_root}/predictions/"
    assert bucket.list_paths(prefix, test_settings) == [path]
    # no temporary objects are left behind by the atomic write (the session's bucket also holds other tests'
    # objects, e.g. predictions_backfill/: only this path's own temporaries would be left by a bad write)
    names = [b.name for b in clients.storage_client(test_settings).list_blobs(test_settings.bucket, prefix=path)]
    assert names == [path]


def test_google_auth_finds_local_credentials_through_the_metadata_stand_in(local_stack: Settings) -> None:
    """What Beam does before it talks to the emulators: google.auth.default(), no network needed."""
    code = (
        "import google.auth, google.auth.transport.requests as r\n"
        "creds, project = google.auth.default()\n"
        "creds.refresh(r.Request())\n"
        "print(project, creds.token)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    env |= local_stack.emulator_env()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [local_stack.project, "local-emulator-token"]
