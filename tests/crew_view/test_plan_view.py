"""The plan as crews read it, without the stack: routes and stops, warnings, the risk colours, the hour picker,
local time first, plain words and never a ``nan``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from include.crew_view import clock, page, svg
from include.crew_view.data import (
    CrewView,
    Move,
    Performance,
    Plan,
    StationState,
    risk_band,
    stops,
)
from tests.crew_view import fixtures

HOUR = fixtures.PLAN_HOUR  # Mon 30 Sep 2019, 7:00 am in Jersey City


def plan_of(hour: datetime = HOUR, risk: list[dict] | None = None, moves: list[dict] | None = None) -> Plan:
    """The fixture's rows as the reader builds them (same shapes, no emulator)."""
    fields = StationState.__dataclass_fields__
    risk = fixtures.risk_rows(hour) if risk is None else risk
    moves = fixtures.plan_rows(hour) if moves is None else moves
    return Plan.of(
        hour,
        [StationState(**{k: v for k, v in r.items() if k in fields}) for r in risk],
        [Move(m["truck"], m["move_order"], m["from_station"], m["to_station"], m["bikes"]) for m in moves],
        generated_at=hour + timedelta(minutes=4),
        model_version=fixtures.PLAN_VERSION,
        service_level=0.10,
    )


def view(plan: Plan | None = None, hours: tuple[datetime, ...] = (), **kw) -> CrewView:
    defaults = dict(
        serving=None, forecast=None, performance=Performance(note="no live performance yet"), env="dev",
        profile="local", rendered_at=HOUR + timedelta(minutes=7), plan=plan, hours=hours,
    )  # fmt: skip
    return CrewView(**{**defaults, **kw})


def text_of(html: str) -> str:
    """What a reader sees: the tags and the style sheet removed, entities decoded."""
    body = re.sub(r"<style>.*?</style>", "", html, flags=re.S)
    words = " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())
    return re.sub(r" ([:,;.)])", r"\1", words)


def section(html: str, ident: str) -> str:
    start = html.index(f'id="{ident}"')
    return html[start : html.index("</section>", start)]


# --- routes ------------------------------------------------------------------------------------------------


def test_stops_follow_the_moves_and_merge_where_one_ends_and_the_next_starts():
    moves = [Move(1, 2, "B", "C", 2), Move(1, 1, "A", "B", 8)]  # out of order on purpose
    got = stops(moves)
    assert [(s.station_id, s.load, s.unload, s.net) for s in got] == [("A", 8, 0, -8), ("B", 2, 8, 6), ("C", 0, 2, 2)]
    assert got[1].destinations == ("C",)


def test_stops_at_the_same_station_apart_are_not_merged():
    got = stops([Move(1, 1, "A", "B", 3), Move(1, 2, "A", "C", 4)])
    assert [s.station_id for s in got] == ["A", "B", "A", "C"]


def test_routes_by_truck_in_move_order():
    plan = Plan.of(HOUR, [], [Move(2, 1, "X", "Y", 1), Move(1, 2, "B", "C", 2), Move(1, 1, "A", "B", 8)])
    assert [(r.truck, [m.move_order for m in r.moves], r.bikes) for r in plan.routes] == [(1, [1, 2], 10), (2, [1], 1)]
    assert plan.planned == {"A", "B", "C", "X", "Y"}


def test_each_truck_shows_its_stops_with_bikes_and_why_in_plain_words():
    html = page.render(view(plan_of()))
    routes = section(html, "routes")
    trucks = re.findall(r'<article class="truck" data-truck="(\d+)"', routes)
    assert trucks == ["1", "2"]
    truck1 = text_of(routes[: routes.index('data-truck="2"')])
    assert re.findall(r'data-station-id="(\d+)"', routes[: routes.index('data-truck="2"')]) == ["3186", "3203", "3269"]
    assert "Grove St PATH: Load 8 bikes for Hamilton Park" in truck1
    assert "Hamilton Park: Unload 6 bikes, keep 2 on board for Brunswick & 6th <b>" in truck1
    assert "Unload 2 bikes" in truck1
    assert (
        "36 bikes / 41 docks \u2192 28 · may fill up (no free dock) within the hour (41 %) · keep 12\u201330" in truck1
    )
    assert "may run out of bikes within the hour (62 %)" in truck1
    assert "Brunswick &amp; 6th &lt;b&gt;" in routes  # escaped
    assert '<a class="st" href="#station-3186">Grove St PATH</a>' in routes  # to its row: the numbers, on a phone
    assert 'id="station-3186"' in section(html, "stations")


