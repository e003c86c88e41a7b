"""Objects written before systems, under ``{env}/models``, ``{env}/predictions``, ... → the Jersey City root.

Since issue 24 every object of a system lives under ``{env}/{system_id}`` (:mod:`include.gcp.paths`). The
one system that existed before is Jersey City, so its objects are copied from the legacy prefixes to
``{env}/citibike-jc/...`` once: byte for byte (checked by sha256 after the write), the commit marks last
(each version's ``metadata.json``, then ``latest.json``, whose metadata path is rewritten to the new
place), so a reader never finds a committed version with a missing file. A copy already in place is
skipped, so a run killed half-way and started again copies only what is missing; a finished run leaves
a marker (:data:`DONE_MARKER`) so later calls do nothing. The old objects are left where they are.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from include.gcp import bucket, clients, paths
from include.gcp.settings import Settings, get_settings
from include.systems import DEFAULT_SYSTEM

COMMIT_MARKS = ("metadata.json", "latest.json")
DONE_MARKER = "legacy-objects-copied.json"  # under the default system's root, written last


@dataclass
class Migration:
    """What one run did: objects copied, already in place, and the legacy objects seen."""

    copied: list[str] = field(default_factory=list)
    in_place: int = 0
    seen: int = 0


def legacy_objects(settings: Settings) -> list[str]:
    """The objects under the pre-systems prefixes of the settings' env."""
    return [
        path
        for prefix in paths.LEGACY_SYSTEM_PREFIXES
        for path in bucket.list_paths(f"{settings.env}/{prefix}/", settings)
    ]


def needed(settings: Settings) -> bool:
    """Legacy objects exist and no finished run left its marker: a few small calls, fine for every
    ``ensure_bucket``."""
    if bucket.exists(f"{paths.system_root(settings.env, DEFAULT_SYSTEM)}/{DONE_MARKER}", settings):
        return False
    client = clients.storage_client(settings)
    return any(
        next(iter(client.list_blobs(settings.bucket, prefix=f"{settings.env}/{prefix}/", max_results=1)), None)
        for prefix in paths.LEGACY_SYSTEM_PREFIXES
    )


def _order(path: str) -> int:
    name = path.rsplit("/", 1)[-1]
    return COMMIT_MARKS.index(name) + 1 if name in COMMIT_MARKS else 0


def migrate(settings: Settings | None = None) -> Migration:
    """Copy every legacy object to the default system's root (see the module docstring)."""
    s = (settings or get_settings()).for_system(DEFAULT_SYSTEM)
    done = Migration()
    for old in sorted(legacy_objects(s), key=lambda p: (_order(p), p)):
        done.seen += 1
        new = f"{s.system_root}/{old.removeprefix(s.env + '/')}"
        data = bucket.read_bytes(old, s)
        if old.endswith("/latest.json"):
            pointer = json.loads(data)
            if "model_version" in pointer:
                pointer["metadata"] = paths.model_metadata(s.system_root, pointer["model_version"])
            data = json.dumps(pointer).encode()
        if bucket.exists(new, s) and _sha256(bucket.read_bytes(new, s)) == _sha256(data):
            done.in_place += 1
            continue
        if old.endswith("/latest.json") and bucket.exists(new, s):
            done.in_place += 1  # the system's pointer moved on since: never put an older one back
            continue
        bucket.write_bytes(new, data, "application/octet-stream", s)
        if _sha256(bucket.read_bytes(new, s)) != _sha256(data):
            raise RuntimeError(f"gs://{s.bucket}/{new}: the copy of {old} does not match it; rerun to copy again")
        done.copied.append(new)
    marker = {"copied": len(done.copied), "in_place": done.in_place, "from": list(paths.LEGACY_SYSTEM_PREFIXES)}
    bucket.write_bytes(f"{s.system_root}/{DONE_MARKER}", json.dumps(marker).encode(), "application/json", s)
    return done


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
