"""The crew view in a real headless browser: Debian's Chromium, through a real ``airflow api-server``.

Checks what a person would see — the top station first, one map circle per station with coordinates,
the evaluation picture and the performance chart drawn — on the page alone and inside the Airflow UI's
iframe, and that the screenshots are real pictures. Without chromium the test fails under CI (CI=true)
and skips elsewhere, naming the package to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from include.crew_view import svg
from include.gcp.settings import Settings
from tests.browser import harness
from tests.crew_view import fixtures

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture(scope="module")
def chromium() -> str:
    return harness.require_chromium()


@pytest.fixture(scope="module")
def world(test_settings: Settings) -> Iterator[fixtures.World]:
    w = fixtures.build_world(test_settings, "crew_browser")
    yield w
    fixtures.drop(w.settings)


@pytest.fixture(scope="module")
def server(world, airflow_db, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("api-server") / "api-server.log"
    with harness.api_server(harness.settings_env(world.settings.dataset, world.settings.bucket), log) as base:
        yield base


def colours(path: Path) -> set[tuple[int, int, int]]:
    with Image.open(path) as img:
        return {rgb for _, rgb in img.convert("RGB").getcolors(maxcolors=1 << 20)}


def near(rgb: tuple[int, int, int], target: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, target, strict=True))


def test_view_in_headless_chromium(chromium, server, tmp_path):
    with harness.browser_context(chromium) as context:
        page = harness.open_view(context, server)
        first = page.locator("#ranking tbody tr").first
        assert first.get_attribute("data-station-id") == fixtures.RANKED[0]
        assert "Grove St PATH" in first.inner_text()
        assert page.locator("#ranking tbody tr").count() == len(fixtures.PREDICTIONS)
        assert page.locator("svg.map circle.station").count() == len(fixtures.SEED)  # 9999 has no place
        assert page.locator("img.eval").evaluate("img => img.complete && img.naturalWidth") == 64
        assert page.locator("svg.chart polyline.series").count() == 2
        assert "Brunswick & 6th <b>" in page.locator("#ranking").inner_text()  # escaped, shown as text
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        forecast, model = harness.screenshot_sections(page, tmp_path)
        if keep := os.environ.get("CREW_VIEW_SCREENSHOT_DIR"):  # to look at the fixture's pictures
            harness.screenshot_sections(page, Path(keep), prefix="crew-view-test-data")

    assert shot.stat().st_size > 50_000
    with Image.open(shot) as img:
        assert img.size[0] == harness.VIEWPORT["width"]
        assert img.size[1] > harness.VIEWPORT["height"] / 2
    seen = colours(forecast)
    assert len(seen) > 200  # text, table, map: a real picture, not a blank or error page
    assert any(near(c, svg.EMPTYING) for c in seen), "the most-emptying station: the scale's end, red"
    assert any(c[2] > c[0] + 100 for c in seen), "filling stations: blue"
    assert any(near(c, (40, 120, 200), tol=2) for c in colours(model)), "the evaluation PNG is shown"


def test_view_inside_the_airflow_ui(chromium, server, tmp_path):
    with harness.browser_context(chromium) as context:
        page, frame = harness.open_in_airflow(context, server)
        first = frame.locator("#ranking tbody tr").first
        assert first.get_attribute("data-station-id") == fixtures.RANKED[0]
        assert frame.locator("svg.map circle.station").count() == len(fixtures.SEED)
        page.screenshot(path=str(tmp_path / "in-airflow.png"))
        if keep := os.environ.get("CREW_VIEW_SCREENSHOT_DIR"):
            page.screenshot(path=str(Path(keep) / "crew-view-test-data-in-airflow.png"))
    assert (tmp_path / "in-airflow.png").stat().st_size > 20_000
