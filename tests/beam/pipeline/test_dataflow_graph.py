"""The Dataflow job the gcp profile launches, built offline with Beam's dry run (nothing is sent to Google).

``--dry_run=True`` makes the DataflowRunner do everything up to the job-creation request: apply its
overrides, translate to the runner-v2 pipeline proto, build the ``--setup_file`` sdist the workers
install, and fill the Job message. STREAMING_INSERTS builds here; STORAGE_WRITE_API is a Java
cross-language transform whose expansion service jar Beam fetches from Maven Central while the
graph is built, so it needs Java and that jar (or ``--beam_services`` pointing at it) where the job
is launched; the second test runs only where the jar is at hand.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.runner import PipelineState
from apache_beam.utils import subprocess_server

from include.beam.control.launch import pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline.pipeline import build
from include.gcp.settings import Settings

GCP = {
    "BIKESHARE_PROFILE": "gcp",
    "BIKESHARE_GCP_PROJECT": "bikeshare-dry",
    "BIKESHARE_GCS_BUCKET": "bikeshare-dry",
    "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT": "bikeshare-dataflow@bikeshare-dry.iam.gserviceaccount.com",
}
EXPANSION_TARGET = "sdks:java:io:google-cloud-platform:expansion-service:build"


@pytest.fixture(autouse=True)
def _beam_temp_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Beam builds the sdist in a ``mkdtemp`` it never removes: put it where pytest cleans up."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def dry_run(write_method: str) -> beam.runners.runner.PipelineResult:
    settings = Settings.from_env(GCP)
    argv = pipeline_args(settings, IngestSettings.from_env(settings.profile, GCP))
    opts = PipelineOptions([*argv, f"--write_method={write_method}", "--dry_run=True"])
    p = beam.Pipeline(options=opts)
    build(p, opts)
    return p.run()


def staged_files(proto: beam_runner_api_pb2.Pipeline) -> dict[str, str]:
    """Staged name → local path of every artifact the workers get."""
    files = {}
    for env in proto.components.environments.values():
        for dep in env.dependencies:
            name = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(dep.role_payload).staged_name
            files[name] = beam_runner_api_pb2.ArtifactFilePayload.FromString(dep.type_payload).path
    return files


def test_the_streaming_job_graph_builds_for_dataflow_with_streaming_inserts() -> None:
    result = dry_run("STREAMING_INSERTS")
    assert result.state == PipelineState.DONE  # the dry run stops before the create-job request
    job = result.job
    assert (job.proto.name, job.proto.type.name) == ("bikeshare-stream", "JOB_TYPE_STREAMING")
    assert job.options.view_as(GoogleCloudOptions).enable_streaming_engine
    transforms = {t.unique_name: t for t in job.proto_pipeline.components.transforms.values()}
    assert "beam:transform:pubsub_read:v1" in {t.spec.urn for t in transforms.values()}
    dedupe = transforms["Dedupe/ParDo(DedupeByEventId)"]
    pardo = beam_runner_api_pb2.ParDoPayload.FromString(dedupe.spec.payload)
    assert set(pardo.state_specs) == {"seen", "prune_at"}
    assert set(pardo.timer_family_specs) == {"ts-prune"}
    components = job.proto_pipeline.components
    key_value = components.coders[components.pcollections[next(iter(dedupe.inputs.values()))].coder_id]
    assert key_value.spec.urn == "beam:coder:kv:v1"
    # Dataflow needs a deterministic key coder for state: the shard number, not a pickled object
    assert components.coders[key_value.component_coder_ids[0]].spec.urn == "beam:coder:varint:v1"
    assert {"WriteRawEvents", "WriteDeadLetter", "ShardKey", "HandleDuplicates"} <= set(transforms)
    # Dataflow's exactly-once delivery does not know a message published again after a new job started
    assert "SkipWritten" in set(transforms)
    # setup.py's sdist is what the workers install: it must carry the pipeline's code
    sdist = staged_files(job.proto_pipeline)["workflow.tar.gz"]
    assert sdist.startswith(tempfile.gettempdir())
    with tarfile.open(sdist) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames() if len(Path(n).parts) > 1}
    assert {
        "include/beam/pipeline/pipeline.py",
        "include/beam/pipeline/transforms.py",
        "include/gcp/events.py",
    } <= names
    assert not any(n.startswith(("dags/", "tests/", "include/dbt/", "include/beam/control/")) for n in names)
    assert "include/gcp/settings.py" not in names  # the pipeline gets its settings as flags


def expansion_jar_at_hand() -> bool:
    overrides = json.loads(os.environ.get("BEAM_SERVICE_OVERRIDES") or "{}")
    if EXPANSION_TARGET in overrides:
        return True
    jar = Path(subprocess_server.JavaJarServer.path_to_beam_jar(EXPANSION_TARGET)).name
    return (Path.home() / ".apache_beam" / "cache" / "jars" / jar).is_file()


@pytest.mark.skipif(not expansion_jar_at_hand(), reason="Storage Write API expansion needs the Beam GCP expansion jar")
def test_the_job_graph_builds_with_the_storage_write_api_where_its_expansion_jar_is_at_hand() -> None:
    job = dry_run("STORAGE_WRITE_API").job
    urns = {t.spec.urn for t in job.proto_pipeline.components.transforms.values()}
    assert any("bigquery_storage_write" in urn or "schematransform" in urn for urn in urns)
