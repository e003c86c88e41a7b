"""The crew view's logic without the stack: ranking, baselines, colour scale, SVG, HTML escaping, lazy app."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from include.crew_view import page, svg
from include.crew_view.data import (
    CrewView,
    Forecast,
    MetricRow,
    Performance,
    PerformanceRow,
    ServingModel,
    Station,
    StationForecast,
    finite,
)
from include.crew_view.lazy import LazyASGIApp

HOUR = datetime(2019, 9, 30, 4, tzinfo=UTC)


def station(sid: str, net: float, mean: float | None = None, volume: float = 1.0, seeded: bool = True):
    seed = Station(sid, f"name {sid}", 40.72 + int(sid) * 0.001, -74.04, 20) if seeded else None
    return StationForecast(sid, net, volume / 2, volume / 2, mean, seed)


def view(**kw) -> CrewView:
    defaults = dict(
        serving=None, forecast=None, performance=Performance(note="no live performance yet"), env="dev",
        profile="local", rendered_at=HOUR,
    )  # fmt: skip
    return CrewView(**{**defaults, **kw})


def test_rank_by_absolute_net_change_then_mean_then_volume():
    rows = [
        station("1", 0.0, 0.3),
        station("2", -3.0, -2.0),
        station("3", 1.0, 0.5, volume=2),
        station("4", -1.0, -0.5, volume=5),
        station("5", 1.0, None),
    ]
    ranked = Forecast.ranked("v", HOUR, None, "p", rows).stations
    assert [s.station_id for s in ranked] == ["2", "4", "3", "5", "1"]


def test_unplaced_counts_stations_without_coordinates():
    fc = Forecast.ranked("v", HOUR, None, "p", [station("1", 1.0), station("2", 2.0, seeded=False)])
    assert fc.unplaced == 1
    assert fc.stations[0].name == "(not in the stations seed)"


def test_finite_drops_nan_and_none():
    assert finite(float("nan")) is None
    assert finite(None) is None
    assert finite(1) == 1.0


def test_serving_model_best_baseline_is_lowest_mae():
    m = ServingModel(
        "v", None, None, True, None,
        (MetricRow("model", 0.9, 1.2, 0.4), MetricRow("zero", 1.2, 1.5, None), MetricRow("b", 1.0, 1.6, 0.3)),
        False,
    )  # fmt: skip
    assert m.best_baseline.predictor == "b"
    assert m.model_metrics.mae == 0.9


def perf_row(hours: int, window: str, predictor: str, mae: float) -> PerformanceRow:
    return PerformanceRow(HOUR - timedelta(hours=hours), window, predictor, 100, mae, mae * 1.3, 0.3)


def test_performance_latest_7d_and_best_baseline():
    perf = Performance(
        rows=(
            perf_row(2, "7d", "model", 0.8),
            perf_row(1, "7d", "model", 0.9),
            perf_row(1, "7d", "zero", 1.3),
            perf_row(1, "7d", "same_hour_last_week", 1.1),
            perf_row(5, "7d", "mean_last_4_same_weekday_hours", 1.0),  # older, still its newest row
            perf_row(1, "24h", "model", 0.7),
        )
    )
    latest = perf.latest_7d
    assert [r.predictor for r in latest] == ["model", "mean_last_4_same_weekday_hours", "same_hour_last_week", "zero"]
    assert latest[0].mae == 0.9
    assert perf.best_baseline == "mean_last_4_same_weekday_hours"
    assert perf.series("model") == [(HOUR - timedelta(hours=1), 0.7)]


def test_best_baseline_falls_back_to_mean_24h_mae():
    rows = (perf_row(1, "24h", "zero", 1.5), perf_row(2, "24h", "b", 1.0), perf_row(1, "24h", "b", 1.2))
    perf = Performance(rows=rows)
    assert perf.best_baseline == "b"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.0, "#f7f7f7"), (-4.0, "#b2182b"), (4.0, "#2166ac"), (-40.0, "#b2182b"), (10.0, "#2166ac")],
)
def test_colour_scale_is_diverging_and_saturates(value, expected):
    assert svg.colour(value, 4.0) == expected


def test_colour_scale_limit_is_at_least_one_bike():
    assert svg.scale_limit([0.0, 0.2]) == 1.0
    assert svg.scale_limit([-3.0, 2.0]) == 3.0


def test_map_has_one_circle_per_placed_station_and_numbers_the_top():
    rows = [station(str(i), float(i % 5 - 2)) for i in range(1, 15)] + [station("99", 5.0, seeded=False)]
    fc = Forecast.ranked("v", HOUR, None, "p", rows)
    out = svg.station_map(fc.stations, top=10)
    assert out.count("<circle") == 14
    assert 'data-station-id="99"' not in out
    assert len(re.findall(r'font-weight="bold"[^>]*>\d+</text>', out)) == 9  # "99" ranks first, has no place


def test_map_has_a_scale_bar_and_a_legend_of_the_largest_change():
    rows = [station("1", -2.0, -2.94), station("30", 1.0, 0.5)]  # 0.029 deg of latitude apart: 3.2 km
    out = svg.station_map(Forecast.ranked("v", HOUR, None, "p", rows).stations)
    assert re.search(r'class="scale-bar".*>500 m</text>', out)  # 400 px for 3.2 km: 62 px
    assert "&minus;2.9</text>" in out
    assert "+2.9</text>" in out


def test_page_escapes_names_and_has_no_external_reference():
    evil = StationForecast("<x>", -2.0, 2, 0, -1.5, Station("<x>", "<script>alert(1)</script> & co", 40.7, -74.0, 9))
    fc = Forecast.ranked("v<1>", HOUR, HOUR, "p", [evil, station("2", 1.0)])
    html = page.render(view(forecast=fc))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in html
    assert "v&lt;1&gt;" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "no resource from another origin"
    assert "Mon 30 Sep 2019, 12:00\u20131:00 am New York (2019-09-30 04:00\u201305:00 UTC)" in html  # local first


def test_page_without_anything_says_so():
    html = page.render(view(problems={"forecast": "NotFound: bucket"}))
    assert "no predictions on the bucket yet" in html
    assert "no promoted model yet" in html
    assert "no live performance yet" in html
    assert "could not read forecast: NotFound: bucket" in html


def test_lazy_app_builds_once_on_first_call():
    calls = []

    async def inner(scope, receive, send):
        calls.append(scope["path"])

    built = []
    lazy = LazyASGIApp(lambda: built.append(1) or inner)
    assert not lazy.built
    asyncio.run(lazy({"path": "/a"}, None, None))
    asyncio.run(lazy({"path": "/b"}, None, None))
    assert built == [1]
    assert calls == ["/a", "/b"]