def test_a_stop_that_loads_more_than_it_unloads_and_an_hour_without_moves():
    plan = Plan.of(HOUR, [StationState("A", "Alpha")], [Move(1, 1, "A", "B", 2), Move(1, 2, "B", "C", 5)])
    kind, words = page.stop_words(plan.routes[0].stops[1], plan)
    assert (kind, text_of(words)) == ("load", "Load 3 more bikes (5 on board for station C)")
    html = page.render(view(plan_of(moves=[])))
    assert "No moves this hour: no station needs a truck." in html


@pytest.mark.parametrize(
    ("risks", "words"),
    [
        ((0.35, 0.6, 0.0, 0.0), "may run out of bikes within the hour (35 %)"),
        ((0.05, 0.22, 0.0, 0.0), "may run out of bikes within 3 hours (22 %)"),
        ((0.0, 0.0, 0.999, 1.0), "may fill up (no free dock) within the hour (> 99 %)"),
        ((0.01, 0.04, 0.0, 0.02), "fine for 3 hours (both risks below 10 %)"),
    ],
)
def test_risk_in_plain_words(risks, words):
    s = StationState(
        "1",
        "One",
        capacity=20,
        bikes=5,
        **dict(zip(("p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h"), risks, strict=True)),
    )
    assert unescape(page.risk_words(s, 0.10)) == words


# --- warnings ----------------------------------------------------------------------------------------------


def test_data_quality_warnings_name_every_case():
    plan = plan_of()
    warned = {w.station_id: w.issues for w in plan.warnings}
    assert set(warned) == set(fixtures.WARNED)
    assert warned["3481"] == ("capacity 0 docks", "not judged")  # the producer's "no capacity known": said once
    assert warned["3211"] == ("no coordinates (not on the map)",)  # judged, but off the map and out of the plan
    assert warned["3184"] == ("last status 3 h 10 min old",)
    assert warned["3185"] == ("no status: bikes on the dock unknown", "not judged")
    assert warned["3638"][0].startswith("no bike count keeps it safe for 3 hours")


def test_warnings_for_unknown_capacity_a_station_missing_from_the_risks_and_the_plan_first():
    judged = dict(p_empty_1h=0.01, p_empty_3h=0.02, p_full_1h=0.0, p_full_3h=0.01)
    stations = [
        StationState("1", "Zeta", 40.7, -74.0, None, 3, HOUR, problem="no capacity known"),
        StationState("2", "Alpha", 40.7, -74.0, 20, 3, HOUR, problem="no forecast"),
        StationState("3", "Beta", 40.7, -74.0, 20, 30, HOUR, problem="status says 30 bikes for 20 docks"),
        StationState("4", "Gamma", 40.7, -74.0, 20, 3, HOUR, problem="not renting or not returning", **judged),
        StationState("5", "Delta", 40.7, -74.0, 20, 3, HOUR - timedelta(minutes=45), **judged),
        StationState("6", "Eta", 40.7, -74.0, 20, 3, HOUR - timedelta(minutes=20), **judged),
    ]
    plan = Plan.of(HOUR, stations, [Move(1, 1, "1", "9", 2)])
    warned = [(w.station_id, w.in_plan, w.issues) for w in plan.warnings]
    assert warned == [
        ("9", True, ("in a move but not in station_risk: nothing known about it",)),
        ("1", True, ("capacity unknown", "not judged")),
        ("2", False, ("no forecast", "not judged")),
        ("3", False, ("status says 30 bikes for 20 docks", "not judged")),
        ("5", False, ("last status 45 min old",)),  # older than the plan's 30 minutes
        ("4", False, ("not renting or not returning",)),
    ]
    lenient = Plan.of(HOUR, stations, [], stale_after=timedelta(hours=1))
    assert "5" not in {w.station_id for w in lenient.warnings}


