"""The streaming job's settings: local and gcp defaults, overrides from the environment, bad values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.beam.control.settings import IngestSettings
from include.gcp.settings import SettingsError


def test_defaults_per_profile() -> None:
    local = IngestSettings.from_env("local", {})
    assert local == IngestSettings()
    assert (local.job_name, local.max_workers, local.dedupe_ttl_seconds, local.clock) == (
        "bikeshare-stream",
        3,
        None,  # as long as a copy can be accepted: the late plus the future limit (launch.dedupe_ttl_seconds)
        "simulated",  # local replays of 2019 judge event times against the replay's clock
    )
    assert IngestSettings.from_env("gcp", {}).clock == "wall"


def test_every_field_comes_from_the_environment() -> None:
    ingest = IngestSettings.from_env(
        "gcp",
        {
            "BIKESHARE_DATAFLOW_JOB_NAME": "stream-2",
            "BIKESHARE_DATAFLOW_MAX_WORKERS": "10",
            "BIKESHARE_DATAFLOW_SERVICE_ACCOUNT": "df@p.iam.gserviceaccount.com",
            "BIKESHARE_INGEST_DEDUPE_TTL_SECONDS": "0",
            "BIKESHARE_INGEST_CLOCK": "simulated",
            "BIKESHARE_INGEST_REPLAY_FROM": "2019-09-01",
            "BIKESHARE_INGEST_REPLAY_TO": "2019-09-08T00:00:00+02:00",
        },
    )
    assert ingest == IngestSettings(
        "stream-2",
        10,
        "df@p.iam.gserviceaccount.com",
        0,
        "simulated",
        datetime(2019, 9, 1, tzinfo=UTC),
        datetime(2019, 9, 7, 22, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"BIKESHARE_INGEST_CLOCK": "sundial"}, "BIKESHARE_INGEST_CLOCK='sundial'"),
        ({"BIKESHARE_DATAFLOW_MAX_WORKERS": "many"}, "BIKESHARE_DATAFLOW_MAX_WORKERS='many'"),
        ({"BIKESHARE_DATAFLOW_MAX_WORKERS": "0"}, "BIKESHARE_DATAFLOW_MAX_WORKERS=0"),
        ({"BIKESHARE_INGEST_DEDUPE_TTL_SECONDS": "-1"}, "BIKESHARE_INGEST_DEDUPE_TTL_SECONDS=-1"),
        ({"BIKESHARE_INGEST_REPLAY_FROM": "last tuesday"}, "BIKESHARE_INGEST_REPLAY_FROM='last tuesday'"),
        (
            {"BIKESHARE_INGEST_REPLAY_FROM": "2019-09-08", "BIKESHARE_INGEST_REPLAY_TO": "2019-09-01"},
            "is not before BIKESHARE_INGEST_REPLAY_TO",
        ),
    ],
)
def test_bad_values_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        IngestSettings.from_env("local", environ)
