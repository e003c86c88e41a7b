"""Stockouts the plan missed: spells measured on station_status rows on the emulator (clipped to the hour,
consecutive reports merged), the plan's flags (risk at the service level, a move) and the alert."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.gcp.settings import Settings, SettingsError
from include.monitoring import alerts, hourly, stockouts
from include.monitoring.stockouts import Spell, StockoutLimits
from tests.monitoring.plan_world import move_row, risk_row, status_row, write_plan, write_status

PLAN_HOUR = datetime(2019, 10, 1, 8, tzinfo=UTC)
FAR_AHEAD = datetime(2099, 1, 1, tzinfo=UTC)


def at(hh: int, mm: int = 0) -> datetime:
    return PLAN_HOUR.replace(hour=hh, minute=mm)


# station -> (p_empty_1h, p_full_1h, reports (time, bikes)); capacity 10, service level 0.10
WORLD = {
    "stoE35": (0.04, 0.0, [(at(7, 30), 2), (at(8, 10), 0), (at(8, 45), 3)]),  # unflagged, 35 min: alerts
    "stoE35risk": (0.30, 0.0, [(at(7, 30), 2), (at(8, 10), 0), (at(8, 45), 3)]),  # flagged by its risk
    "stoE25": (0.02, 0.0, [(at(7, 30), 2), (at(8, 10), 0), (at(8, 35), 1)]),  # 25 min: too short
    "stoE35moved": (0.02, 0.0, [(at(7, 30), 2), (at(8, 10), 0), (at(8, 45), 3)]),  # a truck brought bikes
    "stoSplit": (0.02, 0.0, [(at(8), 0), (at(8, 20), 1), (at(8, 30), 0), (at(8, 50), 2)]),  # 20 + 20 min
    "stoTail": (0.03, 0.0, [(at(7), 4), (at(8, 25), 0), (at(9, 20), 4)]),  # empty 08:25 to the hour's end
    "stoPre": (0.05, 0.0, [(at(6), 0), (at(8, 40), 3)]),  # empty since before T: 40 min of the hour
    "stoF40": (0.0, 0.01, [(at(7), 10), (at(8, 20), 10), (at(8, 40), 9)]),  # full, two reports: 40 min
    "stoF40moved": (0.0, 0.02, [(at(7), 10), (at(8, 40), 9)]),  # full 40 min, but a truck took bikes
}
MOVES = [move_row(PLAN_HOUR, 1, "stoF40moved", "stoE35moved")]
MISSED = {"stoE35": ("empty", 35), "stoTail": ("empty", 35), "stoPre": ("empty", 40), "stoF40": ("full", 40)}


@pytest.fixture(scope="module")
def world(test_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The plan hour's risk and moves, and the reports around it; alerts to a file of this module."""
    s = dataclasses.replace(test_settings, alert_log=tmp_path_factory.mktemp("alerts") / "alerts.jsonl")
    risk = [risk_row(PLAN_HOUR, sid, pe, pf) for sid, (pe, pf, _) in WORLD.items()]
    risk.append(risk_row(PLAN_HOUR, "stoNoRisk", None, None, capacity=None, problem="no capacity known"))
    write_plan(s, PLAN_HOUR, risk, MOVES)
    reports = [status_row(sid, t, bikes) for sid, (_, _, seen) in WORLD.items() for t, bikes in seen]
    reports += [status_row("stoNoRisk", at(7, 50), 0, docks=5), status_row("stoNoRisk", at(8, 50), 2, docks=3)]
    write_status(s, reports, prefix="sto")
    return s


def test_long_unflagged_spells_alert_and_flagged_short_or_served_ones_do_not(world: Settings) -> None:
    result = stockouts.check_hour(PLAN_HOUR, world)
    assert result.skipped is None
    assert result.stations == len(WORLD) + 1
    # every spell over 30 min, flagged or not, with its length clipped to the hour
    spells = {s.station_id: (s.kind, round(s.minutes)) for s in result.spells}
    flagged = {"stoE35risk": ("empty", 35), "stoE35moved": ("empty", 35), "stoF40moved": ("full", 40)}
    assert spells == MISSED | flagged | {"stoNoRisk": ("empty", 50)}
    assert {s.station_id for s in result.unflagged} == set(MISSED) | {"stoNoRisk"}

    alert = stockouts.alert(result)
    assert alert is not None
    assert alert.kind == "unflagged_stockout"
    listed = {d["station_id"]: (d["kind"], round(d["minutes"])) for d in alert.details["stations"]}
    assert listed == MISSED | {"stoNoRisk": ("empty", 50)}
    assert (
        "stoE35 (Station stoE35) empty 35 min (08:10-08:45 UTC; p_empty_1h 0.04 < service level 0.10" in alert.summary
    )
    assert "stoNoRisk (Station stoNoRisk) empty 50 min (08:00-08:50 UTC; no risk computed: no capacity known" in (
        alert.summary
    )
    assert "lower the service level" in alert.summary
    for quiet in ("stoE35risk", "stoE25", "stoE35moved", "stoSplit", "stoF40moved"):
        assert quiet not in alert.summary


