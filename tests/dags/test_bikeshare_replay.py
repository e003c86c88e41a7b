"""The replay DAG, run for real with dag.test() against the local stack, publishes exactly the window."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from include.gcp.settings import Settings
from include.simulator.replay import ReplayRequest, select_events
from tests.conftest import DAGS_FOLDER, dag_settings
from tests.simulator.pubsub_helpers import pull_all

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture
def fresh_names(monkeypatch: pytest.MonkeyPatch, local_stack: Settings):
    """Names the DAG reads through get_settings(); the DAG itself creates the topic and subscription."""
    with dag_settings(monkeypatch, "replaytest-") as settings:
        yield settings


def test_replay_dag_publishes_every_event_of_the_window(airflow_db, fresh_names: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_replay")
    conf = {"months": ["2019-09"], "from": "2019-09-01T12:00:00Z", "to": "2019-09-01T16:00:00Z", "speed_up": 0}
    expected = select_events(
        ReplayRequest(
            months=["2019-09"], start=datetime(2019, 9, 1, 12, tzinfo=UTC), end=datetime(2019, 9, 1, 16, tzinfo=UTC)
        )
    )
    assert len(expected) == 499

    run = dag.test(run_conf=conf)

    assert run.state == "success"
    summary = next(ti for ti in run.get_task_instances() if ti.task_id == "replay").xcom_pull(task_ids="replay")
    assert summary["published"] == summary["valid"] == 499
    assert summary["topic"] == fresh_names.topic_path
    payloads = pull_all(fresh_names, 499)
    assert sorted(json.loads(p)["event_id"] for p in payloads) == sorted(e.event_id for e in expected)
    by_id = {json.loads(p)["event_id"]: json.loads(p) for p in payloads}
    assert all(by_id[e.event_id] == e.to_dict() for e in expected)
