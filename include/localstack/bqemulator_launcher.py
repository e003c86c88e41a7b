"""Start bqemulator without its per-write time-travel copies when time travel is off.

bqemulator 1.4 runs ``CREATE TABLE <snapshot> AS SELECT * FROM <table>`` after *every* write
(DML, streaming insert, load), even with ``BQEMU_TIME_TRAVEL_RETENTION_DAYS=0``. On the 57 M-row
``station_features`` that copy is a 10 s floor under each 15-minute MERGE, so a local increment cost
the size of the history instead of the size of the new data. BigQuery has no such cost. With
retention 0 no snapshot could ever be read (``FOR SYSTEM_TIME AS OF`` is refused outside the
retention window), so skipping the copy changes no query result; the change event that marks
materialized views stale is still published.

Runs inside ``.venv-emulators`` (and the emulator image), so it imports nothing from this project:
``python bqemulator_launcher.py start --rest-port ...`` takes bqemulator's own CLI arguments.
"""

from __future__ import annotations

import os
from typing import Any

from bqemulator.cli import main
from bqemulator.versioning.snapshots import SnapshotManager

_capture = SnapshotManager.capture


def _capture_unless_time_travel_off(self: SnapshotManager, *args: Any, kind: str = "AUTO", **kwargs: Any) -> Any:
    """``None`` (what capture returns when there is nothing to copy) for automatic snapshots at retention 0."""
    if kind == "AUTO" and self._retention_days == 0:
        return None
    return _capture(self, *args, kind=kind, **kwargs)


def patch() -> None:
    SnapshotManager.capture = _capture_unless_time_travel_off  # type: ignore[method-assign]


if __name__ == "__main__":
    if os.environ.get("BQEMU_TIME_TRAVEL_RETENTION_DAYS") == "0":
        patch()
    main()
