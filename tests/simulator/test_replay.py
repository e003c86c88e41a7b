"""Requests from DAG params and CLI arguments select the intended events (no publishing here)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.simulator.__main__ import build_parser, request_from_args
from include.simulator.replay import ReplayRequest, request_from_params, select_events
from include.simulator.synthetic import SyntheticSpec
from tests.simulator.conftest import FILE_2019, FILE_2021


def test_dag_params_become_a_request() -> None:
    request = request_from_params(
        {"months": ["2019-09"], "files": [], "data_dir": "", "from": "2019-09-01T12:00:00Z", "to": None, "speed_up": 0}
    )
    assert request.months == ["2019-09"]
    assert request.data_dir is None  # resolved to the trips_data_dir setting
    assert request.start == datetime(2019, 9, 1, 12, tzinfo=UTC)
    assert request.end is None
    assert request.speed_up is None
    assert request.synthetic is None


def test_synthetic_params_ignore_files_and_need_a_start() -> None:
    params = {"months": ["2019-09"], "synthetic": True, "from": "2026-01-05T00:00Z", "synthetic_hours": 2, "seed": 4}
    request = request_from_params(params)
    assert request.synthetic == SyntheticSpec(datetime(2026, 1, 5, tzinfo=UTC), hours=2, stations=50, rate=1.0, seed=4)
    assert request.months == ()
    with pytest.raises(ValueError, match="from"):
        request_from_params({"synthetic": True})


def test_select_events_fills_trip_and_rejection_counts() -> None:
    from include.simulator.publish import ReplaySummary

    summary = ReplaySummary()
    events = select_events(ReplayRequest(files=[FILE_2019, FILE_2021], limit=5), summary)
    assert len(events) == 5
    assert summary.trips == 14
    assert summary.rejected == {
        "bad timestamp": 1,
        "end before start": 2,
        "missing station": 3,
        "wrong column count": 1,
    }


def test_nothing_to_replay_is_an_error() -> None:
    with pytest.raises(ValueError, match="nothing to replay"):
        select_events(ReplayRequest())


def test_cli_arguments_become_a_request() -> None:
    args = build_parser().parse_args(
        ["--month", "2019-09", "--from", "2019-09-01T12:00", "--to", "2019-09-01T13:00", "--speed-up", "3600"]
    )
    request = request_from_args(args)
    assert (request.months, request.speed_up) == (["2019-09"], 3600)
    assert request.end == datetime(2019, 9, 1, 13, tzinfo=UTC)
    synthetic = request_from_args(build_parser().parse_args(["--synthetic", "--from", "2026-01-05", "--stations", "7"]))
    assert synthetic.synthetic == SyntheticSpec(datetime(2026, 1, 5, tzinfo=UTC), stations=7)


def test_a_country_replay_selects_its_events_of_the_window() -> None:
    from datetime import UTC, datetime, timedelta

    from include.simulator.country import CountrySpec, country_events
    from include.simulator.replay import ReplayRequest, select_events

    spec = CountrySpec(2, 10, seed=1)
    start = datetime(2019, 7, 1, 12, tzinfo=UTC)
    request = ReplayRequest(country=spec, start=start, end=start + timedelta(hours=1))
    events = select_events(request)
    assert events == country_events(spec, request.start, request.end)
    assert {e.system_id for e in events} == {"syn-01", "syn-02"}
    with pytest.raises(ValueError, match="needs a window"):
        select_events(ReplayRequest(country=spec, start=start))
    with pytest.raises(ValueError, match="not more than one"):
        select_events(ReplayRequest(country=spec, start=start, end=start, months=["2019-07"]))
