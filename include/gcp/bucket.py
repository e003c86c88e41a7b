"""Reading and writing objects on the project bucket through ``google-cloud-storage``.

Writes are atomic and idempotent: the bytes go to a temporary object first and are then copied
onto the final path, so a reader never sees a half-written object and a rerun replaces the
object instead of adding a second one. Paths come from :mod:`include.gcp.paths`.
"""

from __future__ import annotations

import uuid

from google.api_core.exceptions import NotFound
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


def read_with_generation(path: str, settings: Settings | None = None) -> tuple[bytes | None, int]:
    """The object's bytes and generation, or ``(None, 0)`` if absent: 0 is GCS's "must not exist" precondition.

    The generation comes from the metadata, before the download: the download asks for that generation, and
    the emulator's download response carries no generation header (the client then resets it to None).
    """
    blob = _bucket(settings).get_blob(path)
    if blob is None:
        return None, 0
    generation = int(blob.generation)
    try:
        return blob.download_as_bytes(), generation
    except NotFound:  # replaced or deleted in between: retry as if absent; a write conditioned on 0 is refused
        return None, 0


def write_bytes_if_generation(
    path: str, data: bytes, content_type: str, generation: int, settings: Settings | None = None
) -> str:
    """Like :func:`write_bytes`, but only if ``path`` is still at ``generation`` (0: still absent).

    The copy onto ``path`` carries ``ifGenerationMatch``, so of two read-modify-write writers the second
    gets ``google.api_core.exceptions.PreconditionFailed`` (HTTP 412) instead of silently overwriting.
    The local GCS emulator ignores the precondition (measured: a stale generation is accepted).
    """
    bucket = _bucket(settings)
    tmp = bucket.blob(f"{path}.tmp-{uuid.uuid4().hex}")
    tmp.upload_from_string(data, content_type=content_type)
    try:
        bucket.copy_blob(tmp, bucket, path, if_generation_match=generation)
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
