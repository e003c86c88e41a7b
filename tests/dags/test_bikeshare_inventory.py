"""The inventory DAG run for real with dag.test() on the local stack: events published to Pub/Sub reach the local
GBFS server, the DAG's poll stores the stations' status; the next minute's run is skipped (ttl); a feed that is
down leaves a dead letter and a successful run, never a failed one. poll_feed is mapped over the systems: each
map index is named by its system, judged by its own ttl, and one system's feed down is that system's alone."""

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


SYSTEMS_CSV = (
    "system_id,name,time_zone,gbfs_url,trip_source,trucks,truck_capacity,depot_lat,depot_lon,enabled\n"
    "citibike-jc,Jersey City,America/New_York,https://gbfs.example/jc/gbfs.json,citibike,2,20,,,true\n"
    "phx,Phoenix,America/Phoenix,https://gbfs.example/phx/gbfs.json,syn,2,20,,,true\n"
)


def test_each_system_is_a_map_index_and_one_feed_down_is_that_systems_alone(
    airflow_db: Path, monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path: Path
) -> None:
    """Two systems: Jersey City's feed is down (its override URL), phx's is the local server's /phx/gbfs.json,
    rebuilt from phx's events at station "100". Each map index is named by its system and judged by its own ttl."""
    from airflow.dag_processing.dagbag import DagBag

    (tmp_path / "systems.csv").write_text(SYSTEMS_CSV)
    monkeypatch.setenv("BIKESHARE_SYSTEMS_FILE", str(tmp_path / "systems.csv"))
    (tmp_path / "country" / "phx").mkdir(parents=True)
    stations = [{"station_id": "100", "name": "Roosevelt Row", "lat": 33.45, "lon": -112.07, "capacity": 4}]
    doc = {"last_updated": 1, "ttl": 5, "data": {"stations": stations}}
    (tmp_path / "country" / "phx" / "station_information.json").write_text(json.dumps(doc))
    port = _free_port()
    extra = {
        "GBFS_URL": "http://127.0.0.1:1/gbfs.json",  # the default system's override: down
        "GBFS_HOST": "127.0.0.1",
        "GBFS_PORT": str(port),  # every other system: this server's /{system_id}/gbfs.json
        "ALERT_LOG": str(tmp_path / "alerts.jsonl"),
    }
    with dag_settings(monkeypatch, "daginv-", **extra) as s:
        from include.gcp import resources

        resources.ensure_all(s)
        gbfs = GbfsSettings(
            url=f"http://127.0.0.1:{port}/gbfs.json",
            subscription=f"{s.topic}-gbfs",
            station_information=tmp_path / "none.json",
            station_information_dir=tmp_path / "country",
        )
        server = FeedServer(s, gbfs, "127.0.0.1", port).start()
        try:
            phx_events = [
                Event(T0 + timedelta(minutes=1), "phx-1-d", "100", "dropoff", system_id="phx"),  # 2 -> 3
                Event(T0 + timedelta(minutes=2), "phx-2-d", "100", "dropoff", system_id="phx"),  # 3 -> 4
            ]
            _publish(s, phx_events)
            phx = server.feeds.feed("phx")
            assert phx is not None
            deadline = time.monotonic() + 60
            while phx.counts["applied"] < 2 and time.monotonic() < deadline:
                time.sleep(0.5)
            assert phx.counts == {"applied": 2}, phx.counts

            dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_inventory")
            run = dag.test()
            assert run.state == "success"
            tis = {ti.map_index: ti for ti in run.get_task_instances() if ti.task_id == "poll_feed"}
            assert [(i, tis[i].rendered_map_index, tis[i].state) for i in sorted(tis)] == [
                (0, "citibike-jc", "success"),
                (1, "phx", "success"),
            ]
            results = [tis[i].xcom_pull(task_ids="poll_feed", map_indexes=i) for i in (0, 1)]
            assert [(r["system_id"], r["dead_letters"]) for r in results] == [
                ("citibike-jc", {"http_error": 1}),
                ("phx", {}),
            ]
            assert rows(s, "SELECT system_id, feed, reason FROM {gbfs_dead_letters}") == [
                {"system_id": "citibike-jc", "feed": "gbfs", "reason": "http_error"}
            ]
            assert rows(s, "SELECT system_id, station_id, num_bikes_available FROM {station_status}") == [
                {"system_id": "phx", "station_id": "100", "num_bikes_available": 4}
            ]

            again = dag.test()  # within phx's ttl (60 s): its index is skipped; Jersey City never fetched, so due
            states = {ti.map_index: ti.state for ti in again.get_task_instances() if ti.task_id == "poll_feed"}
            assert states == {0: "success", 1: "skipped"}
            assert again.state == "success"
        finally:
            server.stop()
        assert not (tmp_path / "alerts.jsonl").exists()
