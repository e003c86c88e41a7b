"""Settings: local defaults, overrides from the environment, and clear errors for bad values."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from include.gcp.settings import Endpoint, Settings, SettingsError


def test_defaults_are_the_local_profile() -> None:
    s = Settings.from_env({})
    assert s.profile == "local"
    assert s.is_local
    assert s.env == "dev"
    assert s.topic_path == "projects/local-project/topics/bike-events"
    assert s.subscription_path == "projects/local-project/subscriptions/bike-events-beam"
    assert s.table_id("raw_events") == "local-project.bikeshare.raw_events"


def test_every_name_and_port_comes_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "BIKESHARE_GCP_PROJECT": "p1",
            "BIKESHARE_BQ_DATASET": "ds",
            "BIKESHARE_PUBSUB_TOPIC": "t",
            "BIKESHARE_PUBSUB_SUBSCRIPTION": "sub",
            "BIKESHARE_GCS_BUCKET": "b",
            "BIKESHARE_GCP_REGION": "europe-west1",
            "BIKESHARE_PUBSUB_HOST": "pubsub-emulator",
            "BIKESHARE_PUBSUB_PORT": "18085",
            "BIKESHARE_BIGQUERY_PORT": "19050",
            "BIKESHARE_STORAGE_PORT": "19023",
            "BIKESHARE_METADATA_PORT": "18095",
            "BIKESHARE_STATE_DIR": "/tmp/state",
        }
    )
    assert (s.project, s.dataset, s.topic, s.subscription, s.bucket, s.region) == (
        "p1",
        "ds",
        "t",
        "sub",
        "b",
        "europe-west1",
    )
    assert s.pubsub == Endpoint("pubsub-emulator", 18085)
    assert s.bigquery.url == "http://127.0.0.1:19050"
    assert s.storage.port == 19023
    assert s.state_dir == Path("/tmp/state")
    assert s.emulator_env() == {
        "PUBSUB_EMULATOR_HOST": "pubsub-emulator:18085",
        "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:19050",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:19023",
        "GCE_METADATA_HOST": "127.0.0.1:18095",
        "GCE_METADATA_IP": "127.0.0.1:18095",
    }


def test_gcp_profile_needs_project_and_bucket_and_defaults_to_prod() -> None:
    with pytest.raises(SettingsError, match="BIKESHARE_GCP_PROJECT, BIKESHARE_GCS_BUCKET"):
        Settings.from_env({"BIKESHARE_PROFILE": "gcp"})
    s = Settings.from_env(
        {"BIKESHARE_PROFILE": "gcp", "BIKESHARE_GCP_PROJECT": "acme", "BIKESHARE_GCS_BUCKET": "acme-bikes"}
    )
    assert not s.is_local
    assert s.env == "prod"
    assert s.emulator_env() == {}  # nothing redirects the clients in the gcp profile


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BIKESHARE_PROFILE": "aws"}, "BIKESHARE_PROFILE='aws'"),
        ({"BIKESHARE_ENV": "staging"}, "BIKESHARE_ENV='staging'"),
        ({"BIKESHARE_PUBSUB_PORT": "abc"}, "BIKESHARE_PUBSUB_PORT='abc'"),
        ({"BIKESHARE_STORAGE_PORT": "70000"}, "BIKESHARE_STORAGE_PORT='70000'"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_with_names_changes_only_names() -> None:
    s = Settings.from_env({})
    t = s.with_names(dataset="other")
    assert t.dataset == "other"
    assert t.pubsub == s.pubsub
    assert s.dataset == "bikeshare"


def test_late_event_limits() -> None:
    local = Settings.from_env({})
    assert (local.late_event_limit_minutes, local.future_event_limit_minutes) == (2880, 5)
    assert Settings.from_env({"BIKESHARE_LATE_EVENT_LIMIT_MINUTES": "60"}).late_event_limit_minutes == 60
    with pytest.raises(SettingsError, match="BIKESHARE_LATE_EVENT_LIMIT_MINUTES"):
        Settings.from_env({"BIKESHARE_LATE_EVENT_LIMIT_MINUTES": "soon"})
    with pytest.raises(SettingsError, match="BIKESHARE_FUTURE_EVENT_LIMIT_MINUTES"):
        Settings.from_env({"BIKESHARE_FUTURE_EVENT_LIMIT_MINUTES": "0"})


def test_settings_hold_what_every_part_shares_and_no_beam_or_dbt_specifics() -> None:
    """The streaming job's and dbt's own settings live with them (IngestSettings, DbtSettings)."""
    names = {f.name for f in fields(Settings)}
    assert not {n for n in names if n.startswith(("dataflow", "ingest", "dbt"))}
    assert not {n for n in dir(Settings) if n in ("beam_runner", "bq_write_method", "temp_location")}
