"""Model registry on the project bucket: immutable versions, a promoted-version pointer, lookups.

Layout (paths from :mod:`include.gcp.paths`): ``{env}/models/{version}/model.pkl``, ``metadata.json``,
``evaluation.png`` and ``{env}/models/latest.json``.

Versions are named after the run's cut-off hour (``20190901T0800Z``), so every run of an hour targets the
same version. ``metadata.json`` is written last and is the commit mark: once it exists the version is final and
never rewritten; a rerun of that hour reuses it (it does not retrain). A run that died before committing
left at most an uncommitted ``model.pkl``, which the next attempt replaces. ``latest.json`` only moves
forward in time, so backfilling a past week never points serving back at an old model, and it is moved by
compare-and-swap on the object's generation, so two runs promoting at once cannot move it backwards.

Unpickling runs code, so a model file is loaded only if the registry can vouch for its bytes:
:func:`save_model` returns the pickle's sha256, the commit records it in ``metadata.json``
(``model_sha256``; :func:`commit` refuses a model file whose bytes differ by then), and
:func:`load_model` compares the stored bytes with it before ``pickle.loads``. A mismatch, or a
version committed without a checksum, raises :class:`UntrustedModel` and nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed

from include.gcp import bucket, paths
from include.gcp.settings import Settings, get_settings

VERSION_FORMAT = "%Y%m%dT%H%MZ"
MODEL_SHA256 = "model_sha256"  # the metadata key of the pickle's checksum


class UntrustedModel(RuntimeError):
    """A model file whose bytes do not match the checksum recorded at commit (or that has none)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_for(hour: datetime) -> str:
    """The deterministic model version of a run's hour, e.g. ``20190901T0800Z`` (sorts by time)."""
    if hour.tzinfo is None:
        raise ValueError(f"{hour!r} has no time zone")
    return hour.astimezone(UTC).strftime(VERSION_FORMAT)


def plot_path(env: str, version: str) -> str:
    """Where the run's picture goes, beside the model."""
    return paths.model_plot(env, version)


def _s(settings: Settings | None) -> Settings:
    return settings or get_settings()


def is_committed(version: str, settings: Settings | None = None) -> bool:
    s = _s(settings)
    return bucket.exists(paths.model_metadata(s.env, version), s)


def save_model(version: str, model: Any, settings: Settings | None = None) -> str:
    """Write the pickled model of an uncommitted version (refuses to touch a committed one); returns
    the pickle's sha256, which the commit must record as ``model_sha256``."""
    s = _s(settings)
    if is_committed(version, s):
        raise FileExistsError(f"model {version} is committed and never overwritten")
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    bucket.write_bytes(paths.model_pickle(s.env, version), data, "application/octet-stream", s)
    return sha256(data)


def load_model(version: str, settings: Settings | None = None) -> Any:
    """Unpickle a committed version's model, once its bytes match the checksum of its commit."""
    s = _s(settings)
    expected = (read_metadata(version, s) or {}).get(MODEL_SHA256)
    if not expected:
        raise UntrustedModel(
            f"model {version}: no {MODEL_SHA256} in its metadata.json (uncommitted, or committed before "
            "checksums were recorded: train it again, locally `make clean`); not unpickling it"
        )
    data = bucket.read_bytes(paths.model_pickle(s.env, version), s)
    if sha256(data) != expected:
        raise UntrustedModel(
            f"model {version}: model.pkl has sha256 {sha256(data)}, its commit recorded {expected}; not unpickling it"
        )
    return pickle.loads(data)  # the bytes match the registry's own record


def save_plot(version: str, png: bytes, settings: Settings | None = None) -> str:
    s = _s(settings)
    return bucket.write_bytes(plot_path(s.env, version), png, "image/png", s)


def commit(version: str, metadata: dict[str, Any], settings: Settings | None = None) -> str:
    """Write ``metadata.json`` (the commit mark); a committed version is left as it is.

    A version with a model file must record its checksum (``model_sha256``, from :func:`save_model`),
    and the stored file must still have it: a file changed between training and commit is refused.
    """
    s = _s(settings)
    path = paths.model_metadata(s.env, version)
    if bucket.exists(path, s):
        return f"gs://{s.bucket}/{path}"
    try:
        stored = sha256(bucket.read_bytes(paths.model_pickle(s.env, version), s))
    except NotFound:
        stored = None  # a run without enough data commits its metadata only
    if stored is not None and metadata.get(MODEL_SHA256) != stored:
        raise UntrustedModel(
            f"model {version}: model.pkl has sha256 {stored}, the commit carries "
            f"{metadata.get(MODEL_SHA256)!r}; not committing it"
        )
    data = json.dumps(metadata, indent=2, sort_keys=True, default=str).encode()
    return bucket.write_bytes(path, data, "application/json", s)


def read_metadata(version: str, settings: Settings | None = None) -> dict[str, Any] | None:
    s = _s(settings)
    try:
        return json.loads(bucket.read_bytes(paths.model_metadata(s.env, version), s))
    except NotFound:
        return None


def latest(settings: Settings | None = None) -> dict[str, Any] | None:
    """The pointer to the newest promoted version, or None before the first promotion."""
    s = _s(settings)
    try:
        return json.loads(bucket.read_bytes(paths.latest_model_pointer(s.env), s))
    except NotFound:
        return None


def point_latest(version: str, settings: Settings | None = None, attempts: int = 5) -> bool:
    """Move ``latest.json`` to ``version`` unless it already points at the same or a newer one.

    Read-then-write with a generation precondition: if another writer moved the pointer in between,
    the write is refused (HTTP 412) and the decision is taken again on the pointer it wrote.
    """
    s = _s(settings)
    path = paths.latest_model_pointer(s.env)
    pointer = json.dumps({"model_version": version, "metadata": paths.model_metadata(s.env, version)}).encode()
    for _ in range(attempts):
        data, generation = bucket.read_with_generation(path, s)
        if data is not None and json.loads(data)["model_version"] >= version:
            return False
        try:
            bucket.write_bytes_if_generation(path, pointer, "application/json", generation, s)
        except PreconditionFailed:
            continue
        return True
    raise RuntimeError(f"latest.json kept changing under {attempts} attempts to point it at {version}")


def committed_versions(settings: Settings | None = None) -> list[str]:
    s = _s(settings)
    suffix = "/metadata.json"
    prefix = paths.models_prefix(s.env) + "/"
    return sorted(p[len(prefix) : -len(suffix)] for p in bucket.list_paths(prefix, s) if p.endswith(suffix))


def serving_version(at_or_before: str, settings: Settings | None = None) -> str | None:
    """The newest promoted version not newer than ``at_or_before``: what served at that hour.

    Live runs read it from ``latest.json``: the pointer only moves forward, to the newest promoted
    version, so when it is not newer than the hour it is the answer (one read, however long the
    history). A backfill of an hour before the pointer looks back through the committed versions
    instead, so that its predictions equal what a live run of that hour wrote.
    """
    s = _s(settings)
    pointer = latest(s)
    if pointer is not None and pointer["model_version"] <= at_or_before:
        return pointer["model_version"]
    for version in reversed(committed_versions(s)):
        if version <= at_or_before and (read_metadata(version, s) or {}).get("promoted"):
            return version
    return None
