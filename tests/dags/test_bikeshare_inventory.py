"""The inventory DAG run for real with dag.test() on the local stack: events published to Pub/Sub reach the local
GBFS server, the DAG's poll stores the stations' status; the next minute's run is skipped (ttl); a feed that is
down leaves a dead letter and a successful run, never a failed one."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.gbfs.server import FeedServer
from include.gbfs.settings import GbfsSettings
from include.gcp import clients
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings
from tests.conftest import DAGS_FOLDER, dag_settings
from tests.gbfs.fake_feed import rows

pytestmark = [pytest.mark.integration, pytest.mark.airflow]
T0 = datetime(2019, 9, 29, 8, 0, tzinfo=UTC)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def inventory_env(monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    port = _free_port()
    snapshot = tmp_path / "station_information.json"
    stations = [{"station_id": "A", "name": "Grove St PATH", "lat": 40.7196, "lon": -74.0431, "capacity": 4}]
    snapshot.write_text(json.dumps({"last_updated": 1, "ttl": 5, "data": {"stations": stations}}))
    extra = {"GBFS_URL": f"http://127.0.0.1:{port}/gbfs.json", "ALERT_LOG": str(tmp_path / "alerts.jsonl")}
    with dag_settings(monkeypatch, "daginv-", **extra) as settings:
        from include.gcp import resources

        resources.ensure_all(settings)
        gbfs = GbfsSettings(url=extra["GBFS_URL"], subscription=f"{settings.topic}-gbfs", station_information=snapshot)
        server = FeedServer(settings, gbfs, "127.0.0.1", port).start()
        try:
            yield settings
        finally:
            server.stop()


def _publish(settings: Settings, events: list[Event]) -> None:
    publisher = clients.publisher_client(settings)
    for e in events:
        publisher.publish(settings.topic_path, e.to_json(), simulated_now=format_ts(e.ts)).result(timeout=30)


def test_events_reach_station_status_through_the_feed(airflow_db: Path, inventory_env: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = inventory_env
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_inventory")
    events = [
        Event(T0 + timedelta(minutes=1), "inv-1-p", "A", "pickup"),  # 2 -> 1
        Event(T0 + timedelta(minutes=2), "inv-2-p", "A", "pickup"),  # 1 -> 0
        Event(T0 + timedelta(minutes=3), "inv-3-p", "A", "pickup"),  # a failed pickup
    ]
    _publish(s, events)
    deadline = time.monotonic() + 60
    while _inventory(s)["failed_pickups"] < 1 and time.monotonic() < deadline:  # applied within a second or two
        time.sleep(0.5)

    run = dag.test()
    assert run.state == "success"
    result = run.get_task_instance("poll_feed", map_index=0).xcom_pull(task_ids="poll_feed", map_indexes=0)
    assert [f["feed"] for f in result["fetches"]] == ["gbfs", "station_information", "station_status"]
    assert result["dead_letters"] == {}
    stored = rows(s, "SELECT station_id, num_bikes_available, last_reported FROM {station_status}")
    assert stored == [{"station_id": "A", "num_bikes_available": 0, "last_reported": T0 + timedelta(minutes=3)}]

    again = dag.test()  # within the feed's ttl (60 s): skipped, nothing fetched
    assert again.state == "success"
    assert again.get_task_instance("poll_feed", map_index=0).state == "skipped"
    assert len(rows(s, "SELECT * FROM {gbfs_fetches}")) == 3


def _inventory(settings: Settings) -> dict:
    """The local feed's failure counts (its inventory.json)."""
    url = GbfsSettings.from_env(settings).url.replace("/gbfs.json", "/inventory.json")
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_feed_that_is_down_is_a_dead_letter_not_a_failed_run(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path: Path
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    extra = {"GBFS_URL": "http://127.0.0.1:1/gbfs.json", "ALERT_LOG": str(tmp_path / "alerts.jsonl")}
    with dag_settings(monkeypatch, "daginv-", **extra) as s:
        clients.bigquery_client(s).create_dataset(s.dataset)  # no tables: the first poll creates them
        run = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_inventory").test()
        assert run.state == "success"
        letters = rows(s, "SELECT feed, reason FROM {gbfs_dead_letters}")
        assert letters == [{"feed": "gbfs", "reason": "http_error"}]
        assert not (tmp_path / "alerts.jsonl").exists()  # a bad feed is data, not an outage
