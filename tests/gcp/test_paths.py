"""Bucket paths follow docs/design.md §2.5 and refuse ambiguous hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.gcp import paths


def test_model_layout() -> None:
    assert paths.model_skops("prod", "20190901T0800") == "prod/models/20190901T0800/model.skops"
    assert paths.model_pickle("prod", "20190901T0800") == "prod/models/20190901T0800/model.pkl"  # legacy: refused
    assert paths.model_metadata("dev", "v1") == "dev/models/v1/metadata.json"
    assert paths.latest_model_pointer("prod") == "prod/models/latest.json"


def test_prediction_path_is_the_utc_target_hour() -> None:
    eastern = timezone(timedelta(hours=-4))
    hour = datetime(2019, 9, 1, 4, tzinfo=eastern)  # 08:00 UTC
    assert paths.predictions("prod", "v1", hour) == "prod/predictions/v1/2019-09-01/08.avro"


@pytest.mark.parametrize(
    "hour",
    [datetime(2019, 9, 1, 8), datetime(2019, 9, 1, 8, 30, tzinfo=UTC)],
    ids=["naive", "not-on-the-hour"],
)
def test_prediction_path_rejects_ambiguous_hours(hour: datetime) -> None:
    with pytest.raises(ValueError, match=r"time zone|not on the hour"):
        paths.predictions("prod", "v1", hour)


@pytest.mark.parametrize("version", ["", "a/b"])
def test_bad_model_version(version: str) -> None:
    with pytest.raises(ValueError, match="bad model version"):
        paths.model_dir("prod", version)
