"""Bucket paths follow docs/design.md §2.5 and refuse ambiguous hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.gcp import paths

PROD_JC = paths.system_root("prod", "citibike-jc")


def test_model_layout_is_per_system() -> None:
    assert PROD_JC == "prod/citibike-jc"
    assert paths.model_skops(PROD_JC, "20190901T0800") == "prod/citibike-jc/models/20190901T0800/model.skops"
    assert paths.model_pickle(PROD_JC, "20190901T0800") == "prod/citibike-jc/models/20190901T0800/model.pkl"
    assert paths.model_metadata("dev/phx", "v1") == "dev/phx/models/v1/metadata.json"
    assert paths.latest_model_pointer(PROD_JC) == "prod/citibike-jc/models/latest.json"
    assert (
        paths.rebalancing_plan("dev/phx", datetime(2019, 9, 1, 8, tzinfo=UTC))
        == "dev/phx/rebalancing/2019-09-01/08.json"
    )
    for bad in ("", "a/b"):
        with pytest.raises(ValueError, match="bad system id"):
            paths.system_root("prod", bad)


def test_prediction_path_is_the_utc_target_hour() -> None:
    eastern = timezone(timedelta(hours=-4))
    hour = datetime(2019, 9, 1, 4, tzinfo=eastern)  # 08:00 UTC
    assert paths.predictions(PROD_JC, "v1", hour) == "prod/citibike-jc/predictions/v1/2019-09-01/08.avro"


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
