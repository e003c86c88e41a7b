"""Fault tests: the promise "nothing lost, ever" under poison messages, kill -9, late events, a
BigQuery outage and a repeated history load, on the real local stack (scenarios.py).

Each asserts: published valid ids == distinct ids in raw_events, no duplicate row, no row that was
never published as valid, every bad message in the dead letters with its reason. The same scenarios,
larger, print the report of ``benchmarks/faults_report.py``.
"""

from __future__ import annotations

import pytest

from include.gcp.settings import Settings
from tests.faults import scenarios

pytestmark = [pytest.mark.integration, pytest.mark.faults]


def check(outcome: scenarios.Outcome) -> None:
    print(outcome.summary())
    assert outcome.published_valid > 0
    assert outcome.distinct_in_raw == outcome.published_valid
    assert (outcome.lost, outcome.duplicate_rows, outcome.unexpected_rows) == (0, 0, 0)
    assert outcome.missing_dead_letters == 0, outcome.dead_letters


def test_poison_burst_leaves_the_job_running_and_every_message_accounted(local_stack: Settings) -> None:
    outcome = scenarios.poison_burst(local_stack)
    check(outcome)
    assert outcome.bad_published == sum(outcome.dead_letters.values()) == 14
    assert outcome.dead_letters["unknown_system"] == outcome.dead_letters["bad_system_id"] == 1
    assert outcome.facts["job_state"] == "RUNNING"
    assert outcome.facts["same_process"]
    stations_in_seed_and_stream = set(outcome.facts["new_stations"]) - {scenarios.NEW_STATION}
    assert scenarios.NEW_STATION in outcome.facts["new_stations"], stations_in_seed_and_stream


def test_kill_9_mid_backlog_then_restart_loses_and_duplicates_nothing(local_stack: Settings) -> None:
    events = scenarios.backlog_events(6000)
    outcome = scenarios.kill_during_backlog(local_stack, events, kills=1)
    check(outcome)
    assert 0 < outcome.facts["rows_at_kills"][0] < len(events)  # killed mid-backlog


def test_bigquery_outage_is_outlived_and_reported(local_stack: Settings) -> None:
    outcome = scenarios.bigquery_outage(local_stack, outage_s=45, batch=300)
    check(outcome)
    assert outcome.facts["job_alive_through_outage"]
    assert outcome.facts["same_process"]  # never restarted: it waited and retried
    assert "cannot be checked" in outcome.facts["monitor_during_outage"]


def test_a_history_load_given_the_same_month_twice_writes_each_event_once(local_stack: Settings) -> None:
    outcome = scenarios.history_twice(local_stack)
    check(outcome)
    assert outcome.facts["duplicates_in_input"] == outcome.published_valid
    assert outcome.facts["second_inserted"] == 0


@pytest.mark.airflow
def test_late_events_are_counted_by_the_next_features_run(local_stack: Settings, airflow_db) -> None:
    outcome = scenarios.late_events_through_features(local_stack)
    check(outcome)
    assert outcome.facts["first_run"] == outcome.facts["second_run"] == "success"  # dbt tests included
    before, after = outcome.facts["label_hour_pickups"]
    assert after == before + 1
    assert outcome.facts["as_ofs_counting_it"] == outcome.facts["as_ofs_expected"] > 0
    assert outcome.dead_letters == {"too_late": 1}


def test_a_surrogate_pill_is_a_dead_letter_and_ingest_goes_on(local_stack: Settings) -> None:
    """Issue 21 §1: 100 valid + the 105-byte pill + 100 valid: 200 rows, 1 dead letter, the job
    running (in its first process) within 60 s."""
    outcome = scenarios.surrogate_pill(local_stack, per_side=100)
    check(outcome)
    assert outcome.published_valid == 200
    assert outcome.dead_letters == {"bad_event_id": 1}
    assert outcome.facts["job_state"] == "RUNNING"
    assert outcome.facts["same_process"]
    assert outcome.facts["publish_to_done_s"] < 60


def test_copies_after_a_drain_a_kill_or_a_new_job_name_never_become_rows(local_stack: Settings) -> None:
    """Issue 21 §2: 400 ids, each published again after each restart, 10 of them with another station."""
    outcome = scenarios.copies_after_restarts(local_stack, n=400, conflicting=10)
    check(outcome)
    assert outcome.dead_letters == {"conflicting_duplicate": 30}
    assert list(outcome.facts["rows_after"].values()) == [401, 402, 403]  # the 400 and one sentinel each


def test_the_publisher_cannot_choose_the_clock_nor_send_loose_json(local_stack: Settings) -> None:
    """Issue 21 §4 and §5: simulated_now of 1900, 2999 and 9999 is ignored (the wall clock judges),
    a repeated key and a NaN are dead letters with their own reasons."""
    outcome = scenarios.publisher_input(local_stack)
    check(outcome)
    assert outcome.facts["faked_clock_rows"] == 0
    assert outcome.dead_letters == {"too_late": 1, "future_ts": 2, "duplicate_key": 1, "bad_json": 1}
