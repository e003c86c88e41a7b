"""The crew view read from the local stack (bucket + BigQuery emulators), and its FastAPI app.

The plan's rows are written by the test (tests/crew_view/fixtures.py) through the real BigQuery client, the
way the hourly producer writes them (``include.gcp.hour_rows.replace_hour``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from include.crew_view import clock, sources
from include.crew_view.app import create_app
from include.gcp.settings import Settings
from tests.crew_view import fixtures

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(test_settings: Settings) -> Iterator[fixtures.World]:
    w = fixtures.build_world(test_settings, "crew")
    yield w
    fixtures.drop(w.settings)


@pytest.fixture
def empty(test_settings: Settings) -> Iterator[Settings]:
    """A dataset and bucket with nothing in them: before the first run."""
    s = fixtures.own_settings(test_settings, "crew_empty")
    yield s
    fixtures.drop(s)


def test_assemble_reads_every_section(world):
    view = sources.assemble(world.settings)
    assert view.problems == {}
    assert view.serving.version == fixtures.VERSION
    assert view.serving.has_plot
    assert [m.predictor for m in view.serving.metrics][:2] == ["model", "zero"]
    assert view.serving.best_baseline.predictor == "zero"
    assert view.serving.metrics[1].precision_at_10 is None  # NaN in metadata.json
    fc = view.forecast
    assert fc.target_hour == fixtures.TARGET_HOUR
    assert fc.model_version == fixtures.VERSION
    assert [s.station_id for s in fc.stations] == list(fixtures.RANKED)
    top = fc.stations[0]
    assert (top.name, top.capacity, top.predicted_pickups) == ("Grove St PATH", 41, 6.1)
    assert fc.unplaced == 1  # 9999 is not in the seed
    perf = view.performance
    assert perf.note is None
    assert len({r.window_end for r in perf.rows}) == 7 * 24  # of the 8 days loaded
    assert perf.best_baseline == "mean_last_4_same_weekday_hours"
    assert [r.predictor for r in perf.latest_7d][:2] == ["model", "mean_last_4_same_weekday_hours"]
    assert max(r.window_end for r in perf.rows) == fixtures.TARGET_HOUR


def test_the_newest_served_plan_hour_by_default(world):
    view = sources.assemble(world.settings)
    assert view.hours == (fixtures.PLAN_HOUR, fixtures.EARLIER_HOUR)
    plan = view.plan
    assert plan.hour == fixtures.PLAN_HOUR
    assert (plan.model_version, plan.service_level) == (fixtures.PLAN_VERSION, 0.10)
    assert plan.generated_at == fixtures.PLAN_HOUR + timedelta(minutes=4)
    assert len(plan.stations) == len(fixtures.RISK)
    assert [(r.truck, [m.move_order for m in r.moves]) for r in plan.routes] == [(1, [1, 2]), (2, [1])]
    stops = plan.routes[0].stops
    assert [(s.station_id, s.load, s.unload) for s in stops] == [("3186", 8, 0), ("3203", 2, 8), ("3269", 0, 2)]
    grove = plan.station("3186")
    assert (grove.name, grove.capacity, grove.bikes, grove.p_full_1h, grove.target_low, grove.target_high) == (
        "Grove St PATH",
        41,
        36,
        0.41,
        12,
        30,
    )
    assert grove.status_reported_at == fixtures.PLAN_HOUR - timedelta(minutes=2)
    assert plan.station("3185").bikes is None  # NULLs stay None, never NaN
    assert plan.station("3211").lat is None
    assert {w.station_id for w in plan.warnings} == set(fixtures.WARNED)
    assert view.forecast.target_hour == fixtures.TARGET_HOUR  # no Avro file for the plan hour: the newest


def test_an_hour_from_the_picker_and_an_hour_without_a_plan(world):
    view = sources.assemble(world.settings, fixtures.EARLIER_HOUR)
    assert view.plan.hour == fixtures.EARLIER_HOUR
    assert [m.to_station for m in view.plan.moves] == ["3203"]
    assert view.notes == ()
    missing = fixtures.PLAN_HOUR + timedelta(hours=5)
    view = sources.assemble(world.settings, missing)
    assert view.plan.hour == fixtures.PLAN_HOUR
    assert view.notes == (f"No plan for {clock.when(missing)}: showing the newest plan instead.",)


def test_an_hour_without_moves_and_the_forecast_of_the_plan_hour(test_settings):
    s = fixtures.own_settings(test_settings, "crew_calm")
    try:
        hour = fixtures.TARGET_HOUR  # the hour the Avro file predicts
        fixtures.write_predictions(s, hour=hour)
        fixtures.write_predictions(s, hour=hour + timedelta(hours=1))  # newer, but not the plan's hour
        fixtures.write_plan(s, hour, fixtures.risk_rows(hour, fixtures.RISK[:3]), [])
        view = sources.assemble(s)
        assert view.plan.routes == ()
        assert view.forecast.target_hour == hour  # the plan's model and hour, not the newest file
    finally:
        fixtures.drop(s)


def test_newest_hour_wins_and_falls_back_to_other_versions(world):
    s = world.settings
    older = fixtures.TARGET_HOUR.replace(hour=2)
    fixtures.write_predictions(s, hour=older)
    assert sources.newest_predictions(s, fixtures.VERSION)[1] == fixtures.TARGET_HOUR
    # latest.json moved to a version that has not written its first hour yet: the newest file anywhere
    assert sources.newest_predictions(s, "20190930T0500Z")[1] == fixtures.TARGET_HOUR


def test_missing_everything_is_not_an_error(empty):
    view = sources.assemble(empty)
    assert view.serving is None
    assert view.forecast is None
    assert (view.plan, view.hours) == (None, ())  # no station_risk table yet: no plan, not a problem
    assert view.performance.note.startswith("no live performance yet")
    assert set(view.problems) == {"stations"}  # the seed table is missing: said on the page, not raised


def test_empty_performance_table_says_no_live_performance(empty):
    fixtures.load_performance(empty, rows=[])
    assert sources.performance(empty).note == "no live performance yet (model_performance is empty)"


def test_app_serves_page_png_and_json(world):
    client = TestClient(create_app(lambda: world.settings))
    res = client.get("/")
    assert res.status_code == 200
    assert "default-src 'none'" in res.headers["content-security-policy"]
    html = res.text
    assert html.count('class="station"') == len(fixtures.SEED) + len(fixtures.RISK) - 1  # both maps; 3211: no place
    assert "Brunswick &amp; 6th &lt;b&gt;" in html
    assert f"evaluation.png?version={fixtures.VERSION}" in html
    assert 'data-predictor="model"' in html
    png = client.get("/evaluation.png", params={"version": fixtures.VERSION})
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content == fixtures.png()
    assert client.get("/evaluation.png", params={"version": "../latest"}).status_code == 400
    assert client.get("/evaluation.png", params={"version": "20000101T0000Z"}).status_code == 404
    data = client.get("/view.json").json()
    assert data["forecast"]["stations"][0]["station_id"] == fixtures.RANKED[0]
    assert data["performance"]["best_baseline"] == "mean_last_4_same_weekday_hours"
    assert data["plan"]["hour"].startswith("2019-09-30T11:00:00")
    assert [s["station_id"] for s in data["plan"]["routes"][0]["stops"]] == ["3186", "3203", "3269"]
    assert {w["station_id"] for w in data["plan"]["warnings"]} == set(fixtures.WARNED)


def test_app_serves_the_picked_hour_and_refuses_a_malformed_one(world):
    client = TestClient(create_app(lambda: world.settings))
    res = client.get("/", params={"hour": clock.hour_param(fixtures.EARLIER_HOUR)})
    assert res.status_code == 200
    assert "form-action 'self'" in res.headers["content-security-policy"]
    assert 'data-hour="2019-09-30T10:00Z"' in res.text
    assert "Mon 30 Sep 2019, 6:00\u20137:00 am" in res.text
    assert client.get("/", params={"hour": "2019-09-30 11:00"}).status_code == 400
    assert client.get("/view.json", params={"hour": "../x"}).status_code == 400
    unknown = client.get("/", params={"system": "gotham"})
    assert unknown.status_code == 400
    assert "citibike-jc" in unknown.text  # names the known systems
    assert client.get("/view.json", params={"system": "citibike-jc"}).json()["system_id"] == "citibike-jc"
    assert (
        client.get("/view.json", params={"hour": "2019-09-30T10:00Z"})
        .json()["plan"]["hour"]
        .startswith("2019-09-30T10:00")
    )