def test_the_page_lists_the_warnings_and_links_them_from_the_top():
    html = page.render(view(plan_of()))
    assert '<a href="#warnings">5 stations to check</a>' in html
    warnings = text_of(section(html, "warnings"))
    for name in ("York St", "Newark Ave", "Paulus Hook", "City Hall", "Washington St"):
        assert name in warnings
    assert "last status 3 h 10 min old" in warnings
    assert "Not on the map (no coordinates): Newark Ave" in text_of(section(html, "map"))


# --- the map -----------------------------------------------------------------------------------------------


def test_risk_bands_are_fixed_so_one_outlier_cannot_wash_out_the_others():
    assert [risk_band(p) for p in (None, 0.0, 0.099, 0.10, 0.3, 0.5, 1.0)] == [None, 0, 0, 1, 2, 3, 3]
    calm = StationState("1", p_empty_1h=0.1, p_empty_3h=0.3, p_full_1h=0.0, p_full_3h=0.0)
    outlier = StationState("2", p_empty_1h=1.0, p_empty_3h=1.0, p_full_1h=0.0, p_full_3h=0.0)
    full = StationState("3", p_empty_1h=0.0, p_empty_3h=0.01, p_full_1h=0.3, p_full_3h=0.6)
    alone = svg.plan_map(Plan.of(HOUR, [StationState("1", lat=40.7, lon=-74.0, **_risks(calm))], []))
    with_outlier = svg.plan_map(
        Plan.of(
            HOUR,
            [
                StationState("1", lat=40.7, lon=-74.0, **_risks(calm)),
                StationState("2", lat=40.71, lon=-74.01, **_risks(outlier)),
            ],
            [],
        )
    )
    mid_red = svg.EMPTY_BANDS[1]
    assert svg.risk_colour(calm) == mid_red
    assert 'data-station-id="1" data-band="2" cx="' in alone
    assert re.search(rf'data-station-id="1"[^>]*fill="{mid_red}"', alone)
    assert re.search(rf'data-station-id="1"[^>]*fill="{mid_red}"', with_outlier)  # unchanged by the outlier
    assert svg.risk_colour(outlier) == svg.EMPTY_BANDS[2]
    assert svg.risk_colour(full) == svg.FULL_BANDS[2]
    assert svg.risk_colour(StationState("4", problem="no status reported")) == svg.NOT_JUDGED
    assert (
        svg.risk_colour(StationState("5", p_empty_3h=0.02, p_full_3h=0.05, p_empty_1h=0.0, p_full_1h=0.0))
        == svg.RISK_OK
    )


def _risks(s: StationState) -> dict:
    return {k: getattr(s, k) for k in ("p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h")}


def test_the_map_draws_placed_stations_and_one_arrow_per_move_in_the_truck_colour():
    plan = plan_of()
    out = svg.plan_map(plan)
    placed = [s for s in plan.stations if s.has_position]
    assert out.count('<circle class="station"') == len(placed) == len(fixtures.RISK) - 1
    arrows = re.findall(r'<g class="move" data-truck="(\d)" data-from="(\d+)" data-to="(\d+)">', out)
    assert arrows == [("1", "3186", "3203"), ("1", "3203", "3269"), ("2", "3639", "3195")]
    assert out.count('marker-end="url(#head-1)"') == 2
    assert f'stroke="{svg.truck_colour(2)}"' in out
    assert re.search(r">8</text><title>truck 1, move 1: 8 bikes from Grove St PATH to Hamilton Park</title>", out)
    assert re.search(r'data-station-id="3638"[^>]*stroke="#000" stroke-width="2.5"', out)  # cannot be made safe
    pills = re.findall(r'<g class="stop-no" data-station-id="(\d+)" data-truck="(\d)">.*?>([\d,]+)</text></g>', out)
    assert sorted(pills) == sorted(  # the route list's numbers, on the truck's colour
        [("3186", "1", "1"), ("3203", "1", "2"), ("3269", "1", "3"), ("3639", "2", "1"), ("3195", "2", "2")]
    )
    assert 'viewBox="0 0 520 460"' in out
    assert "width=" not in out.split(">")[0]  # no fixed size: it scales to its box


