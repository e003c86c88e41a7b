"""Model registry on the project bucket: immutable versions, a promoted-version pointer, verified lookups.

Layout (paths from :mod:`include.gcp.paths`): ``{env}/{system_id}/models/{version}/model.skops``, ``metadata.json``,
``evaluation.png`` and ``{env}/{system_id}/models/latest.json``.

Versions are named after the run's cut-off hour (``20190901T0800Z``), so every run of an hour targets the
same version. ``metadata.json`` is written last and is the commit mark: once it exists the version is final and
never rewritten; a rerun of that hour reuses it (it does not retrain). A run that died before committing
left at most an uncommitted ``model.skops``, which the next attempt replaces. ``latest.json`` only moves
forward in time, so backfilling a past week never points serving back at an old model, and it is moved by
compare-and-swap on the object's generation, so two runs promoting at once cannot move it backwards.

No code from the bucket: whoever can write the bucket can write a model file *and* the checksum beside it,
so loading must not run anything a file supplies. Models are skops files, read only against the reviewed
type list of :mod:`include.ml.model_file`; nothing here unpickles. The sha256 in ``metadata.json``
(``model_sha256``) stays, for integrity (a torn or swapped file), not for security. :func:`verify` says
whether a version can serve and, if not, why; :func:`serving` only ever returns a verified version: an
unverifiable one (a planted file, a version pickled before this format, ``latest.json`` moved to either)
is skipped for the newest verified promoted version before it, and reported so the caller can alert.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.api_core.exceptions import NotFound, PreconditionFailed

from include.gcp import bucket, paths
from include.gcp.settings import Settings, get_settings
from include.ml import model_file

log = logging.getLogger(__name__)
VERSION_FORMAT = "%Y%m%dT%H%MZ"
MODEL_SHA256 = "model_sha256"  # the metadata key of the model file's checksum


class UntrustedModel(RuntimeError):
    """A model file that cannot be verified (checksum, format or types), or a commit that would record one."""


@dataclass(frozen=True)
class Verified:
    """A version whose model file matched its commit's checksum and loaded from trusted types only."""

    version: str
    model: Any = field(repr=False)
    metadata: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Unverifiable:
    """A version that must not serve: which object failed, why, and what an operator should do about it."""

    version: str
    object: str  # gs:// URI of the object that failed
    reason: str
    todo: str

    def to_xcom(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Serving:
    """The model that serves an hour (``version`` None: no verified promoted one) and the versions skipped."""

    version: str | None
    model: Any = field(default=None, repr=False)
    unverifiable: tuple[Unverifiable, ...] = ()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def version_for(hour: datetime) -> str:
    """The deterministic model version of a run's hour, e.g. ``20190901T0800Z`` (sorts by time)."""
    if hour.tzinfo is None:
        raise ValueError(f"{hour!r} has no time zone")
    return hour.astimezone(UTC).strftime(VERSION_FORMAT)


def plot_path(root: str, version: str) -> str:
    """Where the run's picture goes, beside the model."""
    return paths.model_plot(root, version)


def _s(settings: Settings | None) -> Settings:
    return settings or get_settings()


def _uri(s: Settings, path: str) -> str:
    return f"gs://{s.bucket}/{path}"


def is_committed(version: str, settings: Settings | None = None) -> bool:
    s = _s(settings)
    return bucket.exists(paths.model_metadata(s.system_root, version), s)


def save_model(version: str, model: Any, settings: Settings | None = None) -> str:
    """Write the model of an uncommitted version as ``model.skops`` (refuses to touch a committed one, and a
    model the loader would refuse); returns the file's sha256, which the commit records as ``model_sha256``."""
    s = _s(settings)
    if is_committed(version, s):
        raise FileExistsError(f"model {version} is committed and never overwritten")
    data = model_file.dumps(model)
    bucket.write_bytes(paths.model_skops(s.system_root, version), data, "application/octet-stream", s)
    return sha256(data)


def verify(version: str, settings: Settings | None = None) -> Verified | Unverifiable:
    """Can ``version`` serve? Committed, its ``model.skops`` has the checksum of its commit, and the file is a
    StationFlowModel of trusted types only (loaded here; nothing a file supplies is run, whatever it holds)."""
    s = _s(settings)
    try:
        root = s.system_root
        metadata_path, model_path = paths.model_metadata(root, version), paths.model_skops(root, version)
    except ValueError as err:
        return Unverifiable(str(version), _uri(s, paths.models_prefix(s.system_root)), str(err), "delete it")
    model_dir = paths.model_dir(s.system_root, version)
    todo = f"delete gs://{s.bucket}/{model_dir}/ and rerun the hour {version} to retrain it"

    def refused(path: str, reason: str) -> Unverifiable:
        return Unverifiable(version, _uri(s, path), reason, todo)

    try:
        metadata = json.loads(bucket.read_bytes(metadata_path, s))
    except NotFound:
        return refused(metadata_path, "not committed (no metadata.json)")
    except ValueError as err:
        return refused(metadata_path, f"metadata.json is not JSON ({err})")
    if not isinstance(metadata, dict):
        return refused(metadata_path, "metadata.json is not a JSON object")
    try:
        data = bucket.read_bytes(model_path, s)
    except NotFound:
        legacy = paths.model_pickle(s.system_root, version)
        if bucket.exists(legacy, s):
            return refused(legacy, "only a pickled model.pkl, which is never loaded (unpickling runs code): retrain it")
        return refused(model_path, "no model file")
    expected = metadata.get(MODEL_SHA256)
    if not expected:
        return refused(metadata_path, f"no {MODEL_SHA256} in metadata.json: the commit does not vouch for the file")
    if sha256(data) != expected:
        return refused(
            model_path, f"model.skops has sha256 {sha256(data)}, its commit recorded {expected} (torn or swapped)"
        )
    try:
        model = model_file.loads(data)
    except model_file.UntrustedModelFile as err:
        return refused(model_path, f"refused by the loader: {err}")
    return Verified(version, model, metadata)


def load_model(version: str, settings: Settings | None = None) -> Any:
    """A verified version's model (:func:`verify`); :class:`UntrustedModel` says why not."""
    checked = verify(version, settings)
    if isinstance(checked, Unverifiable):
        raise UntrustedModel(f"model {version}: {checked.reason} ({checked.object}); not loading it")
    return checked.model


def save_plot(version: str, png: bytes, settings: Settings | None = None) -> str:
    s = _s(settings)
    return bucket.write_bytes(plot_path(s.system_root, version), png, "image/png", s)


def commit(version: str, metadata: dict[str, Any], settings: Settings | None = None) -> str:
    """Write ``metadata.json`` (the commit mark); a committed version is left as it is.

    A version with a model file must record its checksum (``model_sha256``, from :func:`save_model`),
    and the stored file must still have it: a file changed between training and commit is refused.
    """
    s = _s(settings)
    path = paths.model_metadata(s.system_root, version)
    if bucket.exists(path, s):
        return _uri(s, path)
    try:
        stored = sha256(bucket.read_bytes(paths.model_skops(s.system_root, version), s))
    except NotFound:
        stored = None  # a run without enough data commits its metadata only
    if stored is not None and metadata.get(MODEL_SHA256) != stored:
        raise UntrustedModel(
            f"model {version}: model.skops has sha256 {stored}, the commit carries "
            f"{metadata.get(MODEL_SHA256)!r}; not committing it"
        )
    data = json.dumps(metadata, indent=2, sort_keys=True, default=str).encode()
    return bucket.write_bytes(path, data, "application/json", s)


def read_metadata(version: str, settings: Settings | None = None) -> dict[str, Any] | None:
    s = _s(settings)
    try:
        return json.loads(bucket.read_bytes(paths.model_metadata(s.system_root, version), s))
    except NotFound:
        return None


def latest(settings: Settings | None = None) -> dict[str, Any] | None:
    """The pointer to the newest promoted version, or None before the first promotion."""
    s = _s(settings)
    try:
        return json.loads(bucket.read_bytes(paths.latest_model_pointer(s.system_root), s))
    except NotFound:
        return None


def point_latest(version: str, settings: Settings | None = None, attempts: int = 5) -> bool:
    """Move ``latest.json`` to ``version`` unless it already points at the same or a newer one.

    Read-then-write with a generation precondition: if another writer moved the pointer in between,
    the write is refused (HTTP 412) and the decision is taken again on the pointer it wrote.
    """
    s = _s(settings)
    path = paths.latest_model_pointer(s.system_root)
    pointer = json.dumps({"model_version": version, "metadata": paths.model_metadata(s.system_root, version)}).encode()
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
    prefix = paths.models_prefix(s.system_root) + "/"
    return sorted(p[len(prefix) : -len(suffix)] for p in bucket.list_paths(prefix, s) if p.endswith(suffix))


def _pointer(s: Settings, skipped: list[Unverifiable]) -> str | None:
    """The version ``latest.json`` names; an unreadable pointer is reported and read as none."""
    try:
        pointer = latest(s)
        return None if pointer is None else str(pointer["model_version"])
    except (ValueError, KeyError, TypeError) as err:
        path = paths.latest_model_pointer(s.system_root)
        skipped.append(
            Unverifiable(
                "latest.json", _uri(s, path), f"unreadable pointer ({err!r})", f"delete gs://{s.bucket}/{path}"
            )
        )
        return None


def _claims_promotion(version: str, s: Settings) -> bool:
    """True if the version's metadata says promoted, or cannot be read (then :func:`verify` says why)."""
    try:
        return bool((read_metadata(version, s) or {}).get("promoted"))
    except (ValueError, AttributeError, TypeError):
        return True


def serving(at_or_before: str, settings: Settings | None = None) -> Serving:
    """The newest *verified* promoted version not newer than ``at_or_before`` (what serves that hour), its
    loaded model, and every unverifiable version skipped on the way (for the caller's alert).

    Live runs read it from ``latest.json``: the pointer only moves forward, to the newest promoted
    version, so when it is not newer than the hour and verifies it is the answer (one read, however long the
    history). If it does not verify (planted, or moved to a planted version), or is newer than the hour (a
    backfill), the committed versions up to the hour are searched instead, newest first, so a backfill
    predicts with what served then and a planted pointer falls back to the newest model that verifies.
    """
    s = _s(settings)
    skipped: list[Unverifiable] = []
    pointer = _pointer(s, skipped)
    if pointer is not None and pointer <= at_or_before:
        checked = verify(pointer, s)
        if isinstance(checked, Verified) and not checked.metadata.get("promoted"):
            path = paths.latest_model_pointer(s.system_root)
            checked = Unverifiable(
                pointer,
                _uri(s, path),
                "latest.json names a version that was never promoted",
                f"delete gs://{s.bucket}/{path} (the next promoted run writes it again)",
            )
        if isinstance(checked, Verified):
            return Serving(pointer, checked.model)
        skipped.append(checked)
    for version in reversed(committed_versions(s)):
        if version > at_or_before or version in (b.version for b in skipped) or not _claims_promotion(version, s):
            continue
        checked = verify(version, s)
        if isinstance(checked, Verified):
            return _fallback(Serving(version, checked.model, tuple(skipped)))
        skipped.append(checked)
    return _fallback(Serving(None, None, tuple(skipped)))


def _fallback(found: Serving) -> Serving:
    for bad in found.unverifiable:
        log.error("model %s skipped, serving %s: %s (%s)", bad.version, found.version, bad.reason, bad.object)
    return found


def serving_version(at_or_before: str, settings: Settings | None = None) -> str | None:
    """The version :func:`serving` names (verified, promoted, not newer than ``at_or_before``)."""
    return serving(at_or_before, settings).version
