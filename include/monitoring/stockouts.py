"""Did the plan miss a stockout? Stations that sat empty or full while the plan had not flagged them.

The hourly plan (include/rebalancing/hourly.py) judges each station at ``T`` by its risk of running empty /
full within the hour (``station_risk.p_empty_1h`` / ``p_full_1h``) and sends trucks (``rebalancing_plan``).
Once the hour ``[T, T+1h)`` has passed, the GBFS status (``station_status``: a report's state holds until the
station's next one) says what happened. A **spell** is a stretch of consecutive reports with no bike (empty)
or no free dock (full: 0 docks available, or bikes >= the capacity at ``T``), clipped to the hour. A spell
longer than ``min_minutes`` (30) is a miss the crews would have wanted to know about when the plan had not
**flagged** the station: its 1-hour risk at ``T`` was below the service level (or not computed: the row's
``problem`` says why) and no move of the hour went to it (empty) or from it (full). Those alert
``unflagged_stockout``, naming the station, how long, what the risk said and what to do.

The hour is checked only when the feed covers it (its newest report, any station, at or after ``T+1h``);
otherwise the check says so and stays quiet. It only reads: a rerun of the same hour checks again and alerts
again, as every monitoring check does (``predictions_late``, ``feature_drift``): the alert is the verdict of
the run, and its details carry the plan hour to deduplicate on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.settings import EnvReader, Settings, SettingsError, get_settings
from include.gcp.tables import REBALANCING_PLAN, STATION_RISK, STATION_STATUS
from include.hours import Hour
from include.monitoring.alerts import Alert

log = logging.getLogger(__name__)

EMPTY, FULL = "empty", "full"
MAX_LISTED = 10  # stations named in the summary; details has them all


@dataclass(frozen=True)
class StockoutLimits:
    """When a spell is a miss (``BIKESHARE_STOCKOUT_*``). A station whose newest report before ``T`` is older
    than ``state_lookback_hours`` has no known state at ``T`` (a silent station is not judged)."""

    min_minutes: float = 30.0
    state_lookback_hours: int = 24

    def __post_init__(self) -> None:
        if not 0 <= self.min_minutes < 60:
            raise SettingsError(f"BIKESHARE_STOCKOUT_MIN_MINUTES={self.min_minutes}: expected 0 <= minutes < 60")
        if self.state_lookback_hours < 1:
            raise SettingsError(f"BIKESHARE_STOCKOUT_STATE_LOOKBACK_HOURS={self.state_lookback_hours}: expected >= 1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StockoutLimits:
        read = EnvReader() if environ is None else EnvReader(environ)
        default = cls()
        return cls(
            min_minutes=read.number("STOCKOUT_MIN_MINUTES", default.min_minutes),
            state_lookback_hours=read.integer("STOCKOUT_STATE_LOOKBACK_HOURS", default.state_lookback_hours),
        )


@dataclass(frozen=True)
class Spell:
    """A station's longest empty (or full) spell in the plan hour, with what the plan said about it."""

    station_id: str
    kind: str  # EMPTY or FULL
    minutes: float
    start: datetime
    end: datetime
    risk: float | None  # p_empty_1h or p_full_1h at T; None: not computed (see problem)
    service_level: float
    moved: bool  # a move of the hour brought bikes to it (empty) or took bikes from it (full)
    name: str | None = None
    bikes: int | None = None  # at T, as the plan saw it
    problem: str | None = None

    @property
    def flagged(self) -> bool:
        """The plan knew: a move served the station, or its risk reached the service level."""
        return self.moved or (self.risk is not None and self.risk >= self.service_level)

    def describe(self) -> str:
        label = f"{self.station_id} ({self.name})" if self.name else self.station_id
        span = f"{_hhmm(self.start)}-{_hhmm(self.end)} UTC"
        if self.risk is None:
            said = f"no risk computed: {self.problem or 'not judged'}"
        else:
            said = f"p_{self.kind}_1h {self.risk:.2f} < service level {self.service_level:.2f}"
        move = "no move brought bikes" if self.kind == EMPTY else "no move took bikes away"
        at_start = f", {self.bikes} bikes at the hour" if self.bikes is not None else ""
        return f"{label} {self.kind} {self.minutes:.0f} min ({span}; {said}{at_start}; {move})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "kind": self.kind,
            "minutes": round(self.minutes, 1),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "risk": self.risk,
            "service_level": self.service_level,
            "bikes": self.bikes,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class HourCheck:
    """What the feed and the plan say about one plan hour; ``skipped`` says why it was not judged."""

    plan_hour: datetime
    stations: int  # station_risk rows of the hour
    newest_report: datetime | None
    spells: tuple[Spell, ...] = ()
    skipped: str | None = None

    @property
    def unflagged(self) -> list[Spell]:
        return [s for s in self.spells if not s.flagged]