def test_a_station_a_truck_stops_at_twice_has_both_numbers():
    stations = [StationState(sid, sid, 40.7 + i * 0.01, -74.0) for i, sid in enumerate("ABC")]
    out = svg.plan_map(Plan.of(HOUR, stations, [Move(1, 1, "A", "B", 3), Move(1, 2, "A", "C", 4)]))
    assert re.search(r'<g class="stop-no" data-station-id="A" data-truck="1">.*?>1,3</text></g>', out)


def test_a_move_to_a_station_without_coordinates_has_no_arrow():
    stations = [StationState("1", "One", 40.7, -74.0), StationState("2", "Two", None, None)]
    out = svg.plan_map(Plan.of(HOUR, stations, [Move(1, 1, "1", "2", 3)]))
    assert 'class="move"' not in out


# --- the hour, local time first, the picker ----------------------------------------------------------------


def test_local_clock_words():
    assert clock.clock(HOUR) == "7:00 am"
    assert clock.clock(datetime(2019, 9, 30, 16, 30, tzinfo=UTC)) == "12:30 pm"
    assert clock.clock(datetime(2019, 12, 2, 12, tzinfo=UTC)) == "7:00 am"  # EST in winter
    assert clock.hour_span(HOUR) == "7:00\u20138:00 am"
    assert clock.hour_span(datetime(2019, 9, 30, 15, tzinfo=UTC)) == "11:00 am\u201312:00 pm"
    assert clock.day(HOUR) == "Mon 30 Sep 2019"
    assert clock.age(timedelta(hours=3, minutes=10)) == "3 h 10 min"
    assert clock.hour_param(HOUR) == "2019-09-30T11:00Z"
    assert clock.parse_hour("2019-09-30T11:00Z") == HOUR
    for bad in ("2019-09-30T11:30Z", "2019-09-30 11:00", "../x", "2019-09-30T11:00+02:00"):
        with pytest.raises(ValueError, match="not an hour"):
            clock.parse_hour(bad)


def test_the_time_zone_is_one_setting_keyed_by_system():
    assert clock.place() == "New York"
    assert str(clock.zone()) == "America/New_York"


def test_local_time_comes_first_and_utc_after_it():
    html = page.render(view(plan_of(), hours=(HOUR, fixtures.EARLIER_HOUR)))
    head = text_of(html[html.index("<header>") : html.index("</header>")])
    assert head.index("Mon 30 Sep 2019, 7:00\u20138:00 am") < head.index("11:00 UTC")
    assert "plan made 7:04 am" in head
    crew = text_of(html[: html.index('<details id="engineers"')])
    assert crew.index("7:00") < crew.index("UTC")
    assert crew.count("UTC") == 1  # the one UTC time for the crews is after the local one
    assert "page rendered Mon 30 Sep 2019, 7:07 am (11:07 UTC)" in text_of(html)


def test_the_hour_picker_offers_every_served_hour_newest_first():
    hours = (HOUR + timedelta(hours=1), HOUR, fixtures.EARLIER_HOUR)
    html = page.render(view(plan_of(), hours=hours))
    form = html[html.index('<form class="picker"') : html.index("</form>")]
    assert 'method="get"' in form
    assert "action=" not in form  # submits to this page, wherever the view is mounted
    hour_select = form[form.index('<select id="hour"') :]
    options = re.findall(r'<option value="([^"]+)"( selected)?>([^<]+)</option>', hour_select)
    assert [(v, bool(sel)) for v, sel, _ in options] == [
        ("2019-09-30T12:00Z", False),
        ("2019-09-30T11:00Z", True),
        ("2019-09-30T10:00Z", False),
    ]
    assert options[1][2] == "Mon 30 Sep 2019, 7:00 am"
    assert '<a rel="prev" href="?hour=2019-09-30T10:00Z&amp;system=citibike-jc">&larr; 6:00 am</a>' in form
    assert '<a rel="next" href="?hour=2019-09-30T12:00Z&amp;system=citibike-jc">8:00 am &rarr;</a>' in form


