"""The plan hour on the local stack: status polled from a GBFS feed, rates served by the run, then
``hourly.run`` writes station_risk, rebalancing_plan and the hour's JSON object; a rerun replaces them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from include.gbfs.poll import poll
from include.gbfs.settings import GbfsSettings
from include.gcp import bucket, clients, paths, resources
from include.gcp.settings import Settings
from include.gcp.tables import REBALANCING_PLAN, STATION_RISK
from include.ml import predictions, served
from include.rebalancing import hourly
from include.rebalancing.config import RebalancingConfig
from tests.gbfs.fake_feed import FakeFeed, fake_feed, gbfs_dataset, station_information, station_status

pytestmark = pytest.mark.integration

HOUR = datetime(2019, 9, 24, 11, tzinfo=UTC)
H = timedelta(hours=1)


@pytest.fixture
def ds(test_settings: Settings) -> Iterator[Settings]:
    with gbfs_dataset(test_settings) as s:
        resources.ensure_bucket(s)
        yield s


def _serve(s: Settings, rates: dict[str, tuple[float, float]]) -> None:
    """The run of HOUR's served rows, horizons 1..3, as write_predictions loads them."""
    ids = sorted(rates)
    records = []
    for k in (1, 2, 3):
        pickups = [rates[i][0] for i in ids]
        dropoffs = [rates[i][1] for i in ids]
        net = [d - p for p, d in zip(pickups, dropoffs, strict=True)]
        records += predictions.records(ids, net, pickups, dropoffs, HOUR + (k - 1) * H, "v1", horizon=k)
    served.load_run(records, HOUR, s)


def _rows(s: Settings, table: str, order: str) -> list[dict]:
    hour = f"TIMESTAMP '{HOUR:%Y-%m-%d %H:%M:%S}+00'"
    sql = f"SELECT * FROM `{s.table_id(table)}` WHERE plan_hour = {hour} ORDER BY {order}"
    return [dict(r) for r in clients.bigquery_client(s).query(sql).result()]


def _feed(feed: FakeFeed) -> None:
    t = int(HOUR.timestamp())  # the feed lives in replay time, like the local one
    feed.discovery(last_updated=t)
    feed.information([station_information("A", 20), station_information("B", 20), station_information("C", 20)], t)
    reported = HOUR - timedelta(minutes=5)
    feed.status(
        [
            station_status("A", 0, 20, reported),
            station_status("B", 20, 0, reported),
            station_status("C", 10, 10, reported),
        ],
        t,
    )


def test_the_hour_is_planned_from_the_stored_status_and_rates_and_a_rerun_replaces_it(ds: Settings) -> None:
    with fake_feed() as feed:
        _feed(feed)
        poll(ds, GbfsSettings(url=f"{feed.url}/gbfs.json", timeout_seconds=2, clock="wall"), now=HOUR)
    _serve(ds, {"A": (6.0, 1.0), "B": (1.0, 6.0), "C": (2.0, 2.0), "D": (1.0, 1.0)})

    summary = hourly.run(HOUR, ds, RebalancingConfig())
    risk = _rows(ds, STATION_RISK, "station_id")
    assert [r["station_id"] for r in risk] == ["A", "B", "C", "D"]
    by_id = {r["station_id"]: r for r in risk}
    assert (by_id["A"]["bikes"], by_id["A"]["p_empty_1h"]) == (0, 1.0)
    assert by_id["D"]["problem"] == "no status reported"
    moves = _rows(ds, REBALANCING_PLAN, "truck, move_order")
    assert [(m["from_station"], m["to_station"]) for m in moves] == [("B", "A")]
    assert summary["moves"] == 1
    assert by_id["A"]["bikes_after_plan"] == moves[0]["bikes"]

    document = json.loads(bucket.read_bytes(paths.rebalancing_plan(ds.system_root, HOUR), ds))
    assert [(m["from_station"], m["to_station"], m["bikes"]) for m in document["moves"]] == [
        (m["from_station"], m["to_station"], m["bikes"]) for m in moves
    ]

    hourly.run(HOUR, ds, RebalancingConfig())  # a rerun of the hour: the same plan, rows replaced
    assert [r["station_id"] for r in _rows(ds, STATION_RISK, "station_id")] == ["A", "B", "C", "D"]
    again = _rows(ds, REBALANCING_PLAN, "truck, move_order")
    assert [(m["from_station"], m["to_station"], m["bikes"]) for m in again] == [
        (m["from_station"], m["to_station"], m["bikes"]) for m in moves
    ]
    assert bucket.exists(paths.rebalancing_plan(ds.system_root, HOUR), ds)
