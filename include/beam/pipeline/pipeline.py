"""The streaming ingest pipeline: Pub/Sub → parse, validate, dedupe → BigQuery raw_events.

Invalid messages (the contract: :mod:`include.gcp.events`), conflicting copies of an event_id and
rows BigQuery refuses go to raw_events_dead_letter with the reason code, so
``messages in = raw_events rows + dead letters + duplicates`` (the ``duplicates`` counter).
Run it with ``python -m include.beam.pipeline.pipeline $(args from include.beam.control.launch.pipeline_args)``.

Local (BundleBasedDirectRunner) facts that shape the code, measured with Beam 2.77 and
benchmarks/ingest_throughput.py:
- its Pub/Sub read pulls 10 messages per bundle and acks on pull, and any exception ends the
  pipeline: :mod:`include.beam.pipeline.direct_pubsub` makes each bundle drain the backlog (the emulator gives
  100 per pull; every bundle pays a fixed cost in every stage), acknowledges each message only once
  its row or dead letter is written (:mod:`include.beam.pipeline.local_acks`, so kill -9 loses nothing), and
  retries inserts through a BigQuery outage (never a refusal);
- keyed state is never reclaimed and every watermark tick scans every key's timers, so the dedupe
  step is keyed by a bounded shard of the event_id (``--dedupe_shards``), not by the id itself
  (keyed by id: 52 events/s at 20k events, falling as the replay grows); Beam's 500
  streaming-insert shards likewise become tiny inserts (4 locally, see ``pipeline_args``);
- its streaming counters keep only the first bundle per worker thread, hence the duplicate log.
On Dataflow the same graph runs: state per shard with its expiry timer, metrics are exact.
On both, ``--dedupe_against_table`` checks every event against the ids raw_events holds within its
late window (:mod:`include.beam.pipeline.written_ids`), so a copy published after a drain, a kill -9
or under a new job name is not written twice.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy
from apache_beam.io.gcp.pubsub import ReadFromPubSub
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from include.beam.pipeline import direct_pubsub, local_acks
from include.beam.pipeline.options import IngestOptions
from include.beam.pipeline.transforms import (
    DEAD_LETTER,
    DUPLICATE,
    DedupeByEventId,
    FailedWriteToDeadLetter,
    HandleDuplicate,
    KeyByShard,
    LogDeadLetterWriteFailure,
    ParseEvents,
    SkipWritten,
    ToRawEventRow,
    with_timestamp_objects,
)
from include.gcp.tables import RAW_EVENTS_DEAD_LETTER_SPEC, RAW_EVENTS_SPEC, TableSpec

LOG = logging.getLogger(__name__)


class Processed(NamedTuple):
    """What :func:`process` produces before anything is written."""

    rows: beam.PCollection  # raw_events rows, timestamped at their event time
    dead_letters: beam.PCollection  # raw_events_dead_letter rows (invalid messages, conflicting copies)
    duplicates: beam.PCollection  # Received copies of events already written or on their way


class Written(NamedTuple):
    """What :func:`build` returns, for tests to assert on."""

    rows: beam.PCollection
    dead_letters: beam.PCollection  # invalid messages and refused rows, as written to the dead-letter table


def _schema(spec: TableSpec) -> dict[str, list[dict[str, str]]]:
    return {"fields": [{"name": f.name, "type": f.field_type, "mode": f.mode} for f in spec.schema]}


def process(messages: beam.PCollection, opts: IngestOptions) -> Processed:
    """Messages → raw_events rows and dead-letter rows (no I/O but the optional raw_events reads;
    unit-tested with TestStream)."""
    parse = ParseEvents(opts.limits(), opts.replay_window())
    parsed = messages | "Parse" >> beam.ParDo(parse).with_outputs(DEAD_LETTER, main="events")
    dead_letters, duplicates = [parsed[DEAD_LETTER]], []
    events = parsed.events
    if opts.dedupe_against_table:  # copies of what an earlier job wrote, and of what this one passed
        skip = SkipWritten(opts.raw_events_table, opts.limits())
        looked_up = events | "SkipWritten" >> beam.ParDo(skip).with_outputs(DUPLICATE, DEAD_LETTER, main="events")
        events = looked_up.events
        dead_letters.append(looked_up[DEAD_LETTER])
        duplicates.append(looked_up[DUPLICATE])
    if opts.dedupe_ttl_seconds > 0:
        deduped = (
            events
            | "ShardKey" >> beam.ParDo(KeyByShard(opts.dedupe_shards))
            | "Dedupe"
            >> beam.ParDo(DedupeByEventId(opts.dedupe_ttl_seconds)).with_outputs(DUPLICATE, DEAD_LETTER, main="events")
        )
        received = deduped.events
        dead_letters.append(deduped[DEAD_LETTER])
        duplicates.append(deduped[DUPLICATE])
    else:  # dedupe left to the sink (insert ids / exactly-once Storage Write API) and to dbt's staging model
        received = events | "Unkey" >> beam.Values()
    rows = received | "ToRow" >> beam.ParDo(ToRawEventRow())
    return Processed(rows, _flatten(dead_letters, "DeadLetters"), _flatten(duplicates, "Duplicates", messages))


def _flatten(parts: list[beam.PCollection], label: str, empty_from: beam.PCollection | None = None) -> beam.PCollection:
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return empty_from.pipeline | f"No{label}" >> beam.Create([])  # type: ignore[union-attr]
    return tuple(parts) | f"Flatten{label}" >> beam.Flatten()


def _write(rows: beam.PCollection, table: str, spec: TableSpec, opts: IngestOptions, label: str) -> beam.PCollection:
    """Write rows; return BigQuery's refused rows (permanent errors only; transient ones are retried)."""
    storage_api = opts.write_method == "STORAGE_WRITE_API"
    if storage_api:
        fields = tuple(f.name for f in spec.schema if f.field_type == "TIMESTAMP")
        rows = rows | f"{label}Timestamps" >> beam.Map(with_timestamp_objects, fields)
    result = rows | label >> WriteToBigQuery(
        table=table,
        method=opts.write_method,
        schema=_schema(spec) if storage_api else None,
        create_disposition=BigQueryDisposition.CREATE_NEVER,
        write_disposition=BigQueryDisposition.WRITE_APPEND,
        insert_retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
        batch_size=opts.insert_batch_size,
        num_streaming_keys=opts.num_streaming_keys,
    )
    return result.failed_rows_with_errors


