"""bikeshare_features on the local stack: live runs, one catch-up run and a backfill give the same rows,
and a run whose dbt test fails keeps the training sensor waiting until a later run passes.

Real parts only: the DAG parsed by a DagBag, run with ``dag.test()``, cosmos starting dbt from its own
venv against the BigQuery emulator, Citi Bike events from the trip files. Each run is one dbt build
(~10 s here), so the window is three 15-minute runs on top of a few hours of history (7 DAG runs in all,
and 3 for the training gate).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from include.dbt import cosmos_tasks
from include.gcp import clients, feature_runs, resources
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import RAW_EVENTS
from include.localstack import stack
from include.ml import dataset
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files
from tests.conftest import DAGS_FOLDER

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

HISTORY_START = datetime(2019, 9, 4, 5, 0, tzinfo=UTC)
WINDOW_END = datetime(2019, 9, 4, 8, 45, tzinfo=UTC)
STEP = timedelta(minutes=15)
INTERVAL_ENDS = [WINDOW_END - STEP, WINDOW_END]  # two live runs: the second one's interval after the first's
DAG_ID = "bikeshare_features"
GATE_HOUR = datetime(2019, 9, 4, 9, 0, tzinfo=UTC)  # a training hour: features as of it, labels of 08:00


@pytest.fixture(scope="module")
def events() -> list[Event]:
    return events_from_files(month_files("2019-09"), start=HISTORY_START, end=WINDOW_END)


@pytest.fixture
def dataset_factory(monkeypatch: pytest.MonkeyPatch, local_stack: Settings) -> Iterator:
    """Make a fresh dataset with an empty raw_events and point the settings (and so the DAG) at it."""
    made: list[Settings] = []

    def make(label: str) -> Settings:
        monkeypatch.setenv("BIKESHARE_BQ_DATASET", f"features_{label}_{uuid.uuid4().hex[:8]}")
        get_settings.cache_clear()
        s = get_settings()
        resources.ensure_bigquery(s)
        cosmos_tasks.load_seeds(s)  # as bikeshare_setup does; the 15-minute DAG does not reseed
        made.append(s)
        return s

    yield make
    get_settings.cache_clear()
    for s in made:
        clients.bigquery_client(s).delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)


def load_events(settings: Settings, events: list[Event]) -> None:
    """Append events to raw_events with a load job, as they would have arrived from the stream."""
    load_raw_events((e.to_dict() for e in events), settings)


def parse_dag():
    """Parse the DAG file now, so it picks up the current settings (dataset)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS_FOLDER / f"{DAG_ID}.py")
    assert bag.import_errors == {}
    return bag.dags[DAG_ID]


def run_for(dag, interval_end: datetime, attempts: int = 3) -> None:
    """The DAG's run at ``interval_end`` (a cron trigger timetable: logical date = interval end).

    dag.test() retries a task at once, without its retry_delay, and concurrent test sessions stop and
    restart the shared BigQuery emulator; so a failed run is re-run whole after the stack is up again,
    as Airflow's delayed retries would. Runs are idempotent (merge on the unique key), and a real
    failure fails every attempt.
    """
    for attempt in range(1, attempts + 1):
        stack.up(get_settings())  # idempotent
        run = dag.test(logical_date=interval_end)
        if run.state == "success" or attempt == attempts:
            break
        time.sleep(10)
    assert run.state == "success", f"run for {interval_end} ended {run.state} after {attempt} attempts"
    assert run.data_interval_end == interval_end


def run_failing_its_tests(dag, interval_end: datetime, attempts: int = 3):
    """The DAG's run at ``interval_end``, expected to fail in its dbt build on a failing test.

    Re-run whole if it failed anywhere else (the shared emulator restarted under it, see :func:`run_for`).
    """
    for attempt in range(1, attempts + 1):
        stack.up(get_settings())
        run = dag.test(logical_date=interval_end)
        states = {ti.task_id: ti.state for ti in run.get_task_instances()}
        if states.get(cosmos_tasks.BUILD_TASK_ID) == "failed":
            break
        assert attempt < attempts, f"run for {interval_end} ended {run.state} with tasks {states}"
        time.sleep(10)
    assert run.state == "failed"
    assert states["mark_building"] == "success"
    assert states["features_ready"] == "upstream_failed"
    return run


def newest(settings: Settings, table: str, column: str) -> datetime:
    sql = f"SELECT MAX({column}) AS m FROM `{settings.table_id(table)}`"
    value = next(iter(clients.bigquery_client(settings).query(sql).result())).m
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def feature_rows(settings: Settings) -> list[tuple]:
    sql = (
        "SELECT station_id, feature_name, window_len, value, as_of "
        f"FROM `{settings.table_id('station_features')}` "
        "ORDER BY as_of, station_id, feature_name, window_len"
    )
    return [tuple(r.values()) for r in clients.bigquery_client(settings).query(sql).result()]


