"""The DirectRunner's Pub/Sub read and BigQuery inserts, made fit for a local job that must lose nothing.

Five changes to Beam 2.77's DirectRunner, all by wrapping (no copy of Beam's code), all inert on
Dataflow (they patch classes in the launching process only, where a Dataflow job runs no step).
This module is the only place that patches Beam:

1. **Larger pulls.** Its read pulls ``max_messages=10`` (hard-coded in
   ``_PubSubReadEvaluator._read_from_pubsub``) and every pull becomes one bundle that crosses every
   stage: ~70 events/s. After Beam's own pull (which waits for the first message) the wrap keeps
   pulling what is already there, with ``return_immediately``, up to ``max_messages`` per bundle
   (the emulator gives at most 100 per pull).
2. **Acknowledge after the write** (:mod:`include.beam.pipeline.local_acks`). The runner acknowledges every
   message as it pulls it; the wrap makes that acknowledge a no-op and hands the messages to the
   ledger, which acknowledges each one once its row or dead letter is in BigQuery, and holds their
   leases meanwhile. While the ledger holds ``max_outstanding`` messages the wrap pulls nothing.
3. **Outlive a BigQuery outage, never retry a refusal.** A failed insert raises in Beam's sink once
   the client's retry deadline (600 s) has passed, and any exception ends a DirectRunner pipeline.
   The wrap retries transport and server errors for as long as it takes (backoff up to 30 s, a
   warning each time), then reports the written rows to the ledger. A client error (a row the
   encoder cannot write, HTTP 400) is the rows' fault, not an outage: the rows at fault come back as
   Beam's failed rows (``write_failed`` dead letters) and the others are written.
4. **A cheaper row-size check.** Beam's streaming-insert sink measures every row with objsize's deep
   walk (``BigQueryWriteFn._check_row_size``): 30 % of the local pipeline's CPU. The wrap measures
   the row as the JSON the insert request carries, which is what the 10 MB payload limit is about;
   an oversized row is still refused into the dead letters with Beam's own message.
5. **Stop pulling on a drain** (:func:`stop_reading_when`, used by :mod:`include.beam.pipeline.stream_drain`).
   Once the drain is asked for, every read returns nothing *without pulling*, so the unread messages
   stay in the subscription for the next job.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from apache_beam.io.gcp import bigquery, bigquery_tools
from apache_beam.runners.direct import transform_evaluator
from apitools.base.py.exceptions import HttpError
from google.api_core import exceptions as api_exceptions
from google.auth.exceptions import GoogleAuthError
from google.pubsub_v1.types import PullResponse

from include.beam.pipeline import local_acks
from include.gcp.events import writable

log = logging.getLogger(__name__)

_Evaluator = transform_evaluator._PubSubReadEvaluator
_ORIGINAL = _Evaluator.__dict__["_get_subscriber_client"]
_ORIGINAL_READ = _Evaluator.__dict__["_read_from_pubsub"]
_ORIGINAL_INSERT = bigquery_tools.BigQueryWrapper.insert_rows
_ORIGINAL_ROW_SIZE = bigquery.BigQueryWriteFn.__dict__["_check_row_size"]
FULL_WAIT_S = 0.5  # how long a pull waits when the ledger is full, instead of pulling
MAX_RETRY_DELAY_S = 30.0
IDLE_POLL_S = 0.5  # how often a drained reader wakes (instead of a pull)
_sleep = time.sleep  # the insert retry's wait (tests replace it)


class _LargerPulls:
    """The DirectRunner's subscriber client: each pull drains the backlog up to ``max_messages``.

    With a ``ledger``, pulled messages are registered there and the runner's acknowledge does nothing.
    """

    def __init__(self, client: Any, max_messages: int, ledger: local_acks.AckLedger | None = None) -> None:
        self._client = client
        self._max_messages = max_messages
        self._ledger = ledger

    def pull(self, **kwargs: Any) -> Any:
        kwargs["max_messages"] = max(kwargs.get("max_messages", 0), self._max_messages)
        if self._ledger is not None:
            self._ledger.attach(self._client, kwargs["subscription"])
            room = self._ledger.max_outstanding - self._ledger.outstanding()
            if room <= 0:
                time.sleep(FULL_WAIT_S)
                return PullResponse(received_messages=[])
            kwargs["max_messages"] = min(kwargs["max_messages"], room)
        response = self._client.pull(**kwargs)
        received = list(response.received_messages)
        last = len(received)
        while last and len(received) < kwargs["max_messages"]:
            more = self._client.pull(
                subscription=kwargs["subscription"],
                max_messages=kwargs["max_messages"] - len(received),
                return_immediately=True,
                timeout=kwargs.get("timeout"),
            )
            last = len(more.received_messages)
            received.extend(more.received_messages)
        if self._ledger is not None:
            self._ledger.received(received)
        if len(received) == len(response.received_messages):
            return response
        return PullResponse(received_messages=received)

    def acknowledge(self, **kwargs: Any) -> Any:
        if self._ledger is not None:
            return None  # the ledger acknowledges once the rows are written
        return self._client.acknowledge(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def set_pull_max_messages(max_messages: int, ledger: local_acks.AckLedger | None = None) -> None:
    """Make every DirectRunner Pub/Sub pull in this process ask for up to ``max_messages``."""
    original = _ORIGINAL.__func__

    def _get_subscriber_client(cls: type, transform: Any) -> Any:
        return _LargerPulls(original(cls, transform), max_messages, ledger)

    _Evaluator._get_subscriber_client = classmethod(_get_subscriber_client)


def is_transient(err: BaseException) -> bool:
    """An error of the transport, the credentials or the server (BigQuery away: retry until it
    answers), as opposed to an error of the rows themselves (a client error: retrying cannot help)."""
    if isinstance(err, api_exceptions.GoogleAPICallError):
        return err.code is None or int(err.code) >= 500 or int(err.code) in (408, 429)
    if isinstance(err, HttpError):  # Beam's apitools client
        return int(err.status_code) >= 500 or int(err.status_code) in (408, 429)
    return isinstance(err, (OSError, api_exceptions.RetryError, GoogleAuthError))  # OSError: requests', sockets'


class _Refused(Exception):
    """A deterministic failure of an insert request (see :func:`is_transient`)."""


def _insert_until_answered(self: Any, table: str, rows: list[dict[str, Any]], insert_ids: list[str] | None, *args: Any):
    """Beam's insert, retried through transport and server errors; a client error raises :class:`_Refused`."""
    project_id, dataset_id, table_id = table.split(".")
    delay, failing_since = 1.0, None
    while True:
        try:
            result = _ORIGINAL_INSERT(self, project_id, dataset_id, table_id, rows, insert_ids, *args)
            break
        except Exception as err:
            if not is_transient(err):
                raise _Refused(f"{type(err).__name__}: {writable(str(err))[:1000]}") from err
            failing_since = failing_since or time.monotonic()
            log.warning(
                "BigQuery insert of %d rows into %s failing for %.0f s; retrying in %.0f s: %s",
                len(rows),
                table,
                time.monotonic() - failing_since,
                delay,
                err,
            )
            _sleep(delay)
            delay = min(2 * delay, MAX_RETRY_DELAY_S)
    if failing_since is not None:
        log.warning(
            "BigQuery insert into %s succeeded after %.0f s of failures", table, time.monotonic() - failing_since
        )
    return result


