"""The stream played backwards keeps each station's counts, swaps pickups and dropoffs, and maps New York
hour buckets onto hour buckets, so it is a valid stream with a falling season."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

from include.simulator.trips import Trip
from research.time_reversed import NEW_YORK, mirror, mirrored_day, mirrored_holidays, reversed_events


def _local(moment: datetime) -> datetime:
    return moment.astimezone(NEW_YORK).replace(tzinfo=None)


def test_hour_k_of_a_day_becomes_hour_23_minus_k_of_the_mirrored_day() -> None:
    for real in (datetime(2019, 9, 30, 23, 30, tzinfo=NEW_YORK), datetime(2019, 1, 1, 0, 10, tzinfo=NEW_YORK)):
        mirrored = _local(mirror(real))
        assert mirrored.date() == mirrored_day(real.date())
        assert mirrored.hour == 23 - real.hour
        assert mirrored.minute == 60 - real.minute
    assert mirrored_day(date(2019, 9, 30)) == date(2020, 1, 1)
    assert mirrored_day(date(2019, 1, 1)) == date(2020, 9, 29)


def test_mirroring_reverses_the_order_of_instants_and_keeps_durations_across_no_dst_change() -> None:
    start = datetime(2019, 6, 5, 12, tzinfo=UTC)
    end = start + timedelta(minutes=17)
    assert mirror(end) < mirror(start)
    assert mirror(start) - mirror(end) == timedelta(minutes=17)


def test_a_mirrored_time_in_the_spring_gap_moves_an_hour_forward() -> None:
    # real 2019-07-25 21:30 EDT mirrors to 2020-03-08 02:30, which New York skips
    assert _local(mirror(datetime(2019, 7, 25, 21, 30, tzinfo=NEW_YORK))) == datetime(2020, 3, 8, 3, 30)


def test_reversed_stream_swaps_kinds_keeps_counts_and_keeps_only_the_fleet() -> None:
    t = datetime(2019, 5, 1, 12, tzinfo=UTC)
    trips = [
        Trip("1", "JC1", "JC2", t, t + timedelta(minutes=10)),
        Trip("2", "JC2", "JC1", t + timedelta(minutes=5), t + timedelta(minutes=20)),
        Trip("3", "JC1", "M9", t + timedelta(minutes=30), t + timedelta(minutes=50)),  # M9 never has a pickup
    ]
    events = sorted(e for trip in trips for e in trip.events())
    backwards = reversed_events(events)
    assert {e.station_id for e in backwards} == {"JC1", "JC2"}
    kinds = Counter((e.station_id, e.kind) for e in events if e.station_id != "M9")
    assert Counter((e.station_id, e.kind) for e in backwards) == {
        (station, "dropoff" if kind == "pickup" else "pickup"): n for (station, kind), n in kinds.items()
    }
    assert [e.ts for e in backwards] == sorted(e.ts for e in backwards)
    # the first real event (trip 1's pickup at JC1) is the last one backwards, a dropoff
    assert backwards[-1].station_id == "JC1"
    assert backwards[-1].kind == "dropoff"
    assert backwards[-1].ts == mirror(trips[0].started_at)
    assert len({e.event_id for e in backwards}) == len(backwards)


def test_holidays_move_to_the_days_that_play_them_backwards() -> None:
    rows = [
        {"holiday_date": "2019-07-04", "observed_date": "2019-07-04", "holiday_name": "Independence Day"},
        {"holiday_date": "2019-12-25", "observed_date": "2019-12-25", "holiday_name": "Christmas Day"},
    ]
    moved = mirrored_holidays(rows)
    assert [r["observed_date"] for r in moved] == [mirrored_day(date(2019, 7, 4)).isoformat()]  # Dec: no data
