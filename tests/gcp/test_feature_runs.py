"""The run log's pure parts: the as_of a run records, the gate's decision and its explanation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pendulum
import pytest

from include.gcp import feature_runs
from include.gcp.feature_runs import Gate

HOUR = datetime(2019, 9, 4, 9, tzinfo=UTC)


@pytest.mark.parametrize(
    ("interval_end", "as_of"),
    [
        (datetime(2019, 9, 4, 9, 0, tzinfo=UTC), datetime(2019, 9, 4, 9, 0, tzinfo=UTC)),
        (datetime(2019, 9, 4, 9, 14, 59, 999999, tzinfo=UTC), datetime(2019, 9, 4, 9, 0, tzinfo=UTC)),
        (datetime(2019, 9, 4, 9, 47, 3, tzinfo=UTC), datetime(2019, 9, 4, 9, 45, tzinfo=UTC)),
        (datetime(2019, 9, 4, 5, 30, tzinfo=timezone(timedelta(hours=-4))), datetime(2019, 9, 4, 9, 30, tzinfo=UTC)),
        (pendulum.datetime(2019, 9, 4, 9, 15, tz="UTC"), datetime(2019, 9, 4, 9, 15, tzinfo=UTC)),  # Airflow's type
    ],
)
def test_as_of_is_the_interval_end_floored_to_15_minutes_in_utc(interval_end: datetime, as_of: datetime) -> None:
    got = feature_runs.as_of_for(interval_end)
    assert got == as_of
    assert got.tzinfo == UTC


def test_as_of_needs_a_time_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        feature_runs.as_of_for(datetime(2019, 9, 4, 9))


def test_record_refuses_unknown_states_and_empty_run_ids() -> None:
    with pytest.raises(ValueError, match="state"):
        feature_runs.record("run", HOUR, "failed")
    with pytest.raises(ValueError, match="run_id"):
        feature_runs.record("", HOUR, feature_runs.VERIFIED)


def test_the_gate_needs_a_verified_as_of_at_or_after_the_hour_and_no_open_run() -> None:
    assert Gate(verified_as_of=HOUR, open_runs=0).ready_for(HOUR)
    assert Gate(verified_as_of=HOUR + timedelta(minutes=15), open_runs=0).ready_for(HOUR)
    assert not Gate(verified_as_of=HOUR - timedelta(minutes=15), open_runs=0).ready_for(HOUR)
    assert not Gate(verified_as_of=None, open_runs=0).ready_for(HOUR)
    assert not Gate(verified_as_of=HOUR + timedelta(days=1), open_runs=1).ready_for(HOUR)


def test_the_explanation_names_the_run_that_holds_training() -> None:
    held = Gate(
        verified_as_of=HOUR,
        open_runs=1,
        open_run_id="scheduled__2019-09-04T09:15:00+00:00",
        open_as_of=HOUR + timedelta(minutes=15),
        open_since=datetime(2026, 12, 1, 3, 0, tzinfo=UTC),
    )
    assert "scheduled__2019-09-04T09:15:00+00:00" in held.explain(HOUR)
    assert "building or failed" in held.explain(HOUR)
    assert "empty or missing" in Gate(verified_as_of=None, open_runs=0).explain(HOUR)
    assert "before" in Gate(verified_as_of=HOUR - timedelta(hours=1), open_runs=0).explain(HOUR)
    assert "no run open" in Gate(verified_as_of=HOUR, open_runs=0).explain(HOUR)
