"""The crew view read from the local stack (bucket + BigQuery emulators), and its FastAPI app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from include.crew_view import sources
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
    assert html.count('class="station"') == len(fixtures.SEED)
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