SPELLS_SQL = """
WITH risk AS (
    SELECT station_id, name, capacity, bikes, p_empty_1h, p_full_1h, service_level, problem
    FROM `{risk}`
    WHERE plan_hour = @plan_hour
),
moved AS (
    SELECT DISTINCT station_id, kind FROM (
        SELECT to_station AS station_id, 'empty' AS kind FROM `{plan}` WHERE plan_hour = @plan_hour
        UNION ALL
        SELECT from_station AS station_id, 'full' AS kind FROM `{plan}` WHERE plan_hour = @plan_hour
    )
),
status AS (
    SELECT
        station_id,
        last_reported,
        num_bikes_available,
        num_docks_available,
        LEAD(last_reported) OVER (PARTITION BY station_id ORDER BY last_reported) AS next_reported
    FROM `{status}`
    WHERE last_reported >= @since AND last_reported < @hour_end AND system_id = @system_id
),
states AS (
    -- each report's state, clipped to the hour: it holds until the station's next report
    SELECT
        status.station_id,
        GREATEST(status.last_reported, @plan_hour) AS state_start,
        LEAST(COALESCE(status.next_reported, @hour_end), @hour_end) AS state_end,
        status.num_bikes_available = 0 AS is_empty,
        COALESCE(status.num_docks_available = 0, FALSE)
            OR COALESCE(status.num_bikes_available >= risk.capacity, FALSE) AS is_full
    FROM status
    INNER JOIN risk ON status.station_id = risk.station_id
    WHERE COALESCE(status.next_reported, @hour_end) > @plan_hour
),
by_kind AS (
    SELECT station_id, state_start, state_end, 'empty' AS kind, is_empty AS hit FROM states
    UNION ALL
    SELECT station_id, state_start, state_end, 'full' AS kind, is_full AS hit FROM states
),
numbered AS (
    -- consecutive hits share the count of misses before them: one number per spell
    SELECT
        *,
        SUM(IF(hit, 0, 1)) OVER (
            PARTITION BY station_id, kind ORDER BY state_start ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS spell
    FROM by_kind
),
spells AS (
    SELECT
        station_id,
        kind,
        MIN(state_start) AS spell_start,
        MAX(state_end) AS spell_end,
        SUM(UNIX_MICROS(state_end) - UNIX_MICROS(state_start)) / 60000000 AS minutes
    FROM numbered
    WHERE hit
    GROUP BY station_id, kind, spell
),
longest AS (
    SELECT * FROM spells
    WHERE minutes > @min_minutes
    QUALIFY ROW_NUMBER() OVER (PARTITION BY station_id, kind ORDER BY minutes DESC, spell_start) = 1
)
SELECT
    longest.station_id,
    longest.kind,
    longest.minutes,
    longest.spell_start,
    longest.spell_end,
    IF(longest.kind = 'empty', risk.p_empty_1h, risk.p_full_1h) AS risk_1h,
    risk.service_level,
    moved.station_id IS NOT NULL AS moved,
    risk.name,
    risk.bikes,
    risk.problem
FROM longest
INNER JOIN risk ON longest.station_id = risk.station_id
LEFT JOIN moved ON longest.station_id = moved.station_id AND longest.kind = moved.kind
ORDER BY longest.minutes DESC, longest.station_id, longest.kind
"""