def build(p: beam.Pipeline, opts: PipelineOptions, source: beam.PTransform | None = None) -> Written:
    """Read (Pub/Sub, or ``source`` in tests), process, write both tables; nothing is dropped."""
    ingest = opts.view_as(IngestOptions)
    if missing := ingest.missing(with_source=source is None):
        raise ValueError(
            f"the ingest pipeline needs {', '.join(missing)} (see include.beam.control.launch.pipeline_args)"
        )
    messages = p | "Read" >> (source or ReadFromPubSub(subscription=ingest.subscription, with_attributes=True))
    processed = process(messages, ingest)
    _ = processed.duplicates | "HandleDuplicates" >> beam.ParDo(HandleDuplicate())
    return Written(processed.rows, write(processed.rows, processed.dead_letters, ingest))


def write(rows: beam.PCollection, dead_letters: beam.PCollection, ingest: IngestOptions) -> beam.PCollection:
    """Write raw_events rows and dead letters; a row BigQuery refuses becomes a ``write_failed`` dead
    letter. Returns every dead letter written (the invalid messages and the refused rows)."""
    refused = _write(rows, ingest.raw_events_table, RAW_EVENTS_SPEC, ingest, "WriteRawEvents")
    all_dead = (
        dead_letters,
        refused | "RefusedToDeadLetter" >> beam.ParDo(FailedWriteToDeadLetter()),
    ) | "AllDeadLetters" >> beam.Flatten()
    dl_refused = _write(all_dead, ingest.dead_letter_table, RAW_EVENTS_DEAD_LETTER_SPEC, ingest, "WriteDeadLetter")
    _ = dl_refused | "LogDeadLetterRefused" >> beam.ParDo(LogDeadLetterWriteFailure())
    return all_dead


def main(argv: list[str] | None = None) -> None:
    """Run until cancelled (streaming); locally the emulators come from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apache_beam.typehints").setLevel(logging.WARNING)  # one line per string annotation
    opts = PipelineOptions(argv)
    opts.view_as(StandardOptions).streaming = True
    ingest = opts.view_as(IngestOptions)
    if "Direct" in str(opts.view_as(StandardOptions).runner):
        ledger = None
        if ingest.direct_ack_after_write:
            ledger = local_acks.AckLedger(
                ingest.raw_events_table, ingest.dead_letter_table, max_outstanding=ingest.direct_max_outstanding
            )
        direct_pubsub.install(ingest.direct_pull_max_messages, ledger)
    with beam.Pipeline(options=opts) as p:
        build(p, opts)


if __name__ == "__main__":
    main()
