"""The crew view in a real headless browser: Debian's Chromium, through a real ``airflow api-server``.

Checks what a person would see: on a desktop, each truck's stops and the map with the moves in the first
screen, the warnings, the station table, the hour picker taking the crew to another hour (a GET form the
page's CSP allows) and back by a link, the engineers' detail one click away; on a 390-px phone, the routes
and the map in the first screen and nothing wider than the screen, the engineers' detail open too; inside
the Airflow UI's iframe as well; and that the screenshots are real pictures. Without chromium the test fails
under CI (CI=true) and skips elsewhere, naming the package to install.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from include.crew_view import clock, svg
from include.gcp.settings import Settings
from tests.browser import harness
from tests.crew_view import fixtures

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PLACED = len(fixtures.RISK) - 1  # 3211 has no coordinates


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


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def keep(page, name: str) -> None:
    if keep_dir := os.environ.get("CREW_VIEW_SCREENSHOT_DIR"):  # to look at the fixture's pictures
        Path(keep_dir).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(keep_dir) / f"crew-view-test-data-{name}.png"))


def test_plan_on_a_desktop(chromium, server, tmp_path):
    with harness.browser_context(chromium) as context:
        page = harness.open_view(context, server)
        when = page.locator("#plan-hour")
        assert when.get_attribute("data-hour") == clock.hour_param(fixtures.PLAN_HOUR)  # the newest served hour
        assert when.inner_text() == "Mon 30 Sep 2019, 7:00\u20138:00 am"
        trucks = page.locator("#routes article.truck")
        assert trucks.count() == 2
        first = trucks.first.locator("li.stop")
        assert [first.nth(i).get_attribute("data-station-id") for i in range(first.count())] == ["3186", "3203", "3269"]
        assert first.first.inner_text().startswith("Grove St PATH: Load 8 bikes for Hamilton Park\n")
        assert "may fill up (no free dock) within the hour (41 %)" in first.first.inner_text()  # why, on a desktop
        assert page.locator("svg.plan-map circle.station").count() == PLACED
        assert page.locator("svg.plan-map g.move").count() == len(fixtures.MOVES)
        assert page.locator("#warnings li").count() == len(fixtures.WARNED)
        assert page.locator("#stations-table tbody tr").count() == len(fixtures.RISK)
        assert "Brunswick & 6th <b>" in page.locator("#routes").inner_text()  # escaped, shown as text
        screen = harness.first_screen(page)
        assert screen["routes"]["bottom"] <= screen["height"], "every truck's stops in the first screen"
        assert screen["map"]["bottom"] <= screen["height"], "the whole map in the first screen"
        assert screen["scrollWidth"] <= screen["width"]
        assert not page.locator("#ranking").is_visible()  # the engineers' detail is folded
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(page, "desktop")
        plan, model = harness.screenshot_sections(page, tmp_path)  # unfolds the engineers' detail
        assert page.locator("#ranking tbody tr").first.get_attribute("data-station-id") == fixtures.RANKED[0]
        assert page.locator("img.eval").evaluate("img => img.complete && img.naturalWidth") == 64
        assert page.locator("svg.chart polyline.series").count() == 2

    assert shot.stat().st_size > 50_000
    with Image.open(shot) as img:
        assert img.size[0] == harness.VIEWPORT["width"]
    seen = colours(plan)
    assert len(seen) > 200  # text, cards, map: a real picture, not a blank or error page
    assert any(near(c, rgb(svg.EMPTY_BANDS[2])) for c in seen), "Hamilton Park: 85 % to run empty, dark red"
    assert any(near(c, rgb(svg.FULL_BANDS[2])) for c in seen), "Grove St PATH: 63 % to fill up, dark blue"
    assert any(near(c, rgb(svg.truck_colour(1))) for c in seen), "truck 1's arrows"
    assert any(near(c, (40, 120, 200), tol=2) for c in colours(model)), "the evaluation PNG is shown"


def test_hour_picker_form_and_links(chromium, server):
    with harness.browser_context(chromium) as context:
        page = harness.open_view(context, server)
        options = page.locator("#hour option")
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [
            clock.hour_param(fixtures.PLAN_HOUR),
            clock.hour_param(fixtures.EARLIER_HOUR),
        ]
        page.select_option("#hour", clock.hour_param(fixtures.EARLIER_HOUR))
        with page.expect_navigation():
            page.get_by_role("button", name="Show").click()  # the GET form: CSP form-action 'self'
        assert "?system=citibike-jc&hour=2019-09-30T10%3A00Z" in page.url  # the system picker is in the form
        assert page.locator("#plan-hour").inner_text() == "Mon 30 Sep 2019, 6:00\u20137:00 am"
        assert page.locator("svg.plan-map g.move").count() == len(fixtures.EARLIER_MOVES)
        with page.expect_navigation():
            page.locator("a[rel=next]").click()
        assert page.locator("#plan-hour").get_attribute("data-hour") == clock.hour_param(fixtures.PLAN_HOUR)


def test_plan_on_a_phone(chromium, server, tmp_path):
    with harness.browser_context(chromium, phone=True) as context:
        page = harness.open_view(context, server)
        screen = harness.first_screen(page)
        assert screen["width"] == harness.PHONE["width"]
        assert screen["scrollWidth"] <= harness.PHONE["width"], "nothing cut or scrolled sideways"
        assert screen["routes"]["top"] < screen["routes"]["bottom"] <= screen["height"], "the routes, whole"
        assert screen["map"]["top"] + 150 <= screen["height"], "the map starts in the first screen"
        assert screen["routes"]["bottom"] <= screen["map"]["top"], "routes first, then the map"
        table = page.locator("#stations-table").bounding_box()
        assert table["x"] + table["width"] <= harness.PHONE["width"]
        shot = tmp_path / "phone.png"
        page.screenshot(path=str(shot))
        keep(page, "phone")
        assert not page.locator("#routes .why").first.is_visible()  # on a phone the reasons are a tap away:
        page.locator("#routes a.st").first.tap()
        page.wait_for_url("**#station-3186")
        row = page.locator("#station-3186")
        assert row.is_visible()
        assert "41 %" in row.inner_text()  # Grove St PATH: may fill up within the hour
        harness.open_engineers(page)
        assert page.locator("#ranking").is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= harness.PHONE["width"]
    with Image.open(shot) as img:
        assert img.size == (harness.PHONE["width"] * 2, harness.PHONE["height"] * 2)
    assert len(colours(shot)) > 200


def test_view_inside_the_airflow_ui(chromium, server, tmp_path):
    with harness.browser_context(chromium) as context:
        page, frame = harness.open_in_airflow(context, server)
        first = frame.locator("#routes li.stop").first
        assert first.get_attribute("data-station-id") == "3186"
        assert frame.locator("svg.plan-map circle.station").count() == PLACED
        page.screenshot(path=str(tmp_path / "in-airflow.png"))
        keep(page, "in-airflow")
    assert (tmp_path / "in-airflow.png").stat().st_size > 20_000
