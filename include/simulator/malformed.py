"""Interleave deliberately bad messages into the event stream, for reliability tests.

After each valid event, with probability ``share`` (seeded, so a run is reproducible) one extra
message of a uniformly chosen type is sent. Every message is tagged with its type, so a run can
account for all of them: ``published = valid + malformed + duplicates``.

The malformed types are named by the reason code the validator dead-letters them with
(:data:`include.gcp.events.REASONS`), so a run can check "injected by type == dead-lettered by code".
The exact shapes (``e`` is the valid event just sent, ``n`` a running counter from 1; the ingest
side must route the first five to the dead letters and drop the last one as a duplicate):

- ``bad_json``: the first half of ``e``'s JSON bytes — not parseable JSON.
- ``bad_kind``: ``e``'s JSON with ``kind = "teleport"`` and ``event_id = f"{e.event_id}-m{n}"``.
- ``missing_station``: ``e``'s JSON without the ``station_id`` key, ``event_id = f"{e.event_id}-m{n}"``.
- ``bad_ts_iso``: ``e``'s JSON with ``ts_iso = "not-a-timestamp"``, ``event_id = f"{e.event_id}-m{n}"``.
- ``unknown_system``: ``e``'s JSON with ``system_id = "no-such-system"`` (well formed, in no systems table),
  ``event_id = f"{e.event_id}-m{n}"``.
- ``duplicate``: the exact bytes of a valid event sent earlier in this run (one of the last 100),
  so its ``event_id`` was already published.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from include.gcp.events import Event

MALFORMED_TYPES: tuple[str, ...] = (  # reason codes
    "bad_json",
    "bad_kind",
    "missing_station",
    "bad_ts_iso",
    "unknown_system",
)
UNKNOWN_SYSTEM_ID = "no-such-system"
DUPLICATE = "duplicate"
INJECTED_TYPES: tuple[str, ...] = (*MALFORMED_TYPES, DUPLICATE)
VALID = "valid"


@dataclass(frozen=True)
class Message:
    """One Pub/Sub message to send: payload, the event time it is paced by, and what it is."""

    data: bytes
    ts: datetime
    kind: str  # VALID or one of INJECTED_TYPES
    event_id: str | None = None  # the id in the payload, when it has one


def _variant(event: Event, n: int, kind: str) -> bytes:
    body = event.to_dict()
    body["event_id"] = f"{event.event_id}-m{n}"
    if kind == "bad_kind":
        body["kind"] = "teleport"
    elif kind == "missing_station":
        del body["station_id"]
    elif kind == "bad_ts_iso":
        body["ts_iso"] = "not-a-timestamp"
    elif kind == "unknown_system":
        body["system_id"] = UNKNOWN_SYSTEM_ID
    return json.dumps(body, separators=(",", ":")).encode()


def with_malformed(events: Iterable[Event], share: float = 0.0, seed: int = 0) -> Iterator[Message]:
    """Each event as a valid message, followed with probability ``share`` by an injected one."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"malformed share {share}: expected a value in [0, 1]")
    rng = random.Random(seed)
    recent: deque[Message] = deque(maxlen=100)
    n = 0
    for event in events:
        valid = Message(event.to_json(), event.ts, VALID, event.event_id)
        recent.append(valid)
        yield valid
        if share == 0.0 or rng.random() >= share:
            continue
        n += 1
        kind = rng.choice(INJECTED_TYPES)
        if kind == DUPLICATE:
            original = rng.choice(recent)
            yield Message(original.data, event.ts, DUPLICATE, original.event_id)
        elif kind == "bad_json":
            yield Message(valid.data[: len(valid.data) // 2], event.ts, kind)
        else:
            yield Message(_variant(event, n, kind), event.ts, kind, f"{event.event_id}-m{n}")