def test_the_system_picker_offers_every_system_and_the_page_reads_the_chosen_ones_clock(systems_table):
    from dataclasses import replace

    systems_table("citibike-jc", "phx")
    shown = replace(
        view(plan_of(), hours=(HOUR,)), system_id="phx", systems=(("citibike-jc", "Jersey City"), ("phx", "Phoenix"))
    )
    html = page.render(shown)
    form = html[html.index('<form class="picker"') : html.index("</form>")]
    systems = re.findall(r'<option value="([^"]+)"( selected)?>([^<]+)</option>', form[: form.index('id="hour"')])
    assert [(v, bool(sel), name) for v, sel, name in systems] == [
        ("citibike-jc", False, "Jersey City"),
        ("phx", True, "Phoenix"),
    ]
    head = text_of(html[html.index("<header>") : html.index("</header>")])
    assert "Mon 30 Sep 2019, 4:00\u20135:00 am" in head  # 11:00 UTC on Phoenix's clock
    assert "Phoenix time" in head


def test_no_plan_yet_and_a_note_about_the_hour_asked_for():
    html = page.render(view(None, notes=("No plan for Mon 30 Sep 2019, 9:00 am (13:00 UTC): showing the newest.",)))
    assert "No plan has been made yet" in html
    assert "No plan for Mon 30 Sep 2019, 9:00 am" in html
    assert 'class="picker"' not in html  # no served hour to pick


# --- words for crews, detail for engineers -----------------------------------------------------------------


def test_engineers_words_only_inside_the_details():
    from include.crew_view.data import MetricRow, ServingModel

    serving = ServingModel(
        "20190930T0400Z",
        None,
        None,
        True,
        "model MAE 0.95 beats every baseline",
        (MetricRow("model", 0.9, 1.2, 0.4),),
        False,
    )
    html = page.render(view(plan_of(), hours=(HOUR,), serving=serving))
    details = html.index('<details id="engineers">')
    crew, engineers = text_of(html[:details]), text_of(html[details:])
    for word in ("gate", "precision@10", "MAE", "p_empty", "station_risk", "top 10"):
        assert word not in crew
    assert "precision@10" in engineers
    assert "station_risk" in engineers
    assert "model MAE 0.95 beats every baseline" in engineers
    assert '<details id="engineers"><summary>' in html  # closed: one click away


def test_no_nan_anywhere_even_from_nan_inputs():
    nan = float("nan")
    stations = [
        StationState("1", "Alpha", nan, nan, 20, 5, HOUR, nan, nan, nan, nan, nan, nan, 4, 9, True, 6),
        StationState("2", "Beta", 40.7, -74.0, 0, None, None, problem="no capacity known"),
        StationState("3", None, 40.71, -74.01, 20, 10, HOUR, 1.0, 1.0, 0.5, nan, 0.0, nan, 5, 12, True, 10),
    ]
    plan = Plan.of(HOUR, stations, [Move(1, 1, "3", "1", 2)], service_level=None)
    html = page.render(view(plan, hours=(HOUR,)))
    assert not re.search(r"\bnan\b", text_of(html), re.I)
    assert (stations[0].lat, stations[0].p_empty_1h) == (None, None)
    assert page.pct(nan) == "&ndash;"


def test_the_stations_table_has_a_fill_bar_and_highest_risk_first():
    html = page.render(view(plan_of()))
    table = section(html, "stations")
    order = re.findall(r'<tr id="station-\d+" data-station-id="(\d+)"', table)
    assert order[:2] == ["3203", "3186"]  # 85 % empty, then 63 % full
    assert order[-2:] == ["3185", "3481"]  # not judged: last, by name (City Hall, York St)
    bar = table[table.index('data-station-id="3203"') :]
    bar = bar[: bar.index("</tr>")]
    assert '<span class="level" style="width:7.7%"></span>' in bar  # 2 of 26
    assert '<span class="band" style="left:30.8%;width:46.2%"></span>' in bar  # keep 8-20
    assert '<span class="after" style="left:30.8%"></span>' in bar  # 8 after the moves
    assert "2 / 26" in bar
    assert '<span class="p e3">62 %</span> <span class="p e3">85 %</span>' in bar


def test_another_system_is_shown_on_its_own_clock(systems_table):
    systems_table("phx")
    assert clock.place("phx") == "Phoenix"
    assert clock.hour_span(HOUR, "phx") == "4:00\u20135:00 am"  # 11:00 UTC is 4 am in Phoenix (UTC-7, no DST)
