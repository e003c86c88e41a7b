"""Model registry on the project bucket: immutable versions, a promoted-version pointer, lookups.

Layout (paths from :mod:`include.gcp.paths`): ``{env}/models/{version}/model.pkl``, ``metadata.json``,
``evaluation.png`` and ``{env}/models/latest.json``.

Versions are named after the run's cut-off hour (``20190901T0800Z``), so every run of an hour targets the
same version. ``metadata.json`` is written last and is the commit mark: once it exists the version is final and
never rewritten; a rerun of that hour reuses it (it does not retrain). A run that died before committing
left at most an uncommitted ``model.pkl``, which the next attempt replaces. ``latest.json`` only moves
forward in time, so backfilling a past week never points serving back at an old model, and it is moved by
compare-and-swap on the object's generation, so two runs promoting at once cannot move it backwards.
"""

from __future__ import annotations

import io
import json
import pickle
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed

from include.gcp import bucket, paths
from include.gcp.settings import Settings, get_settings

VERSION_FORMAT = "%Y%m%dT%H%MZ"


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
    """Write the pickled model of an uncommitted version; refuses to touch a committed one."""
    s = _s(settings)
    if is_committed(version, s):
        raise FileExistsError(f"model {version} is committed and never overwritten")
    data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    return bucket.write_bytes(paths.model_pickle(s.env, version), data, "application/octet-stream", s)


def load_model(version: str, settings: Settings | None = None) -> Any:
    s = _s(settings)
    return pickle.load(io.BytesIO(bucket.read_bytes(paths.model_pickle(s.env, version), s)))


def save_plot(version: str, png: bytes, settings: Settings | None = None) -> str:
    s = _s(settings)
    return bucket.write_bytes(plot_path(s.env, version), png, "image/png", s)


def commit(version: str, metadata: dict[str, Any], settings: Settings | None = None) -> str:
    """Write ``metadata.json`` (the commit mark); a committed version is left as it is."""
    s = _s(settings)
    path = paths.model_metadata(s.env, version)
    if bucket.exists(path, s):
        return f"gs://{s.bucket}/{path}"
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

    Looking back from the run's own version (rather than at ``latest.json``) keeps a backfill's
    predictions identical to what a live run of that hour would have written.
    """
    s = _s(settings)
    for version in reversed(committed_versions(s)):
        if version <= at_or_before and (read_metadata(version, s) or {}).get("promoted"):
            return version
    return None
