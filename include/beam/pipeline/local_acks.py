"""Acknowledge a Pub/Sub message only once what it became is durably in BigQuery (DirectRunner only).

Beam 2.77's DirectRunner acknowledges every message as soon as it pulls it, so a killed local job
lost whatever it held (500 of a 6,000-message backlog on kill -9). Dataflow acknowledges only after
its own durable checkpoint and needs none of this. Locally, :mod:`include.beam.pipeline.direct_pubsub` turns
the runner's ack into a no-op and registers each pulled message here; this ledger then acknowledges

- a message that became a **row**, once BigQuery accepted the insert holding its event_id;
- a message that became a **dead letter**, once the dead-letter insert holding its message_id succeeded
  (a row BigQuery refused is a ``write_failed`` dead letter: its event's messages are acked with it);
- a **duplicate** at once, since the first copy's own message stays unacknowledged until its row is
  written; unless it is that very message, delivered again while its row is on its way.

Until then the ledger keeps extending the messages' ack deadline (a lease), so Pub/Sub does not
redeliver them while the job lives, however long BigQuery is away; after a kill -9 the leases lapse
and the next job receives them again (:class:`~include.beam.pipeline.transforms.SkipWritten` removes the
copies whose rows were written before the kill). Flow control stops pulling while
``max_outstanding`` messages are held, so an outage cannot fill the memory.

The DoFns call the module functions (:func:`expect_row`, :func:`duplicate`), which do nothing when no
ledger is active: on Dataflow, in unit tests, in any runner but the local one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from include.gcp.events import event_key

log = logging.getLogger(__name__)

LEASE_SECONDS = 60  # the ack deadline each extension asks for (the emulator's maximum is 600)
EXTEND_EVERY_S = 15.0
ACK_CHUNK = 1000  # ack ids per acknowledge / modifyAckDeadline request


class AckLedger:
    """Pulled messages not yet acknowledged, and what each waits for. Thread-safe."""

    def __init__(
        self,
        raw_table: str,
        dead_letter_table: str,
        max_outstanding: int = 20_000,
        lease_seconds: int = LEASE_SECONDS,
    ) -> None:
        self.raw_table = raw_table
        self.dead_letter_table = dead_letter_table
        self.max_outstanding = max_outstanding
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, float]] = {}  # message_id -> (latest ack_id, first pulled at)
        self._awaiting_row: dict[str, set[str]] = {}  # event_id -> message ids acked when its row is written
        self._row_of: dict[str, str] = {}  # message_id -> the event_id whose row it waits for
        self._client: Any = None
        self._subscription = ""
        self.acked = 0

    # --- the runner's side ---------------------------------------------------------------------

    def attach(self, client: Any, subscription: str) -> None:
        """The subscriber client and subscription to acknowledge on (the runner's own)."""
        self._client, self._subscription = client, subscription

    def received(self, messages: Iterable[Any]) -> None:
        """Pulled ``ReceivedMessage``s: held until acknowledged (a redelivery refreshes the ack id)."""
        now = time.monotonic()
        with self._lock:
            for m in messages:
                first = self._pending.get(m.message.message_id, ("", now))[1]
                self._pending[m.message.message_id] = (m.ack_id, first)

    def outstanding(self) -> int:
        with self._lock:
            return len(self._pending)

    def is_full(self) -> bool:
        return self.outstanding() >= self.max_outstanding

    # --- the pipeline's side -------------------------------------------------------------------

    def expect_row(self, event_id: str, message_id: str) -> None:
        """The message is acknowledged when a row of ``event_id`` (the event's key, ``system_id/event_id``)
        is written."""
        with self._lock:
            self._awaiting_row.setdefault(event_id, set()).add(message_id)
            self._row_of[message_id] = event_id

    def duplicate(self, message_id: str) -> None:
        """A copy of an event already written or on its way: acknowledge it, unless its own row is pending."""
        with self._lock:
            if message_id in self._row_of:
                return
        self._ack([message_id])

    def inserted(self, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """BigQuery accepted these rows of ``table`` (``project.dataset.table``)."""
        message_ids: list[str] = []
        with self._lock:
            for row in rows:
                if table == self.raw_table:
                    message_ids += self._release(event_key(row.get("system_id"), row.get("event_id")))
                elif table == self.dead_letter_table:
                    if row.get("message_id"):
                        message_ids.append(row["message_id"])
                    if row.get("reason") == "write_failed":
                        message_ids += self._release(event_key(row.get("system_id"), row.get("event_id")))
        self._ack(message_ids)

    # --- acknowledging and leasing -------------------------------------------------------------

    def _release(self, event_id: str | None) -> list[str]:
        """The messages waiting for ``event_id``'s row (under the lock)."""
        message_ids = list(self._awaiting_row.pop(event_id, ()))  # type: ignore[arg-type]
        for message_id in message_ids:
            self._row_of.pop(message_id, None)
        return message_ids

    def _ack(self, message_ids: list[str]) -> None:
        with self._lock:
            ack_ids = [self._pending.pop(m)[0] for m in message_ids if m in self._pending]
            for m in message_ids:
                self._row_of.pop(m, None)
        if self._client is None:
            return
        for i in range(0, len(ack_ids), ACK_CHUNK):
            try:
                self._client.acknowledge(subscription=self._subscription, ack_ids=ack_ids[i : i + ACK_CHUNK])
            except Exception as err:  # Pub/Sub away: it redelivers them; SkipWritten finds their rows
                log.warning("acknowledging %d messages failed (they will be redelivered): %s", len(ack_ids), err)
        self.acked += len(ack_ids)

    def extend_leases(self) -> int:
        """Push the ack deadline of every held message ``lease_seconds`` ahead; returns how many."""
        with self._lock:
            ack_ids = [ack_id for ack_id, _ in self._pending.values()]
            oldest = min((t for _, t in self._pending.values()), default=None)
        for i in range(0, len(ack_ids), ACK_CHUNK):
            try:
                self._client.modify_ack_deadline(
                    subscription=self._subscription,
                    ack_ids=ack_ids[i : i + ACK_CHUNK],
                    ack_deadline_seconds=self.lease_seconds,
                )
            except Exception as err:
                log.warning("extending the lease of %d messages failed: %s", len(ack_ids), err)
        if oldest is not None and time.monotonic() - oldest > 2 * EXTEND_EVERY_S:
            log.warning(
                "%d messages held unacknowledged, the oldest for %.0f s (waiting for BigQuery)",
                len(ack_ids),
                time.monotonic() - oldest,
            )
        return len(ack_ids)

    def start_leasing(self, every: float = EXTEND_EVERY_S) -> threading.Thread:
        def loop() -> None:
            while True:
                time.sleep(every)
                if self._client is not None:
                    self.extend_leases()

        thread = threading.Thread(target=loop, name="pubsub-lease", daemon=True)
        thread.start()
        return thread


_ACTIVE: AckLedger | None = None


def activate(ledger: AckLedger) -> AckLedger:
    global _ACTIVE
    _ACTIVE = ledger
    return ledger


def deactivate() -> None:
    global _ACTIVE
    _ACTIVE = None


def active() -> AckLedger | None:
    return _ACTIVE


def expect_row(event_id: str, message_id: str | None) -> None:
    if _ACTIVE is not None and message_id:
        _ACTIVE.expect_row(event_id, message_id)


def duplicate(message_id: str | None) -> None:
    if _ACTIVE is not None and message_id:
        _ACTIVE.duplicate(message_id)