def test_dag_is_freshness_then_one_dbt_build_then_the_run_log() -> None:
    """Freshness first, the run logged as building, one dbt build (no retries), then verified."""
    dag = parse_dag()
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"source_freshness", "mark_building", cosmos_tasks.BUILD_TASK_ID, "features_ready"}
    assert dag.schedule == "*/15 * * * *"
    assert dag.catchup is False
    build = tasks[cosmos_tasks.BUILD_TASK_ID]
    assert build.base_cmd == ["build"]
    assert build.vars == cosmos_tasks.dbt_vars(get_settings())  # as_of and the late-event limit
    assert build.retries == 0
    assert "resource_type:unit_test" in build.exclude.split()  # unit tests run in CI, not here
    assert "resource_type:seed" in build.exclude.split()  # seeds are loaded by bikeshare_setup
    assert build.upstream_task_ids == {"mark_building"}
    assert tasks["mark_building"].upstream_task_ids == {"source_freshness"}
    assert tasks["features_ready"].upstream_task_ids == {cosmos_tasks.BUILD_TASK_ID}
    assert tasks["features_ready"].outlets == []  # no Asset: training waits on feature_store_runs


def test_a_wall_clock_run_after_the_local_events_is_skipped_without_an_alert(
    airflow_db, dataset_factory, events: list[Event]
) -> None:
    """Unpaused on the local profile, the DAG runs wall-clock intervals (2026) past the replayed 2019 events: the
    run is skipped at its first task with the reason, no freshness alert, nothing logged as building."""
    s = dataset_factory("wallclock")
    load_events(s, events[:50])
    run = parse_dag().test(logical_date=datetime(2026, 12, 7, 9, 15, tzinfo=UTC))
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(states, "skipped")
    assert len(states) == 4
    assert feature_runs.read_gate(s) == feature_runs.Gate(None, 0)  # nothing logged: no run building, none verified


def test_live_runs_catch_up_and_backfill_give_identical_rows(airflow_db, dataset_factory, events: list[Event]) -> None:
    # live: before each run only the events of the past have arrived
    live = dataset_factory("live")
    dag = parse_dag()
    loaded_up_to = HISTORY_START
    for end in INTERVAL_ENDS:
        load_events(live, [e for e in events if loaded_up_to <= e.ts < end])
        loaded_up_to = end
        run_for(dag, end)
    live_rows = feature_rows(live)
    gate = feature_runs.read_gate(live)  # every run logged building, then verified
    assert (gate.open_runs, gate.verified_as_of) == (0, WINDOW_END)

    # catch-up: everything has arrived, one run for the last interval fills every as_of
    catch_up = dataset_factory("catchup")
    load_events(catch_up, events)
    dag = parse_dag()
    run_for(dag, INTERVAL_ENDS[-1])
    catch_up_rows = feature_rows(catch_up)

    # backfill from the UI, newest interval first (run_backwards), on data that arrived long ago
    backfill = dataset_factory("backfill")
    load_events(backfill, events)
    dag = parse_dag()
    for end in reversed(INTERVAL_ENDS):
        run_for(dag, end)
    backfill_rows = feature_rows(backfill)
    gate = feature_runs.read_gate(backfill)  # the newest row is the oldest as_of's verified; the gate keeps the max
    assert (gate.open_runs, gate.verified_as_of) == (0, WINDOW_END)

    as_ofs = {row[-1] for row in live_rows}
    assert set(INTERVAL_ENDS) <= as_ofs, "a live run left its own as_of empty"
    assert max(as_ofs) == WINDOW_END, "a run wrote features for an as_of after its interval"
    assert live_rows, "no features computed"
    assert catch_up_rows == live_rows
    assert backfill_rows == live_rows


def test_a_run_whose_dbt_test_fails_holds_training_until_a_later_run_passes(
    airflow_db, dataset_factory, events: list[Event]
) -> None:
    """A bad event makes the source's accepted_values test fail: the run's build stops there (dbt
    build skips what depends on a failing test, so no feature of the hour is written), the training
    sensor keeps waiting, and the next run after the fix builds every missing as_of and releases it."""
    s = dataset_factory("gate")
    load_events(s, events)
    dag = parse_dag()
    run_for(dag, GATE_HOUR - STEP)
    assert newest(s, "station_features_wide", "as_of") == GATE_HOUR - STEP
    bad = {"event_id": "planted-bad-kind", "station_id": "3186", "ts_iso": "2019-09-04T08:50:00Z", "kind": "teleport"}
    load_raw_events([{**bad, "delta": 1}], s)  # stg_raw_events would drop it; the source's accepted_values test fails

    failed = run_failing_its_tests(dag, GATE_HOUR)
    assert newest(s, "station_features_wide", "as_of") == GATE_HOUR - STEP, "features were built past a failed test"
    gate = feature_runs.read_gate(s)
    assert gate.open_run_id == failed.run_id
    assert not dataset.features_ready(GATE_HOUR, s), "training would read rows whose dbt test failed"

    delete = f"DELETE FROM `{s.table_id(RAW_EVENTS)}` WHERE event_id = '{bad['event_id']}'"
    clients.bigquery_client(s).query(delete).result()  # the data is fixed; the next 15-minute run passes
    run_for(dag, GATE_HOUR + STEP)
    assert newest(s, "station_features_wide", "as_of") == GATE_HOUR + STEP
    assert feature_runs.read_gate(s).open_runs == 0
    assert dataset.features_ready(GATE_HOUR, s)
