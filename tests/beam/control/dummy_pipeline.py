"""A stand-in for ``include.beam.pipeline.pipeline`` with the same argv: pulls, writes rows, stops on SIGINT.

It lets the job-control tests exercise a real long-running background process (and a crash) on
the local stack without depending on Beam's start-up time. ``--crash`` makes it fail at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery, pubsub_v1

REQUIRED = ("event_id", "station_id", "ts_iso", "kind", "delta")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--raw_events_table", required=True)
    parser.add_argument("--dead_letter_table", required=True)
    parser.add_argument("--crash", action="store_true")
    args, _ = parser.parse_known_args(argv)
    if args.crash:
        print("dummy pipeline: crashing on purpose", flush=True)
        return 3
    # the emulators come from PUBSUB_EMULATOR_HOST / BIGQUERY_EMULATOR_HOST, as for the real pipeline
    project = args.raw_events_table.split(".")[0]
    bq = bigquery.Client(project=project, credentials=AnonymousCredentials())
    print("dummy pipeline: running", flush=True)
    try:
        with pubsub_v1.SubscriberClient() as sub:
            while True:
                try:
                    resp = sub.pull(request={"subscription": args.subscription, "max_messages": 100}, timeout=2)
                except (exceptions.DeadlineExceeded, exceptions.RetryError):
                    continue
                if not resp.received_messages:
                    continue
                good, bad, now = [], [], datetime.now(UTC).isoformat()
                for m in resp.received_messages:
                    data = m.message.data.decode()
                    try:
                        event = json.loads(data)
                        good.append({k: event[k] for k in REQUIRED} | {"ingested_at": now})
                    except (ValueError, KeyError, TypeError) as err:
                        bad.append({"payload": data, "error": f"{type(err).__name__}: {err}", "received_at": now})
                for table, rows in ((args.raw_events_table, good), (args.dead_letter_table, bad)):
                    if rows and (errors := bq.insert_rows_json(table, rows)):
                        print(f"dummy pipeline: insert errors {errors}", flush=True)
                sub.acknowledge(
                    request={"subscription": args.subscription, "ack_ids": [m.ack_id for m in resp.received_messages]}
                )
    except KeyboardInterrupt:
        print("dummy pipeline: SIGINT, stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
