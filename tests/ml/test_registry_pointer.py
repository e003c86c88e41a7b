"""``latest.json`` moves forward only, also against a concurrent writer (generation precondition)."""

from __future__ import annotations

import json
from contextlib import suppress

import pytest
from google.api_core.exceptions import NotFound, PreconditionFailed

from include.gcp import bucket, clients, paths
from include.gcp.settings import Settings
from include.ml import registry
from include.ml.model import StationFlowModel


class GenerationStore:
    """An in-memory bucket that honours ``ifGenerationMatch`` as GCS does (the local emulator does not)."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self.refused = 0
        self.before_write = None  # a concurrent writer, run once between our read and our write

    def read_with_generation(self, path: str, settings=None) -> tuple[bytes | None, int]:
        return self.objects.get(path, (None, 0))

    def write_bytes_if_generation(self, path: str, data: bytes, content_type: str, generation: int, settings=None):
        if self.before_write is not None:
            writer, self.before_write = self.before_write, None
            writer()
        current = self.objects.get(path, (None, 0))[1]
        if current != generation:
            self.refused += 1
            raise PreconditionFailed(f"generation {current} != {generation}")
        self.objects[path] = (data, current + 1)
        return f"gs://fake/{path}"

    def pointer(self, path: str) -> str:
        return json.loads(self.objects[path][0])["model_version"]


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> GenerationStore:
    fake = GenerationStore()
    monkeypatch.setattr(bucket, "read_with_generation", fake.read_with_generation)
    monkeypatch.setattr(bucket, "write_bytes_if_generation", fake.write_bytes_if_generation)
    return fake


def _settings() -> Settings:
    from include.gcp.settings import get_settings

    return get_settings().with_names(bucket="unused")


def test_a_newer_pointer_written_meanwhile_is_not_overwritten(store: GenerationStore) -> None:
    s = _settings()
    path = paths.latest_model_pointer(s.system_root)
    registry.point_latest("20190901T0100Z", s)
    # while the 02:00 run decides, the 05:00 run moves the pointer forward
    store.before_write = lambda: registry.point_latest("20190901T0500Z", s)
    assert registry.point_latest("20190901T0200Z", s) is False
    assert store.pointer(path) == "20190901T0500Z"
    assert store.refused == 1  # the stale write was refused, then the re-read saw the newer pointer


def test_an_older_pointer_written_meanwhile_is_moved_past(store: GenerationStore) -> None:
    s = _settings()
    path = paths.latest_model_pointer(s.system_root)
    store.before_write = lambda: registry.point_latest("20190901T0300Z", s)  # a slower, older run wins the race
    assert registry.point_latest("20190901T0400Z", s) is True
    assert store.pointer(path) == "20190901T0400Z"
    assert store.refused == 1


@pytest.mark.integration
def test_pointer_on_the_bucket_moves_forward_only(test_settings: Settings) -> None:
    s = test_settings.with_names(bucket=f"{test_settings.bucket}-pointer")
    clients.storage_client(s).create_bucket(s.bucket)
    try:
        assert registry.latest(s) is None
        assert registry.point_latest("20190901T0100Z", s) is True
        assert registry.point_latest("20190901T0300Z", s) is True
        assert registry.point_latest("20190901T0200Z", s) is False  # a backfill never moves serving back
        assert registry.latest(s)["model_version"] == "20190901T0300Z"
        data, generation = bucket.read_with_generation(paths.latest_model_pointer(s.system_root), s)
        assert json.loads(data)["model_version"] == "20190901T0300Z"
        assert generation > 0
        assert bucket.list_paths(paths.models_prefix(s.system_root), s) == [
            paths.latest_model_pointer(s.system_root)
        ]  # no temp left
    finally:
        with suppress(NotFound):
            clients.storage_client(s).bucket(s.bucket).delete(force=True)


def test_serving_reads_latest_json_and_a_backfill_looks_back(test_settings: Settings) -> None:
    """Live hours are served by what latest.json names; an hour before the pointer by what served then."""
    s = test_settings.with_names(bucket=f"{test_settings.bucket}-serving")
    clients.storage_client(s).create_bucket(s.bucket)

    def commit(version: str, promoted: bool) -> None:
        checksum = registry.save_model(version, StationFlowModel(["x"]), s)  # unfitted: verifies, never predicts
        registry.commit(version, {"promoted": promoted, registry.MODEL_SHA256: checksum}, s)

    try:
        commit("20190901T0100Z", promoted=True)
        commit("20190901T0200Z", promoted=False)
        commit("20190901T0300Z", promoted=True)
        registry.point_latest("20190901T0300Z", s)
        # promoted and committed, but its run died before moving the pointer: not serving yet
        commit("20190901T0500Z", promoted=True)
        assert registry.serving_version("20190901T0600Z", s) == "20190901T0300Z"  # latest.json
        assert registry.serving_version("20190901T0300Z", s) == "20190901T0300Z"
        assert registry.serving_version("20190901T0200Z", s) == "20190901T0100Z"  # a backfill: what served then
        assert registry.serving_version("20190901T0000Z", s) is None
    finally:
        with suppress(NotFound):
            clients.storage_client(s).bucket(s.bucket).delete(force=True)