COVERAGE_SQL = """
SELECT
    (SELECT COUNT(*) FROM `{risk}` WHERE plan_hour = @plan_hour) AS stations,
    (SELECT MAX(last_reported) FROM `{status}` WHERE last_reported >= @since AND system_id = @system_id)
        AS newest_report
"""


def check_hour(
    plan_hour: datetime, settings: Settings | None = None, limits: StockoutLimits | None = None
) -> HourCheck:
    """The spells longer than ``limits.min_minutes`` in ``[plan_hour, +1h)``, or why the hour is not judged."""
    s, lim, hour = settings or get_settings(), limits or StockoutLimits(), Hour.of(plan_hour)
    client = clients.bigquery_client(s)
    tables = {name: s.table_id(table) for name, table in (("risk", STATION_RISK), ("plan", REBALANCING_PLAN))}
    tables["status"] = s.table_id(STATION_STATUS)
    params = [
        bigquery.ScalarQueryParameter("plan_hour", "TIMESTAMP", hour.start),
        bigquery.ScalarQueryParameter("hour_end", "TIMESTAMP", hour.end),
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", hour.start - timedelta(hours=lim.state_lookback_hours)),
        bigquery.ScalarQueryParameter("min_minutes", "FLOAT64", lim.min_minutes),
        bigquery.ScalarQueryParameter("system_id", "STRING", s.system_id),  # station_status is every system's
    ]

    def query(sql: str) -> list[dict[str, Any]]:
        config = bigquery.QueryJobConfig(query_parameters=[p for p in params if f"@{p.name}" in sql])
        return [dict(r) for r in client.query(sql.format(**tables), job_config=config).result()]

    try:
        (cover,) = query(COVERAGE_SQL)
    except exceptions.NotFound as missing:  # a deployment whose plan or poller has not written yet
        return HourCheck(hour.start, 0, None, skipped=f"no plan or status table yet ({missing.message})")
    stations, newest = int(cover["stations"]), cover["newest_report"]
    if not stations:
        return HourCheck(hour.start, 0, newest, skipped="no plan for the hour (station_risk has no row)")
    if newest is None or newest < hour.end:
        seen = newest.isoformat() if newest else "none"
        why = f"the status feed does not cover the hour yet (newest report {seen})"
        return HourCheck(hour.start, stations, newest, skipped=why)
    spells = tuple(
        Spell(
            station_id=r["station_id"],
            kind=r["kind"],
            minutes=float(r["minutes"]),
            start=r["spell_start"],
            end=r["spell_end"],
            risk=r["risk_1h"],
            service_level=float(r["service_level"]),
            moved=bool(r["moved"]),
            name=r["name"],
            bikes=r["bikes"],
            problem=r["problem"],
        )
        for r in query(SPELLS_SQL)
    )
    return HourCheck(hour.start, stations, newest, spells)


def alert(result: HourCheck, limits: StockoutLimits | None = None) -> Alert | None:
    """The ``unflagged_stockout`` alert the hour calls for, or None (pure: :func:`check_hour` reads, this decides)."""
    lim = limits or StockoutLimits()
    missed = sorted(result.unflagged, key=lambda s: (-s.minutes, s.station_id, s.kind))
    if not missed:
        return None
    listed = "; ".join(s.describe() for s in missed[:MAX_LISTED])
    more = f"; and {len(missed) - MAX_LISTED} more" if len(missed) > MAX_LISTED else ""
    summary = (
        f"{len(missed)} station(s) sat empty or full for more than {lim.min_minutes:.0f} min in the plan hour "
        f"{result.plan_hour:%Y-%m-%d %H:%M} UTC without the plan flagging them: {listed}{more}. "
        "To do: check each station's forecast and its status feed (a stale or wrong report, demand the forecast "
        "missed); if a station is missed often, lower the service level (BIKESHARE_REBALANCING_SERVICE_LEVEL) "
        "so that more stations are flagged, or look into its rates and capacity."
    )
    return Alert(
        "unflagged_stockout",
        summary,
        details={
            "plan_hour": result.plan_hour.isoformat(),
            "min_minutes": lim.min_minutes,
            "stations": [s.to_dict() for s in missed],
        },
    )


def _hhmm(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M")
