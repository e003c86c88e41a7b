"""pipeline_args: the same pipeline locally (DirectRunner + emulators) and on Dataflow."""

from __future__ import annotations

import pytest
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions, WorkerOptions

from include.beam.control.launch import SETUP_FILE, pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline.options import DEDUPE_SHARDS, IngestOptions
from include.gcp.settings import Settings


def test_local_args_use_the_bundle_based_direct_runner_and_streaming_inserts() -> None:
    settings = Settings().with_names(dataset="ds", subscription="sub")
    opts = PipelineOptions(pipeline_args(settings, IngestSettings()))
    assert opts.view_as(StandardOptions).runner == "BundleBasedDirectRunner"
    assert opts.view_as(StandardOptions).streaming is True
    ingest = opts.view_as(IngestOptions)
    assert ingest.subscription == "projects/local-project/subscriptions/sub"
    assert ingest.raw_events_table == "local-project.ds.raw_events"
    assert ingest.dead_letter_table == "local-project.ds.raw_events_dead_letter"
    assert ingest.write_method == "STREAMING_INSERTS"
    assert ingest.missing() == []
    assert ingest.num_streaming_keys == 4  # Beam's 500 make the DirectRunner insert row by row
    assert opts.view_as(GoogleCloudOptions).job_name == "bikeshare-stream"


GCP_MINIMAL = {"BIKESHARE_PROFILE": "gcp", "BIKESHARE_GCP_PROJECT": "p", "BIKESHARE_GCS_BUCKET": "b"}


def test_gcp_args_launch_a_named_dataflow_job_with_exactly_once_writes() -> None:
    environ = {
        "BIKESHARE_PROFILE": "gcp",
        "BIKESHARE_GCP_PROJECT": "proj",
        "BIKESHARE_GCS_BUCKET": "bkt",
        "BIKESHARE_GCP_REGION": "europe-west1",
        "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT": "df@proj.iam.gserviceaccount.com",
        "BIKESHARE_DATAFLOW_JOB_NAME": "bikeshare-stream-2",
    }
    settings = Settings.from_env(environ)
    opts = PipelineOptions(pipeline_args(settings, IngestSettings.from_env(settings.profile, environ)))
    gcp = opts.view_as(GoogleCloudOptions)
    assert opts.view_as(StandardOptions).runner == "DataflowRunner"
    assert (gcp.project, gcp.region, gcp.job_name) == ("proj", "europe-west1", "bikeshare-stream-2")
    assert gcp.temp_location == "gs://bkt/prod/dataflow/tmp"
    assert gcp.staging_location == "gs://bkt/prod/dataflow/staging"
    assert gcp.service_account_email == "df@proj.iam.gserviceaccount.com"
    assert opts.view_as(WorkerOptions).max_num_workers == 3
    assert opts.get_all_options()["setup_file"] == str(SETUP_FILE)
    assert SETUP_FILE.is_file()
    ingest = opts.view_as(IngestOptions)
    assert ingest.write_method == "STORAGE_WRITE_API"
    assert ingest.raw_events_table == "proj.bikeshare.raw_events"
    assert ingest.num_streaming_keys == 500  # Beam's default; Dataflow shards by itself


def test_ingest_options_do_not_break_other_pipelines() -> None:
    """Beam parses every options subclass for every pipeline: ours must not demand flags."""
    opts = PipelineOptions(["--runner=BundleBasedDirectRunner"])
    assert opts.view_as(IngestOptions).missing() == ["--raw_events_table", "--dead_letter_table", "--subscription"]


def args_from(environ: dict[str, str]) -> list[str]:
    settings = Settings.from_env(environ)
    return pipeline_args(settings, IngestSettings.from_env(settings.profile, environ))


def test_dedupe_ttl_and_clock_come_from_the_settings_on_both_profiles() -> None:
    local = PipelineOptions(args_from({"BIKESHARE_INGEST_DEDUPE_TTL_SECONDS": "600"})).view_as(IngestOptions)
    assert (local.dedupe_ttl_seconds, local.event_clock) == (600, "simulated")
    gcp_env = {**GCP_MINIMAL, "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT": "df@p.iam.gserviceaccount.com"}
    ingest = PipelineOptions(args_from(gcp_env)).view_as(IngestOptions)
    assert (ingest.dedupe_ttl_seconds, ingest.dedupe_shards, ingest.event_clock) == (86_400, DEDUPE_SHARDS, "wall")


def test_the_gcp_profile_names_the_dataflow_worker_service_account() -> None:
    """Without it the workers would run as the Compute Engine default service account (project Editor)."""
    with pytest.raises(ValueError, match="BIKESHARE_DATAFLOW_SERVICE_ACCOUNT is required"):
        args_from(GCP_MINIMAL)