def _insert_rows(
    self: Any,
    project_id: str,
    dataset_id: str,
    table_id: str,
    rows: list[dict[str, Any]],
    insert_ids: list[str] | None = None,
    skip_invalid_rows: bool = False,
    ignore_unknown_values: bool = False,
) -> tuple[bool, list[dict[str, Any]]]:
    """Beam's insert, retried until BigQuery answers; the accepted rows are reported to the ledger.

    A request that fails for a reason of its own (the client cannot encode a row, HTTP 400) is not
    retried: it is split in halves until the rows at fault are alone, and each of those comes back
    as a failed row with the reason ``invalid``, which Beam passes on as refused (a ``write_failed``
    dead letter) instead of retrying it. The other rows are written.
    """
    table = f"{project_id}.{dataset_id}.{table_id}"
    extra = (skip_invalid_rows, ignore_unknown_values)

    def insert(indices: list[int]) -> list[dict[str, Any]]:
        part = [rows[i] for i in indices]
        ids = [insert_ids[i] for i in indices] if insert_ids else None
        try:
            _, errors = _insert_until_answered(self, table, part, ids, *extra)
        except _Refused as refused:
            if len(indices) > 1:
                half = len(indices) // 2
                return insert(indices[:half]) + insert(indices[half:])
            log.warning("BigQuery refused a row of %s (not retried; it becomes a dead letter): %s", table, refused)
            return [{"index": indices[0], "errors": [{"reason": "invalid", "message": str(refused)}]}]
        return [{**entry, "index": indices[entry["index"]]} for entry in errors]

    errors = insert(list(range(len(rows))))
    ledger = local_acks.active()
    if ledger is not None:
        failed = {entry["index"] for entry in errors}
        ledger.inserted(table, (row for i, row in enumerate(rows) if i not in failed))
    return not errors, errors


def _check_row_size(self: Any, row_and_insert_id: Any) -> tuple[int, str | None]:
    """Beam's check with the row's size as JSON (what the request sends) instead of objsize's deep walk."""
    size = len(json.dumps(row_and_insert_id, default=str).encode("utf-8"))
    limit = self._max_insert_payload_size
    if size >= limit:
        return size, (
            f"Received row with size {size / 1_000_000}MB that exceeds "
            f"the maximum insert payload size set ({limit / 1_000_000}MB)."
        )
    return size, None


def install(max_messages: int, ledger: local_acks.AckLedger | None = None) -> None:
    """Larger pulls; with a ledger also acknowledge-after-write, leases and flow control; inserts
    that outlive an outage. For this process only (the local pipeline's)."""
    set_pull_max_messages(max_messages, ledger)
    bigquery_tools.BigQueryWrapper.insert_rows = _insert_rows
    bigquery.BigQueryWriteFn._check_row_size = _check_row_size
    if ledger is not None:
        local_acks.activate(ledger)
        ledger.start_leasing()


def stop_reading_when(draining: threading.Event) -> None:
    """Once ``draining`` is set, every DirectRunner Pub/Sub read in this process returns nothing
    without pulling (it waits :data:`IDLE_POLL_S` instead): the drain of the local job."""

    def _read_from_pubsub(self: Any, timestamp_attribute: Any) -> list:
        if draining.is_set():
            time.sleep(IDLE_POLL_S)
            return []
        return _ORIGINAL_READ(self, timestamp_attribute)

    _Evaluator._read_from_pubsub = _read_from_pubsub


def reset() -> None:
    """Back to Beam's own behaviour (tests)."""
    _Evaluator._get_subscriber_client = _ORIGINAL
    _Evaluator._read_from_pubsub = _ORIGINAL_READ
    bigquery_tools.BigQueryWrapper.insert_rows = _ORIGINAL_INSERT
    bigquery.BigQueryWriteFn._check_row_size = _ORIGINAL_ROW_SIZE
    local_acks.deactivate()
