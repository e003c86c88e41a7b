"""A falling season from the months we have: the Jan-Sep 2019 event stream played backwards in time.

The issue scores the model on Oct-Dec (ridership falling towards winter, holidays), which we do not have.
Our nine months rise from winter to summer. Played backwards, they fall from September to January through
three holidays (New Year's Day, Martin Luther King Day, Presidents' Day), like the scored months.

Backwards, a trip from A (picked up at t0) to B (dropped at t1) is a trip from B at -t1 to A at -t0: every
dropoff becomes a pickup at the mirrored time and every pickup a dropoff, so each station's stream is still
a valid pickup/dropoff stream with the same counts, and its net change flips sign. Time is mirrored in
New York wall-clock time, so the local hour buckets map onto each other (hour k of day D becomes hour
23 - k of the mirrored day) and the daily and weekly rhythm survives:

- real day D (2019) becomes ``MIRROR_DAY0 + (2019-09-30 - D)`` (real 2019-09-30 is 2020-01-01, real
  2019-01-01 is 2020-09-29); the scored three months are synthetic Jul-Sep 2020 = real Apr-Jan backwards;
- holidays move with their days (:func:`mirrored_holidays`), so the holiday flag still marks them;
- only the fleet's stations are kept (those with a real pickup), so the fleet is the same 53 stations.

Used by ``benchmarks/features_build.py --time-reversed`` (the dbt feature store of the reversed stream, for
``benchmarks/train_predict.py``) and ``research/walk_forward.py --time-reversed`` (the pandas harness).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from include.gcp.events import Event

NEW_YORK = ZoneInfo("America/New_York")
REAL_END = datetime(2019, 10, 1)  # wall-clock end of the real stream (exclusive)
MIRROR_DAY0 = datetime(2020, 1, 1)  # the first synthetic day (real 2019-09-30 backwards)
FIRST_REAL_DAY, LAST_REAL_DAY = date(2019, 1, 1), date(2019, 9, 30)
# synthetic hours scored: the last three months, after 26 weeks of history (real Sep..Apr backwards)
SCORED_START = datetime(2020, 7, 1, 4, tzinfo=UTC)
SWAP = {"pickup": "dropoff", "dropoff": "pickup"}


def mirror(moment: datetime) -> datetime:
    """The instant at the mirrored New York wall-clock time (UTC in, UTC out).

    The bucket [t, t + 1 h) becomes (m - 1 h, m], so hour buckets map onto hour buckets. A mirrored
    wall-clock time that does not exist (the spring change of 2020) moves an hour forward, as clocks do.
    """
    wall = moment.astimezone(NEW_YORK).replace(tzinfo=None)
    mirrored = MIRROR_DAY0 + (REAL_END - wall)
    return mirrored.replace(tzinfo=NEW_YORK).astimezone(UTC)  # zoneinfo reads a gap time with the old offset


def mirrored_day(real_day: date) -> date:
    """The synthetic day that plays ``real_day`` backwards."""
    return MIRROR_DAY0.date() + (LAST_REAL_DAY - real_day)


def reversed_events(events: Iterable[Event], fleet: set[str] | None = None) -> list[Event]:
    """The stream backwards in time, kinds swapped, only at the ``fleet`` stations (default: every
    station with a pickup in ``events``), in event-time order."""
    events = list(events)
    if fleet is None:
        fleet = {e.station_id for e in events if e.kind == "pickup"}
    out = [
        Event(mirror(e.ts), f"{e.event_id}-r", e.station_id, SWAP[e.kind], e.delta)
        for e in events
        if e.station_id in fleet
    ]
    out.sort()
    return out


def mirrored_holidays(rows: Iterable[dict[str, str]]) -> list[dict[str, str]]:
    """Rows of the ``us_federal_holidays`` seed moved to the days that play their behaviour backwards."""
    out = []
    for row in rows:
        observed = date.fromisoformat(row["observed_date"])
        if FIRST_REAL_DAY <= observed <= LAST_REAL_DAY:
            day = mirrored_day(observed).isoformat()
            out.append({"holiday_date": day, "observed_date": day, "holiday_name": f"{row['holiday_name']} (mirrored)"})
    return out
