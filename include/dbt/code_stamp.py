"""Which dbt code built the feature tables, so that a rerun says truly why it rebuilds them (or does not).

The demo writes the stamp, one sha256 per model and macro file, once a features run has passed on that code.
Rebuilding is then explained by the files that changed, or by a missing stamp: the tables exist, but no run
on the current code finished (the last one stopped early, e.g. at a time-out), so which code built them is
unknown. A stamp of the older single-hash format says only that it cannot name the files.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

PATTERNS = ("models/**/*", "macros/**/*")


def fingerprint(dbt_dir: Path) -> dict[str, str]:
    """sha256 of each model and macro file, keyed by its path under ``dbt_dir``."""
    files = sorted(p for pattern in PATTERNS for p in dbt_dir.glob(pattern) if p.is_file())
    return {p.relative_to(dbt_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def stamp(current: dict[str, str]) -> str:
    return json.dumps(current, indent=0, sort_keys=True)


def why_rebuild(stamp_text: str | None, current: dict[str, str]) -> str | None:
    """None if the stamp matches ``current``; else the reason, in words a user can check."""
    if stamp_text is None:
        return (
            "no features run has finished on this dbt code since the tables were built (the last demo stopped "
            "early), so the code that built them is unknown"
        )
    try:
        stored = json.loads(stamp_text)
    except json.JSONDecodeError:
        stored = None
    if not isinstance(stored, dict):
        return "the stamp of the code that built them is from an older demo and names no files"
    changed = sorted(p for p in current.keys() & stored.keys() if current[p] != stored[p])
    added, removed = sorted(current.keys() - stored.keys()), sorted(stored.keys() - current.keys())
    if not (changed or added or removed):
        return None
    parts = [
        f"{label}: {', '.join(files[:5])}{' …' if len(files) > 5 else ''}"
        for label, files in (("changed", changed), ("added", added), ("removed", removed))
        if files
    ]
    return "the dbt feature code changed since the tables were built (" + "; ".join(parts) + ")"
