"""Issue 23 §3: every task has an ``execution_timeout``, every sensor a ``timeout``, every DAG a
``dagrun_timeout`` at least its critical path, all from include/timeouts.py."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from include import timeouts
from tests.conftest import DAGS_FOLDER

pytestmark = pytest.mark.airflow

AIRFLOW_DEFAULT_SENSOR_TIMEOUT = timedelta(days=7)


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAGS_FOLDER)
    assert bag.import_errors == {}
    return bag


def is_sensor(task: Any) -> bool:
    from airflow.sdk import BaseSensorOperator

    return isinstance(task, BaseSensorOperator)


def longest_time(task: Any) -> timedelta:
    """What one try of the task may take: a sensor waits its ``timeout`` plus a last poke."""
    assert task.execution_timeout is not None, f"{task.dag_id}.{task.task_id} has no execution_timeout"
    return task.execution_timeout + (timedelta(seconds=task.timeout) if is_sensor(task) else timedelta(0))


def critical_path(dag: Any) -> tuple[timedelta, list[str]]:
    """The longest chain of ``longest_time`` through the DAG (one try per task, branches all taken)."""
    best: dict[str, tuple[timedelta, list[str]]] = {}

    def visit(task_id: str) -> tuple[timedelta, list[str]]:
        if task_id not in best:
            task = dag.get_task(task_id)
            before = max((visit(u) for u in task.upstream_task_ids), default=(timedelta(0), []), key=lambda p: p[0])
            best[task_id] = (before[0] + longest_time(task), [*before[1], task_id])
        return best[task_id]

    return max((visit(t.task_id) for t in dag.tasks), key=lambda p: p[0])


def test_every_dag_has_its_limits(dag_bag) -> None:
    assert sorted(dag_bag.dags) == sorted(timeouts.ALL)
    for dag_id, dag in dag_bag.dags.items():
        limits = timeouts.ALL[dag_id]
        assert dag.dagrun_timeout is not None, f"{dag_id} has no dagrun_timeout"
        assert dag.dagrun_timeout == limits.dagrun_timeout, f"{dag_id}: dagrun_timeout not from include/timeouts.py"
        callbacks = dag.on_failure_callback or []
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, timeouts.DagRunTimeoutAlert) for c in callbacks), (
            f"{dag_id}: a time-out would not alert"
        )
        task_ids = {t.task_id for t in dag.tasks}
        assert set(limits.tasks) <= task_ids, f"{dag_id}: limits for tasks it does not have"
        assert set(limits.sensors) <= task_ids, f"{dag_id}: sensor limits for tasks it does not have"
        assert set(limits.measured) == task_ids, f"{dag_id}: measured durations do not match its tasks"


def test_every_task_has_an_execution_timeout(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        limits = timeouts.ALL[dag_id]
        for t in dag.tasks:
            where = f"{dag_id}.{t.task_id}"
            assert t.execution_timeout is not None, f"{where} has no execution_timeout"
            assert t.execution_timeout == limits.execution(t.task_id), f"{where}: execution_timeout not from the module"
            assert t.task_id in limits.measured, f"{where}: no measured duration in include/timeouts.py"
            worst = timedelta(seconds=limits.measured[t.task_id]) * timeouts.scale()
            assert t.execution_timeout >= 3 * worst, f"{where}: {t.execution_timeout} < 3 x the measured {worst}"


def test_every_sensor_has_its_timeout(dag_bag) -> None:
    sensors = 0
    for dag_id, dag in dag_bag.dags.items():
        limits = timeouts.ALL[dag_id]
        for t in filter(is_sensor, dag.tasks):
            sensors += 1
            where = f"{dag_id}.{t.task_id}"
            assert t.task_id in limits.sensors, f"{where}: a sensor without a timeout in include/timeouts.py"
            assert timedelta(seconds=t.timeout) == limits.sensor(t.task_id), f"{where}: timeout not from the module"
            assert timedelta(seconds=t.timeout) < AIRFLOW_DEFAULT_SENSOR_TIMEOUT, f"{where} waits Airflow's 7 days"
            assert t.mode == "reschedule", f"{where} would hold a worker slot while it waits"
    assert sensors == 3  # the training gate, the serving model (a mapped one) and the monitoring's outcomes


def test_dagrun_timeout_covers_the_critical_path(dag_bag) -> None:
    for dag_id, dag in dag_bag.dags.items():
        path_time, path = critical_path(dag)
        assert max(longest_time(t) for t in dag.tasks) <= path_time
        assert dag.dagrun_timeout >= path_time, f"{dag_id}: {dag.dagrun_timeout} < {path_time} along {path}"


def test_a_drain_asked_for_ends_before_its_task_is_cut(dag_bag) -> None:
    dag = dag_bag.dags["bikeshare_stream"]
    most = dag.params.get_param("drain_timeout_seconds").schema["maximum"]
    assert timedelta(seconds=most) < dag.get_task("drain_job").execution_timeout


def test_the_checks_fail_without_a_limit(dag_bag) -> None:
    """A task whose execution_timeout is removed, or a DAG whose dagrun_timeout is too short, is caught."""
    dag = dag_bag.dags["bikeshare_stream"]
    task = dag.get_task("ensure_resources")
    saved = task.execution_timeout
    try:
        task.execution_timeout = None
        with pytest.raises(AssertionError, match="ensure_resources has no execution_timeout"):
            test_every_task_has_an_execution_timeout(dag_bag)
    finally:
        task.execution_timeout = saved
    saved_run = dag.dagrun_timeout
    try:
        dag.dagrun_timeout = timedelta(minutes=15)
        with pytest.raises(AssertionError, match="bikeshare_stream: 0:15:00 < 0:35:00 along"):
            test_dagrun_timeout_covers_the_critical_path(dag_bag)
    finally:
        dag.dagrun_timeout = saved_run


def test_scale_multiplies_every_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(timeouts.SCALE_VAR, "2")
    assert timeouts.STREAM.execution() == timedelta(minutes=10)
    assert timeouts.STREAM.execution("drain_job") == timedelta(hours=1)
    assert timeouts.TRAIN_PREDICT.sensor("wait_for_features") == timedelta(hours=6)
    assert timeouts.STREAM.dagrun_timeout == timedelta(minutes=70)
    for bad in ("0", "-1"):
        monkeypatch.setenv(timeouts.SCALE_VAR, bad)
        with pytest.raises(ValueError, match=timeouts.SCALE_VAR):
            timeouts.scale()


@pytest.mark.parametrize(("reason", "alerts"), [("timed_out", 1), ("task_failure", 0)])
def test_a_timed_out_run_alerts_once(monkeypatch: pytest.MonkeyPatch, reason: str, alerts: int) -> None:
    from types import SimpleNamespace

    from include.monitoring.alerts import AlertNotifier

    sent: list[dict] = []
    monkeypatch.setattr(AlertNotifier, "notify", lambda self, context: sent.append(context))
    context = {
        "reason": reason,
        "dag": SimpleNamespace(dagrun_timeout=timedelta(minutes=35)),
        "ti": SimpleNamespace(task_id="ensure_resources", state="running", dag_id="bikeshare_stream"),
        "dag_run": SimpleNamespace(run_id="scheduled__x"),
    }
    # Called as Airflow calls a DAG's callback: with the scheduler's SerializedDAG in the context, which has
    # no template environment (a SimpleNamespace has none either): the call must not need one.
    timeouts.DagRunTimeoutAlert()(context)
    assert len(sent) == alerts
    if alerts:
        message = str(sent[0]["exception"])
        assert "dagrun_timeout of 0:35:00" in message
        assert "ensure_resources was still running" in message
