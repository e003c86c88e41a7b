"""The plan's risks scored in model_performance on the emulator: outcomes from station_status rows
(int_risk_vs_outcome) and Brier scores equal to the ones computed by hand from the fixture; a table built
before `brier` existed gains the column and keeps its rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from include.dbt import cosmos_tasks
from include.dbt.runner import DbtResult
from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import MODEL_PERFORMANCE
from include.monitoring import performance
from tests.monitoring.plan_world import risk_row, status_row, write_plan, write_status

pytestmark = pytest.mark.integration

FEATURES_AS_OF = datetime(2019, 9, 4, tzinfo=UTC)  # the marts model_performance also reads (conftest's events)
DAY = datetime(2019, 9, 5, tzinfo=UTC)
T0, T1, T2, T3 = (DAY + timedelta(hours=h) for h in (6, 7, 8, 10))
AS_OF = DAY + timedelta(hours=12)
OLD_END = datetime(2019, 8, 1, tzinfo=UTC)  # a row of the table from before `brier`, outside every recompute


def at(hh: int, mm: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hh, minutes=mm)


# Reports (capacity 10). The feed's newest report is A's at 10:30: [T, T+1h) is covered for T0..T2 (T3's ends
# 11:00), [T, T+3h) for T0 and T1 (T2's ends 11:00).
STATUS = [
    # A: 3 bikes at 06:00, empty 06:20-06:40, then 2 bikes until 10:30
    status_row("rskA", at(5, 50), 3),
    status_row("rskA", at(6, 20), 0),
    status_row("rskA", at(6, 40), 2),
    status_row("rskA", at(10, 30), 5),
    # B: full since 05:00 (full at T0 and T1), 4 bikes from 07:30, full again from 08:45
    status_row("rskB", at(5), 10),
    status_row("rskB", at(7, 30), 4),
    status_row("rskB", at(8, 45), 10),
    # C: silent for more than a day before T0, then a report inside the windows: no known state at T
    status_row("rskC", at(3, day=DAY - timedelta(days=1)), 5),
    status_row("rskC", at(9, 30), 0),
    # D: no capacity known (the plan did not judge it): empty at T0, docks unknown
    status_row("rskD", at(5), 0, docks=None) | {"num_docks_available": None},
]
# plan hour -> (station, p_empty_1h, p_full_1h, p_empty_3h, p_full_3h)
RISKS = {
    T0: [("rskA", 0.2, 0.0, 0.5, 0.1), ("rskB", 0.0, 0.9, 0.05, 0.95)],
    T1: [("rskA", 0.1, 0.05, 0.3, 0.2), ("rskB", 0.0, 1.0, 0.1, 1.0)],
    T2: [("rskA", 0.05, 0.0, 0.2, 0.1), ("rskB", 0.1, 0.4, 0.3, 0.6)],
    T3: [("rskA", 0.1, 0.1, 0.2, 0.2)],
}
# What happened, by hand: (empty_1h, full_1h, empty_3h, full_3h); None: the feed does not reach T+3h yet
OUTCOMES = {
    (T0, "rskA"): (True, False, True, False),
    (T0, "rskB"): (False, True, False, True),
    (T1, "rskA"): (False, False, False, False),
    (T1, "rskB"): (False, True, False, True),
    (T2, "rskA"): (False, False, None, None),
    (T2, "rskB"): (False, True, None, None),
    (T0, "rskD"): (True, False, True, False),
    (T1, "rskD"): (True, False, True, False),
    (T2, "rskD"): (True, False, None, None),
}
# Brier scores by hand over every scored row (D has no risk: not scored), for the 24h window ending at 10:00
BRIER_DAY = {
    "risk_empty_1h": ((0.2 - 1) ** 2 + 0 + 0.1**2 + 0 + 0.05**2 + 0.1**2) / 6,
    "risk_full_1h": (0 + (0.9 - 1) ** 2 + 0.05**2 + 0 + 0 + (0.4 - 1) ** 2) / 6,
    "risk_empty_3h": ((0.5 - 1) ** 2 + 0.05**2 + 0.3**2 + 0.1**2) / 4,
    "risk_full_3h": (0.1**2 + (0.95 - 1) ** 2 + 0.2**2 + 0) / 4,
}


def frame(settings: Settings, sql: str) -> pd.DataFrame:
    sql = sql.replace("{ds}", f"`{settings.project}.{settings.dataset}`")
    return clients.bigquery_client(settings).query(sql).result().to_dataframe(create_bqstorage_client=False)


def old_table(settings: Settings) -> None:
    """model_performance as the monitoring builds before `brier` left it: the same columns but that one."""
    table = settings.table_id(MODEL_PERFORMANCE)
    clients.bigquery_client(settings).query(
        f"CREATE OR REPLACE TABLE `{table}` AS SELECT TIMESTAMP '{OLD_END:%Y-%m-%d %H:%M:%S}+00' AS window_end, "
        "'24h' AS window_name, 'zero' AS predictor, 24 AS scored_hours, 240 AS station_hours, "
        "CAST(1.5 AS FLOAT64) AS mae, CAST(2.5 AS FLOAT64) AS rmse, CAST(NULL AS FLOAT64) AS precision_at_10"
    ).result()


@pytest.fixture(scope="module")
def built(dbt: Callable[..., DbtResult], dbt_settings: Settings) -> Settings:
    """The marts, an old-shaped model_performance, three plan hours and their reports, then the monitoring build."""
    s = dbt_settings
    dbt("run", "--exclude", cosmos_tasks.MONITORING_SELECTOR, as_of=FEATURES_AS_OF)
    old_table(s)
    for hour, risks in RISKS.items():
        rows = [risk_row(hour, sid, pe1, pf1, pe3, pf3) for sid, pe1, pf1, pe3, pf3 in risks]
        rows += [risk_row(hour, "rskC", 0.1, 0.1, 0.2, 0.2)]
        rows += [risk_row(hour, "rskD", None, None, capacity=None, problem="no capacity known")]
        write_plan(s, hour, rows, [])
    write_status(s, STATUS, prefix="rsk")
    dbt("build", "--select", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    return s


def outcomes(settings: Settings) -> dict:
    rows = frame(settings, "select * from {ds}.int_risk_vs_outcome where starts_with(station_id, 'rsk')")
    out = {}
    for r in rows.itertuples():
        values = (r.empty_1h, r.full_1h, r.empty_3h, r.full_3h)
        out[(r.plan_hour.to_pydatetime(), r.station_id)] = tuple(None if pd.isna(v) else bool(v) for v in values)
    return out


def test_outcomes_follow_the_reports_and_wait_for_the_feed(built: Settings) -> None:
    # no row for C (no state at T within a day), none for T3 (its hour is not covered yet)
    assert outcomes(built) == OUTCOMES


def test_brier_scores_equal_the_hand_computed_ones(built: Settings) -> None:
    perf = frame(built, "select * from {ds}.model_performance where predictor like 'risk_%'")
    perf["window_end"] = pd.to_datetime(perf["window_end"], utc=True)
    assert perf["window_end"].max() == pd.Timestamp(at(10))  # the last scored hour: T1's 3 h window, 09:00
    day = perf[(perf["window_end"] == pd.Timestamp(at(10))) & (perf["window_name"] == "24h")].set_index("predictor")
    assert set(day.index) == set(performance.RISK_PREDICTORS)
    for predictor, brier in BRIER_DAY.items():
        assert day.loc[predictor, "brier"] == pytest.approx(brier), predictor
    assert day.loc["risk_empty_1h", ["station_hours", "scored_hours"]].tolist() == [6, 3]
    assert day.loc["risk_empty_3h", ["station_hours", "scored_hours"]].tolist() == [4, 2]
    assert day[["mae", "rmse", "precision_at_10"]].isna().all().all()
    # a window holds the risks whose window ended in it: at 07:00 only T0's next hour (1 h risks, A and B)
    first = perf[(perf["window_end"] == pd.Timestamp(at(7))) & (perf["window_name"] == "24h")].set_index("predictor")
    assert set(first.index) == {"risk_empty_1h", "risk_full_1h"}
    assert first.loc["risk_empty_1h", "brier"] == pytest.approx((0.2 - 1) ** 2 / 2)
    # the readers of the forecasts' scores do not see them; with risk=True they do
    assert not set(performance.latest_scores(AS_OF, built).get("24h", {})) & set(performance.RISK_PREDICTORS)
    risk = performance.latest_scores(at(10), built, risk=True)
    assert risk["24h"]["risk_full_3h"]["brier"] == pytest.approx(BRIER_DAY["risk_full_3h"])


def test_an_older_table_gains_brier_and_keeps_its_rows(built: Settings) -> None:
    perf = frame(built, "select * from {ds}.model_performance")
    old = perf[pd.to_datetime(perf["window_end"], utc=True) == pd.Timestamp(OLD_END)]
    assert old[["mae", "rmse"]].values.tolist() == [[1.5, 2.5]]
    assert old["brier"].isna().all()
    assert perf[perf["predictor"].str.startswith("risk_")]["brier"].notna().all()


def test_later_reports_fill_the_3h_outcomes_and_nothing_doubles(built: Settings, dbt: Callable[..., DbtResult]) -> None:
    s = built
    write_status(s, [*STATUS, status_row("rskA", at(11, 30), 5)], prefix="rsk")  # the feed now reaches 11:30
    dbt("build", "--select", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    now = outcomes(s)
    assert now[(T2, "rskA")] == (False, False, False, False)
    assert now[(T2, "rskB")] == (False, True, False, True)  # full from 08:45
    assert now[(T3, "rskA")] == (False, False, None, None)  # 2 bikes at 10:00, 5 from 10:30
    assert now[(T3, "rskC")] == (True, False, None, None)  # C's 09:30 report holds at 10:00: a state now
    assert len(now) == len(OUTCOMES) + 3  # T3: A, C and D
    perf = frame(s, "select * from {ds}.model_performance")
    assert not perf.duplicated(["window_end", "window_name", "predictor"]).any()
    rows = frame(s, "select plan_hour, station_id from {ds}.int_risk_vs_outcome")
    assert not rows.duplicated().any()
