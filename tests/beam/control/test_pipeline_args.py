"""pipeline_args: the same pipeline locally (DirectRunner + emulators) and on Dataflow."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

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


def test_dedupe_ttl_and_clock_come_from_the_settings_on_both_profiles(tmp_path: Path) -> None:
    for month in ("201903", "201909"):
        (tmp_path / f"JC-{month}-citibike-tripdata.csv.zip").write_bytes(b"")
    data = {"BIKESHARE_TRIPS_DATA_DIR": str(tmp_path)}
    local = PipelineOptions(args_from({**data, "BIKESHARE_INGEST_DEDUPE_TTL_SECONDS": "600"})).view_as(IngestOptions)
    assert (local.dedupe_ttl_seconds, local.event_clock) == (600, "simulated")
    # the replay clock is honoured over the span of the trip files only, a day either side
    assert local.replay_window() == (datetime(2019, 2, 28, tzinfo=UTC), datetime(2019, 10, 2, tzinfo=UTC))
    bounded = {**data, "BIKESHARE_INGEST_REPLAY_FROM": "2019-09-01", "BIKESHARE_INGEST_REPLAY_TO": "2019-09-08"}
    assert PipelineOptions(args_from(bounded)).view_as(IngestOptions).replay_window() == (
        datetime(2019, 9, 1, tzinfo=UTC),
        datetime(2019, 9, 8, tzinfo=UTC),
    )
    # no trip files and no bounds: the wall clock, whatever the setting
    no_data = PipelineOptions(args_from({"BIKESHARE_TRIPS_DATA_DIR": str(tmp_path / "none")})).view_as(IngestOptions)
    assert (no_data.event_clock, no_data.replay_window()) == ("wall", None)
    gcp_env = {**GCP_MINIMAL, "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT": "df@p.iam.gserviceaccount.com"}
    ingest = PipelineOptions(args_from(gcp_env)).view_as(IngestOptions)
    # remembered as long as a copy can be accepted: the late limit (48 h) plus the future limit (5 min)
    assert (ingest.dedupe_ttl_seconds, ingest.dedupe_shards, ingest.event_clock) == (173_100, DEDUPE_SHARDS, "wall")


def test_the_download_cache_bounds_the_clock_by_the_pinned_months_before_any_download(tmp_path: Path) -> None:
    """A fresh clone: the stream starts before the replay has downloaded a month, the clock is bounded anyway."""
    cache = {"BIKESHARE_TRIPS_CACHE_DIR": str(tmp_path / "empty-cache")}
    local = PipelineOptions(args_from(cache)).view_as(IngestOptions)
    assert local.replay_window() == (datetime(2018, 12, 31, tzinfo=UTC), datetime(2019, 10, 2, tzinfo=UTC))


def test_a_simulated_clock_without_bounds_is_refused_by_the_pipeline() -> None:
    opts = PipelineOptions(["--event_clock=simulated"]).view_as(IngestOptions)
    with pytest.raises(ValueError, match="--replay_clock_from"):
        opts.replay_window()


def test_the_gcp_profile_names_the_dataflow_worker_service_account() -> None:
    """Without it the workers would run as the Compute Engine default service account (project Editor)."""
    with pytest.raises(ValueError, match="BIKESHARE_DATAFLOW_SERVICE_ACCOUNT is required"):
        args_from(GCP_MINIMAL)