def test_the_hourly_step_checks_the_hour_before_its_run_and_a_rerun_alerts_again(world: Settings) -> None:
    run_hour = PLAN_HOUR + timedelta(hours=1)  # the run at 09:15 checks the plan hour 08:00
    with pytest.raises(alerts.AlertRaised) as raised:  # alerted: the task fails, never green
        hourly.unflagged_stockouts(run_hour, settings=world)
    first = raised.value.result
    assert first["plan_hour"] == PLAN_HOUR.isoformat()
    assert set(first["unflagged"]) == set(MISSED) | {"stoNoRisk"}
    assert first["alerts"] == ["unflagged_stockout"]
    with pytest.raises(alerts.AlertRaised):  # a rerun reads the same rows: the same verdict
        hourly.unflagged_stockouts(run_hour, settings=world)
    sent = [a for a in alerts.read_log(world) if a["kind"] == "unflagged_stockout"]
    assert len(sent) == 2
    assert sent[0]["details"] == sent[1]["details"]
    assert sent[0]["details"]["plan_hour"] == PLAN_HOUR.isoformat()


def test_a_longer_threshold_and_an_uncovered_or_unplanned_hour(world: Settings) -> None:
    longer = stockouts.check_hour(PLAN_HOUR, world, StockoutLimits(min_minutes=38))
    assert {s.station_id for s in longer.unflagged} == {"stoPre", "stoF40", "stoNoRisk"}
    # an hour nobody planned; a planned hour past every report (far ahead: other tests share the dataset)
    assert stockouts.check_hour(FAR_AHEAD, world).skipped.startswith("no plan for the hour")
    write_plan(world, FAR_AHEAD, [risk_row(FAR_AHEAD, "stoE35", 0, 0)], [])
    later = stockouts.check_hour(FAR_AHEAD, world)
    assert later.skipped.startswith("the status feed does not cover the hour yet")
    assert stockouts.alert(later) is None


# --- the decision, without the stack -----------------------------------------------------------------------


def spell(risk: float | None, moved: bool = False, kind: str = "empty") -> Spell:
    start = datetime(2019, 10, 1, 8, 10, tzinfo=UTC)
    return Spell("s1", kind, 35.0, start, start + timedelta(minutes=35), risk, 0.10, moved)


@pytest.mark.parametrize(
    ("risk", "moved", "flagged"),
    [(0.05, False, False), (0.10, False, True), (0.5, False, True), (0.05, True, True), (None, False, False)],
)
def test_flagged_means_the_risk_reached_the_service_level_or_a_move_served_it(risk, moved, flagged) -> None:
    assert spell(risk, moved).flagged is flagged


def test_the_summary_says_what_to_do_and_the_list_is_capped() -> None:
    many = tuple(dataclasses.replace(spell(0.01), station_id=f"s{i:02d}") for i in range(12))
    result = stockouts.HourCheck(datetime(2019, 10, 1, 8, tzinfo=UTC), 12, None, many)
    alert = stockouts.alert(result)
    assert alert.summary.startswith("12 station(s) sat empty or full for more than 30 min in the plan hour 2019-10-01")
    assert "; and 2 more." in alert.summary
    assert len(alert.details["stations"]) == 12
    assert "check each station's forecast and its status feed" in alert.summary
    assert stockouts.alert(dataclasses.replace(result, spells=(spell(0.5),))) is None


def test_limits_come_from_the_environment(tmp_path: Path) -> None:
    assert StockoutLimits.from_env({}) == StockoutLimits(30.0, 24)
    env = {"BIKESHARE_STOCKOUT_MIN_MINUTES": "45", "BIKESHARE_STOCKOUT_STATE_LOOKBACK_HOURS": "6"}
    assert StockoutLimits.from_env(env) == StockoutLimits(45.0, 6)
    with pytest.raises(SettingsError, match="STOCKOUT_MIN_MINUTES"):
        StockoutLimits.from_env({"BIKESHARE_STOCKOUT_MIN_MINUTES": "90"})
