"""Objects from before systems move to the Jersey City root: byte for byte, commit marks last, once."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

import pytest
from google.api_core.exceptions import NotFound

from include.gcp import bucket, bucket_migration, clients, paths, resources
from include.gcp.settings import Settings

pytestmark = pytest.mark.integration
LEGACY = {  # what a deployment wrote before issue 24, under dev/
    "dev/models/20190901T0800Z/model.skops": b"\x00model bytes",
    "dev/models/20190901T0800Z/metadata.json": b'{"model_version": "20190901T0800Z"}',
    "dev/models/latest.json": json.dumps(
        {"model_version": "20190901T0800Z", "metadata": "dev/models/20190901T0800Z/metadata.json"}
    ).encode(),
    "dev/predictions/20190901T0800Z/2019-09-01/08.avro": b"Obj\x01avro",
    "dev/predictions_backfill/2019-09-01/07.avro": b"Obj\x01backfill",
    "dev/rebalancing/2019-09-01/08.json": b'{"moves": []}',
}


@pytest.fixture
def legacy_bucket(local_stack: Settings) -> Iterator[Settings]:
    """A bucket of its own (the session bucket's registry must not see these), holding the legacy objects."""
    s = local_stack.with_names(bucket=f"test-migration-{uuid.uuid4().hex[:8]}")
    clients.storage_client(s).create_bucket(s.bucket)
    for path, data in LEGACY.items():
        bucket.write_bytes(path, data, "application/octet-stream", s)
    yield s
    with contextlib.suppress(NotFound):
        clients.storage_client(s).bucket(s.bucket).delete(force=True)


def test_legacy_objects_are_copied_to_the_jersey_city_root_once(legacy_bucket: Settings) -> None:
    s = legacy_bucket
    assert bucket_migration.needed(s)
    outcome = resources.ensure_bucket(s)  # what bikeshare_setup and the stream's start run
    assert f"copied {len(LEGACY)} objects to dev/citibike-jc/" in outcome.name
    root = paths.system_root("dev", "citibike-jc")
    for old, data in LEGACY.items():
        new = f"{root}/{old.removeprefix('dev/')}"
        if old.endswith("latest.json"):
            assert json.loads(bucket.read_bytes(new, s)) == {
                "model_version": "20190901T0800Z",
                "metadata": paths.model_metadata(root, "20190901T0800Z"),
            }
        else:
            assert bucket.read_bytes(new, s) == data
        assert bucket.read_bytes(old, s) == data  # the old objects stay
    assert not bucket_migration.needed(s)
    assert resources.ensure_bucket(s).name == s.bucket  # a second call does nothing


def test_a_run_killed_half_way_copies_only_what_is_missing(legacy_bucket: Settings) -> None:
    s = legacy_bucket
    root = paths.system_root("dev", "citibike-jc")
    done = f"{root}/models/20190901T0800Z/model.skops"
    bucket.write_bytes(done, LEGACY["dev/models/20190901T0800Z/model.skops"], "application/octet-stream", s)
    newer = json.dumps({"model_version": "20190902T0800Z"}).encode()
    bucket.write_bytes(f"{root}/models/latest.json", newer, "application/json", s)  # promoted since
    moved = bucket_migration.migrate(s)
    assert (moved.seen, moved.in_place, len(moved.copied)) == (len(LEGACY), 2, len(LEGACY) - 2)
    assert done not in moved.copied
    assert bucket.read_bytes(f"{root}/models/latest.json", s) == newer  # never an older pointer put back
