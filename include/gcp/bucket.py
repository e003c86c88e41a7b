"""Reading and writing objects on the project bucket through ``google-cloud-storage``.

Writes are atomic and idempotent: the bytes go to a temporary object first and are then copied
onto the final path, so a reader never sees a half-written object and a rerun replaces the
object instead of adding a second one. Paths come from :mod:`include.gcp.paths`.
"""

from __future__ import annotations

import uuid

from google.cloud import storage

from include.gcp import clients
from include.gcp.settings import Settings, get_settings


def _bucket(settings: Settings | None) -> storage.Bucket:
    s = settings or get_settings()
    return clients.storage_client(s).bucket(s.bucket)


def write_bytes(path: str, data: bytes, content_type: str, settings: Settings | None = None) -> str:
    """Write ``data`` to ``path`` atomically (temp object, then copy); returns ``gs://`` URI."""
    bucket = _bucket(settings)
    tmp = bucket.blob(f"{path}.tmp-{uuid.uuid4().hex}")
    tmp.upload_from_string(data, content_type=content_type)
    try:
        bucket.copy_blob(tmp, bucket, path)
    finally:
        tmp.delete()
    return f"gs://{bucket.name}/{path}"


def read_bytes(path: str, settings: Settings | None = None) -> bytes:
    return _bucket(settings).blob(path).download_as_bytes()


def exists(path: str, settings: Settings | None = None) -> bool:
    return _bucket(settings).blob(path).exists()


def list_paths(prefix: str, settings: Settings | None = None) -> list[str]:
    """Object paths under ``prefix``, sorted; temporary objects of unfinished writes excluded."""
    s = settings or get_settings()
    blobs = clients.storage_client(s).list_blobs(s.bucket, prefix=prefix)
    return sorted(b.name for b in blobs if ".tmp-" not in b.name)
