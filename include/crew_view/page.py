"""The crew view as one server-rendered HTML page (every value escaped; inline CSS and SVG only).

Written for a crew in a van and a dispatcher at 7 am: the plan hour in local time, each truck's stops with
the bikes to load or unload and why, the map with the moves as arrows, then every station's fill and risk
in plain words, and the data-quality warnings. The engineers' detail (the forecast, the serving model and
its live performance, UTC times) is one click away in a ``<details>``.

Mobile first: one column from 390 px up (routes, map, stations), two columns from 900 px; tables turn
into cards on a phone, so nothing is cut. No JavaScript and no external resource: the page renders
identically in the Airflow UI's iframe, a bare browser tab and a headless test browser, and the app's
Content-Security-Policy forbids everything else. The hour picker is a GET form and plain links, all
relative (``?hour=…``), so the page works under any Airflow base path.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from urllib.parse import quote

from include.crew_view import clock, svg
from include.crew_view.data import (
    MODEL,
    RISK_BANDS,
    WINDOW_24H,
    CrewView,
    Forecast,
    Performance,
    Plan,
    ServingModel,
    StationState,
    Stop,
    finite,
    risk_band,
)

DASH = "&ndash;"  # a missing value (HTML entity: the source stays ASCII)
TOP = 10  # the evaluation's precision@10: the stations a crew can visit in one hour

CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:10px 12px 24px;color:#1a1a1a;
background:#fff;font-size:15px;line-height:1.35;overflow-wrap:break-word}
h1{font-size:14px;margin:0;color:#555;font-weight:600}
h2{font-size:16px;margin:14px 0 6px;border-bottom:1px solid #ddd;padding-bottom:3px}
h3{font-size:15px;margin:0 0 2px}
.when{font-size:19px;font-weight:700;margin:2px 0 0} .sub{color:#555;font-size:13px}
.picker{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:5px 0 2px;font-size:14px}
.hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
.picker select,.picker button{font-size:14px;max-width:100%;padding:3px 6px} .picker a{white-space:nowrap}
.summary{font-size:14px;margin:4px 0 0}
.note{color:#8a4b00;background:#fff6e5;border:1px solid #f0d9a8;padding:6px 10px;font-size:13px;margin:6px 0}
.plan{display:grid;grid-template-columns:minmax(0,1fr);gap:0 20px;align-items:start}
@media (min-width:900px){.plan{grid-template-columns:minmax(340px,1fr) minmax(0,1.15fr)}}
.plan h2{margin-top:10px}
.truck{border:1px solid #ddd;border-left:6px solid var(--truck);border-radius:4px;padding:5px 8px 6px;margin:0 0 8px}
.swatch{display:inline-block;width:18px;height:4px;background:var(--truck);vertical-align:middle;margin-right:6px}
ol.stops{margin:3px 0 0;padding-left:22px} ol.stops li{margin:3px 0} ol.stops li::marker{color:var(--truck);
font-weight:700} .act{font-weight:700} a.st{color:inherit;font-weight:700;text-decoration:none} .phone{display:none}
tr:target{outline:3px solid #e08214}
.load .act{color:#8a2c0d} .unload .act{color:#0b4f8a} .why{font-size:12.5px;color:#444}
svg.map{width:100%;height:auto;max-width:640px;display:block} svg.chart{max-width:100%;height:auto}
.legend{font-size:12px;color:#333;display:flex;flex-wrap:wrap;gap:2px 10px;margin:4px 0;max-width:640px}
.chip{display:inline-block;width:11px;height:11px;border:1px solid #888;margin-right:3px;vertical-align:-1px}
.chip.unreachable{border:2.5px solid #000} .chip.nj{border-style:dashed}
ul.warn{margin:4px 0;padding-left:20px;font-size:14px} ul.warn li{margin:2px 0}
table{border-collapse:collapse;font-size:13px} th,td{padding:3px 8px;text-align:right;border-bottom:1px solid #eee}
th{background:#f5f5f5} td.l,th.l{text-align:left} tr.top td{font-weight:600}
table.stations td{vertical-align:top} table.stations td.bikes,table.stations td.inl{white-space:nowrap}
.fill{position:relative;display:inline-block;width:110px;height:10px;background:#eee;border:1px solid #bbb;
vertical-align:middle;margin-right:6px}
.fill .level{position:absolute;left:0;top:0;bottom:0;background:#777}
.fill .band{position:absolute;top:-1px;bottom:-1px;background:rgba(26,127,55,.3);border:1px solid #1a7f37}
.fill .after{position:absolute;top:-4px;bottom:-4px;width:2px;background:#e08214}
.p{display:inline-block;min-width:3.2em;padding:0 3px;border-radius:3px}
.p.e1{background:#fcbba1}.p.e2{background:#fb6a4a}.p.e3{background:#cb181d;color:#fff}
.p.f1{background:#c6dbef}.p.f2{background:#6baed6}.p.f3{background:#2171b5;color:#fff}
@media (max-width:699px){
.why,.for{display:none} .phone{display:block} a.st{text-decoration:underline dotted}
table.stations thead{display:none}
table.stations,table.stations tbody,table.stations tr,table.stations td{display:block}
table.stations tr{border:1px solid #ddd;border-radius:4px;margin:0 0 6px;padding:3px 8px}
table.stations td{border:none;text-align:left;padding:1px 0} table.stations td:empty{display:none}
table.stations td.inl{display:inline-block;margin-right:14px}
table.stations td.inl[data-label]::before{content:attr(data-label) " ";color:#555;font-size:12px}
table.stations td.check{color:#8a4b00}
}
details#engineers{margin-top:18px;border-top:2px solid #ddd;padding-top:6px}
details#engineers>summary{cursor:pointer;font-weight:600;color:#2166ac;padding:4px 0}
.scroll{max-height:520px;overflow:auto;border:1px solid #ddd;max-width:100%} .hscroll{overflow-x:auto;max-width:100%}
.scroll td,.hscroll td,.hscroll th{white-space:nowrap}
.cols{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start} .cols>div{min-width:0;max-width:100%}
.good{color:#1a7f37} .bad{color:#b2182b}
img.eval{max-width:100%;border:1px solid #ddd} .kv td{text-align:left;border:none;padding:1px 8px 1px 0}
.kv td:first-child{color:#555}
footer{margin-top:16px;color:#666;font-size:12px}
"""


def _num(value: float | None, digits: int = 2, sign: bool = False) -> str:
    value = finite(value)
    if value is None:
        return DASH
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _text(value: str | None) -> str:
    return escape(value) if value else DASH


def _utc(value: datetime | None) -> str:
    return clock.utc_day(value) if value else DASH


def _bikes(n: int) -> str:
    return f"{n} bike{'' if n == 1 else 's'}"


def pct(p: float | None) -> str:
    """``35 %``; ``< 1 %`` and ``> 99 %`` at the ends (a risk is never quite 0 or 1); a dash for none."""
    p = finite(p)
    if p is None:
        return DASH
    if p < 0.005:
        return "&lt; 1 %"
    if p > 0.995:
        return "&gt; 99 %"
    return f"{p * 100:.0f} %"


def _problems(view: CrewView, *sections: str) -> str:
    return "".join(
        f'<div class="note problem">could not read {escape(s)}: {escape(view.problems[s])}</div>'
        for s in sections
        if s in view.problems
    )


# --- plain words --------------------------------------------------------------------------------------------


def risk_words(s: StationState, level: float) -> str:
    """What the risks mean for a crew: ``may run out of bikes within the hour (35 %)``; the 1-hour risk when
    it passes ``level`` (the service level), else the 3-hour one; ``fine for 3 hours`` when neither does."""
    if not s.judged:
        return f"not judged: {escape(s.problem or 'no risk computed')}"
    said = []
    for short, long_, what in (
        (s.p_empty_1h, s.p_empty_3h, "may run out of bikes"),
        (s.p_full_1h, s.p_full_3h, "may fill up (no free dock)"),
    ):
        if short is not None and short >= level:
            said.append(f"{what} within the hour ({pct(short)})")
        elif long_ is not None and long_ >= level:
            said.append(f"{what} within 3 hours ({pct(long_)})")
    return "; ".join(said) if said else f"fine for 3 hours (both risks below {pct(level)})"


def _target(s: StationState) -> str:
    if s.target_low is None or s.target_high is None or s.target_low < 0:
        return DASH
    return f"{s.target_low}" if s.target_low == s.target_high else f"{s.target_low}&ndash;{s.target_high}"


def _count(s: StationState) -> str:
    bikes = "?" if s.bikes is None else str(s.bikes)
    docks = "?" if s.capacity is None else str(s.capacity)
    return f"{bikes} / {docks}"


def station_why(s: StationState | None, level: float) -> str:
    """One line under a stop: ``36 bikes / 41 docks -> 28 · may fill up ... (41 %) · keep 12-30``."""
    if s is None:
        return "not in this hour's station list: nothing known about it"
    bikes = "bikes unknown" if s.bikes is None else _bikes(s.bikes)
    docks = "docks unknown" if s.capacity is None else f"{s.capacity} docks"
    now = f"{bikes} / {docks}" + (f" &rarr; {s.bikes_after_plan}" if s.bikes_after_plan is not None else "")
    parts = [now, risk_words(s, level)]
    if _target(s) != DASH:
        parts.append(f"keep {_target(s)}")
    return " &middot; ".join(parts)


def stop_words(stop: Stop, plan: Plan) -> tuple[str, str]:
    """(css class, what to do) for a stop: ``load 6 bikes for Hamilton Park``, ``unload 6 bikes``, or the net
    of a stop where one move ends and the next starts."""
    to = ", ".join(dict.fromkeys(escape(plan.name(d)) for d in stop.destinations))
    if stop.unload == 0:  # "for X": always the next stop, so a phone leaves it out (CSS .for)
        return "load", f'<span class="act">Load {_bikes(stop.load)}</span><span class="for"> for {to}</span>'
    if stop.load == 0:
        return "unload", f'<span class="act">Unload {_bikes(stop.unload)}</span>'
    if stop.net > 0:
        return "unload", f'<span class="act">Unload {_bikes(stop.net)}</span>, keep {stop.load} on board for {to}'
    if stop.net < 0:
        more = f"{-stop.net} more bike{'' if stop.net == -1 else 's'}"
        return "load", f'<span class="act">Load {more}</span> ({stop.load} on board for {to})'
    return "pass", f'<span class="act">Keep the {_bikes(stop.load)} on board</span> for {to}'


# --- the crew's part ----------------------------------------------------------------------------------------


def _hour_option(hour: datetime, chosen: datetime | None, system: str) -> str:
    selected = " selected" if hour == chosen else ""
    label = f"{clock.day(hour, system)}, {clock.clock(hour, system)}"
    return f'<option value="{clock.hour_param(hour)}"{selected}>{label}</option>'


def _system_picker(view: CrewView) -> str:
    """The system's select (each system has its own plans and clock); the hour list is the chosen system's."""
    systems = view.systems or ((view.system_id, view.system_id),)
    options = "".join(
        f'<option value="{escape(sid)}"{" selected" if sid == view.system_id else ""}>{escape(name)}</option>'
        for sid, name in systems
    )
    return f'<label class="hidden" for="system">System</label><select id="system" name="system">{options}</select>'


def header(view: CrewView) -> str:
    """The plan hour (local first), the hour picker and a one-line summary with the warnings' count."""
    plan, system = view.plan, view.system_id
    there = f"&amp;system={escape(system)}"
    parts = ["<header><h1>Rebalancing crews</h1>"]
    if plan is not None:
        parts.append(
            f'<div class="when" id="plan-hour" data-hour="{clock.hour_param(plan.hour)}">'
            f"{clock.day(plan.hour, system)}, {clock.hour_span(plan.hour, system)}</div>"
            f'<div class="sub">{escape(clock.place(system))} time &middot; {clock.utc(plan.hour)}'
            + (f" &middot; plan made {clock.clock(plan.generated_at, system)}" if plan.generated_at else "")
            + "</div>"
        )
    if view.hours:
        chosen = plan.hour if plan else None
        options = "".join(_hour_option(h, chosen, system) for h in view.hours)
        steps = ""
        if chosen in view.hours:
            i = view.hours.index(chosen)  # newest first: i - 1 is later, i + 1 earlier
            if i + 1 < len(view.hours):
                earlier = view.hours[i + 1]
                steps += (
                    f'<a rel="prev" href="?hour={clock.hour_param(earlier)}{there}">'
                    f"&larr; {clock.clock(earlier, system)}</a>"
                )
            if i > 0:
                later = view.hours[i - 1]
                steps += (
                    f' <a rel="next" href="?hour={clock.hour_param(later)}{there}">'
                    f"{clock.clock(later, system)} &rarr;</a>"
                )
        parts.append(
            '<form class="picker" method="get">'
            + _system_picker(view)
            + '<label class="hidden" for="hour">Plan hour</label>'
            f'<select id="hour" name="hour">{options}</select><button type="submit">Show</button>{steps}</form>'
        )
    parts.extend(f'<div class="note">{escape(n)}</div>' for n in view.notes)
    parts.append(_problems(view, "plan"))
    if plan is not None:
        trucks = len(plan.routes)
        summary = (
            f"{trucks} truck{'' if trucks == 1 else 's'} &middot; {len(plan.moves)} move"
            f"{'' if len(plan.moves) == 1 else 's'} &middot; {_bikes(sum(r.bikes for r in plan.routes))} to move"
        )
        warned = len(plan.warnings)
        if warned:
            summary += f' &middot; <a href="#warnings">{warned} station{"" if warned == 1 else "s"} to check</a>'
        parts.append(f'<div class="summary">{summary}</div>')
    parts.append("</header>")
    return "".join(parts)


def routes_section(plan: Plan) -> str:
    level = plan.service_level or RISK_BANDS[0]
    head = '<section id="routes"><h2>Where each truck goes</h2>'
    if not plan.routes:
        return f'{head}<div class="note">No moves this hour: no station needs a truck.</div></section>'
    cards = []
    for route in plan.routes:
        items = []
        for stop in route.stops:
            kind, what = stop_words(stop, plan)
            state = plan.station(stop.station_id)
            chip = f'<span class="chip" style="background:{svg.risk_colour(state)}"></span>' if state else ""
            items.append(
                f'<li class="stop {kind}" data-station-id="{escape(stop.station_id)}">{chip}'
                f'<a class="st" href="#station-{quote(stop.station_id)}">{escape(plan.name(stop.station_id))}</a>: '
                f'{what}<div class="why">{station_why(state, level)}</div></li>'
            )
        n = len(route.stops)
        cards.append(
            f'<article class="truck" data-truck="{route.truck}" style="--truck:{svg.truck_colour(route.truck)}">'
            f'<h3><span class="swatch"></span>Truck {route.truck} '
            f'<span class="sub">{n} stop{"" if n == 1 else "s"} &middot; moves {_bikes(route.bikes)}</span></h3>'
            f'<ol class="stops">{"".join(items)}</ol></article>'
        )
    hint = '<div class="sub phone">Tap a station for its numbers and why it is in the plan.</div>'
    return f"{head}{''.join(cards)}{hint}</section>"


def legend(plan: Plan) -> str:
    """The map's legend in HTML (it wraps on a phone, unlike text inside the SVG)."""
    bands = svg.band_labels()
    items = [f'<span><span class="chip" style="background:{svg.RISK_OK}"></span>{bands[0]}</span>']
    for colours_, what in ((svg.EMPTY_BANDS, "run out of bikes"), (svg.FULL_BANDS, "fill up")):
        chips = "".join(f'<span class="chip" style="background:{c}"></span>' for c in colours_)
        items.append(f"<span>{chips}may {what}: {', '.join(bands[1:])}</span>")
    items.append(f'<span><span class="chip nj" style="background:{svg.NOT_JUDGED}"></span>not judged</span>')
    items.append('<span><span class="chip unreachable"></span>cannot be made safe</span>')
    items.extend(
        f'<span><span class="swatch" style="--truck:{svg.truck_colour(r.truck)}"></span>truck {r.truck}</span>'
        for r in plan.routes
    )
    return (
        '<div class="legend">'
        + "".join(items)
        + '</div><div class="sub">Colour: the larger risk within 3 hours, before the moves. '
        "Arrows: the moves, with the bikes each carries (italic). On the truck's colour: its stops, in order.</div>"
    )


def map_section(plan: Plan) -> str:
    unplaced = [s for s in plan.stations if not s.has_position]
    missing = ""
    if unplaced:
        names = ", ".join(escape(s.label) for s in unplaced[:5]) + (" &hellip;" if len(unplaced) > 5 else "")
        missing = f'<div class="sub">Not on the map (no coordinates): {names}</div>'
    return f'<section id="map"><h2>Map</h2>{svg.plan_map(plan)}{legend(plan)}{missing}</section>'


def warnings_section(plan: Plan) -> str:
    warnings = plan.warnings
    head = '<section id="warnings"><h2>Check before you go</h2>'
    if not warnings:
        return f'{head}<div class="sub">No data-quality warning for this hour.</div></section>'
    items = "".join(
        f'<li data-station-id="{escape(w.station_id)}"><b>{escape(w.name)}</b>'
        f"{' (a truck stops here)' if w.in_plan else ''}: {escape('; '.join(w.issues))}</li>"
        for w in warnings
    )
    return f'{head}<ul class="warn">{items}</ul></section>'


def _p_cell(one: float | None, three: float | None, side: str) -> str:
    cells = []
    for p in (one, three):
        band = risk_band(p)
        cls = f" {side}{band}" if band else ""
        cells.append(f'<span class="p{cls}">{pct(p)}</span>')
    return " ".join(cells)


def _fill_bar(s: StationState) -> str:
    if not s.capacity or s.capacity <= 0 or s.bikes is None:
        return ""

    def at(n: int) -> float:
        return max(0.0, min(100.0, 100.0 * n / s.capacity))  # type: ignore[operator]

    band = ""
    if s.target_low is not None and s.target_high is not None and s.target_low >= 0:
        low, high = at(s.target_low), at(s.target_high)
        band = f'<span class="band" style="left:{low:.1f}%;width:{high - low:.1f}%"></span>'
    after = (
        f'<span class="after" style="left:{at(s.bikes_after_plan):.1f}%"></span>'
        if s.bikes_after_plan is not None
        else ""
    )
    label = f"{s.bikes} of {s.capacity} docks hold a bike"
    return (
        f'<span class="fill" role="img" aria-label="{label}">'
        f'<span class="level" style="width:{at(s.bikes):.1f}%"></span>{band}{after}</span>'
    )


def stations_section(plan: Plan) -> str:
    rows = []
    planned = plan.planned
    for s in plan.ranked:
        issues = s.issues(plan.hour, plan.stale_after)
        name = f"<b>{escape(s.label)}</b>" if s.station_id in planned else escape(s.label)
        after = DASH if s.bikes_after_plan is None else str(s.bikes_after_plan)
        rows.append(
            f'<tr id="station-{escape(s.station_id)}" data-station-id="{escape(s.station_id)}">'
            f'<td class="l">{name} <span class="sub">{escape(s.station_id)}</span></td>'
            f'<td class="l bikes">{_fill_bar(s)}{_count(s)}</td>'
            f'<td class="inl" data-label="keep">{_target(s)}</td>'
            f'<td class="inl" data-label="after the moves">{after}</td>'
            f'<td class="inl" data-label="out of bikes">{_p_cell(s.p_empty_1h, s.p_empty_3h, "e")}</td>'
            f'<td class="inl" data-label="no free dock">{_p_cell(s.p_full_1h, s.p_full_3h, "f")}</td>'
            f'<td class="l check">{escape("; ".join(issues)) if issues else ""}</td></tr>'
        )
    table = (
        '<table class="stations" id="stations-table"><thead><tr><th class="l">station</th>'
        '<th class="l">bikes / docks</th><th>keep</th><th>after the moves</th>'
        "<th>may run out of bikes<br>within 1 h &middot; 3 h</th><th>may fill up (no free dock)<br>"
        'within 1 h &middot; 3 h</th><th class="l">check</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    sub = (
        '<div class="sub">Highest risk first; bold: a truck stops there. The bar: bikes now (grey) of the docks, '
        "the interval to keep (green) and the count after the moves (orange). Risks within 1 hour, then 3 hours."
        "</div>"
    )
    return f'<section id="stations"><h2>Every station</h2>{sub}{table}</section>'


def plan_facts(view: CrewView) -> str:
    """The engineers' view of the plan: UTC, model, service level, sources."""
    plan = view.plan
    if plan is None:
        return (
            '<section id="plan-facts"><h2>The plan</h2><div class="sub">No row in <code>station_risk</code> '
            "yet: the hourly rebalancing run has not written a plan.</div></section>"
        )
    hours = view.hours
    served = f"{len(hours)} (newest {_utc(hours[0])}, oldest {_utc(hours[-1])})" if hours else DASH
    level = f"{plan.service_level:.2f}" if plan.service_level is not None else DASH
    return (
        '<section id="plan-facts"><h2>The plan</h2><table class="kv">'
        f"<tr><td>plan hour</td><td>{_utc(plan.hour)}</td></tr>"
        f"<tr><td>generated at</td><td>{_utc(plan.generated_at)}</td></tr>"
        f"<tr><td>model version (rates)</td><td>{_text(plan.model_version)}</td></tr>"
        f"<tr><td>service level</td><td>{level} (largest accepted p_empty_3h and p_full_3h)</td></tr>"
        f"<tr><td>stations, moves</td><td>{len(plan.stations)}, {len(plan.moves)}</td></tr>"
        f"<tr><td>served plan hours</td><td>{served}</td></tr>"
        "<tr><td>sources</td><td>BigQuery <code>station_risk</code>, <code>rebalancing_plan</code></td></tr>"
        "</table></section>"
    )


# --- the engineers' part ------------------------------------------------------------------------------------


def _hour_span(hour: datetime, system: str) -> str:
    """``Mon 30 Sep 2019, 12:00-1:00 am New York (2019-09-30 04:00-05:00 UTC)``: local first, then UTC."""
    start = hour.astimezone(UTC)
    end = start + timedelta(hours=1)
    local = f"{clock.day(hour, system)}, {clock.hour_span(hour, system)} {clock.place(system)}"
    return f"{local} ({start:%Y-%m-%d %H:%M}\u2013{end:%H:%M} UTC)"


def forecast_section(view: CrewView) -> str:
    fc: Forecast | None = view.forecast
    head = '<section id="forecast"><h2>Forecast: stations ranked by predicted |net change|</h2>'
    problems = _problems(view, "forecast", "stations")
    if fc is None:
        return f'{head}{problems}<div class="note">no predictions on the bucket yet</div></section>'
    limit = svg.scale_limit([s.expected_net_change for s in fc.stations])
    rows = []
    for i, s in enumerate(fc.stations, start=1):
        net = s.predicted_net_change
        expect = "emptying" if net < 0 else "filling" if net > 0 else "steady"
        rows.append(
            f'<tr class="{"top" if i <= TOP and net != 0 else ""}" data-station-id="{escape(s.station_id)}">'
            f"<td>{i}</td><td class='l'>{escape(s.station_id)}</td><td class='l'>{escape(s.name)}</td>"
            f"<td>{_num(net, 1, sign=net != 0)}</td>"
            f'<td><span class="chip" style="background:{svg.colour(s.expected_net_change, limit)}"></span>'
            f"{_num(s.predicted_net_change_mean, 2, sign=True)}</td>"
            f"<td>{_num(s.predicted_pickups, 1)}</td><td>{_num(s.predicted_dropoffs, 1)}</td>"
            f"<td>{s.capacity if s.capacity is not None else DASH}</td><td class='l'>{expect}</td></tr>"
        )
    table = (
        '<div class="scroll"><table id="ranking"><thead><tr><th>#</th><th class="l">station</th><th class="l">name</th>'
        '<th title="point forecast (median), ranks the stations">net</th>'
        '<th title="mean forecast, the colour on the map">mean</th>'
        "<th>pickups</th><th>dropoffs</th><th>capacity</th><th class='l'>expect</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    unplaced = (
        f'<div class="sub">{fc.unplaced} station(s) without coordinates in the seed are not on the map</div>'
        if fc.unplaced
        else ""
    )
    sub = (
        f'<div class="sub">target hour <b>{escape(_hour_span(fc.target_hour, view.system_id))}</b> · '
        f"{len(fc.stations)} stations · "
        f"model {escape(fc.model_version)} · generated {_utc(fc.generated_at)} · the top {TOP} with a non-zero "
        "point forecast in bold (the top 10 numbered on the map)</div>"
    )
    return (
        f'{head}{problems}{sub}<div class="cols"><div>{table}</div>'
        f"<div>{svg.station_map(fc.stations, top=TOP)}{unplaced}</div></div></section>"
    )


def _vs(value: float | None, best: float | None) -> str:
    if value is None or best in (None, 0):
        return ""
    change = (value - best) / best * 100  # type: ignore[operator]
    return f' <span class="{"good" if change < 0 else "bad"}">({change:+.1f} %)</span>'


def model_section(view: CrewView) -> str:
    m: ServingModel | None = view.serving
    head = '<section id="model"><h2>Serving model</h2>'
    problems = _problems(view, "model")
    if m is None:
        return f'{head}{problems}<div class="note">no promoted model yet (no latest.json)</div></section>'
    best = m.best_baseline
    rows = []
    for row in m.metrics:
        is_model = row.predictor == MODEL
        rows.append(
            f'<tr class="{"top" if is_model else ""}"><td class="l">{escape(row.predictor)}'
            f"{' (best baseline)' if best is not None and row is best else ''}</td>"
            f"<td>{_num(row.mae, 3)}{_vs(row.mae, best.mae if best else None) if is_model else ''}</td>"
            f"<td>{_num(row.rmse, 3)}{_vs(row.rmse, best.rmse if best else None) if is_model else ''}</td>"
            f"<td>{_num(row.precision_at_10, 3)}</td></tr>"
        )
    facts = (
        '<table class="kv">'
        f"<tr><td>version</td><td><b>{escape(m.version)}</b></td></tr>"
        f"<tr><td>trained at</td><td>{_text(m.trained_at)}</td></tr>"
        f"<tr><td>cut-off hour</td><td>{_text(m.cutoff_hour)}</td></tr>"
        f"<tr><td>gate</td><td>{'promoted' if m.promoted else 'not promoted'}: {_text(m.gate)}</td></tr>"
        "</table>"
    )
    metrics = (
        '<div class="hscroll"><table id="metrics"><thead><tr><th class="l">validation (last 7 days of the window)</th>'
        "<th>MAE</th><th>RMSE</th><th>precision@10</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    image = (
        f'<img class="eval" alt="evaluation of model {escape(m.version)}" '
        f'src="evaluation.png?version={quote(m.version)}">'
        if m.has_plot
        else '<div class="note">no evaluation picture stored for this version</div>'
    )
    return f'{head}{problems}<div class="cols"><div>{facts}<br>{metrics}</div><div>{image}</div></div></section>'


def performance_section(view: CrewView) -> str:
    perf: Performance = view.performance
    head = '<section id="performance"><h2>Live performance, last 7 days</h2>'
    problems = _problems(view, "performance")
    if not perf.rows:
        note = escape(perf.note or "no live performance yet")
        return f'{head}{problems}<div class="note no-performance">{note}</div></section>'
    best = perf.best_baseline
    chart = svg.mae_chart(perf.series(MODEL, WINDOW_24H), perf.series(best, WINDOW_24H) if best else [], best)
    latest = perf.latest_7d
    rows = "".join(
        f'<tr class="{"top" if r.predictor == MODEL else ""}"><td class="l">{escape(r.predictor)}</td>'
        f"<td>{_utc(r.window_end)}</td><td>{r.station_hours if r.station_hours is not None else DASH}</td>"
        f"<td>{_num(r.mae, 3)}</td><td>{_num(r.rmse, 3)}</td><td>{_num(r.precision_at_10, 3)}</td></tr>"
        for r in latest
    )
    table = (
        '<div class="hscroll"><table id="performance-7d"><thead><tr><th class="l">predictor, last 7 days</th>'
        "<th>window end</th>"
        "<th>station-hours</th><th>MAE</th><th>RMSE</th><th>precision@10</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
        if latest
        else '<div class="note">no 7-day rows yet</div>'
    )
    sub = (
        '<div class="sub">24-hour rolling MAE of the served forecasts on the actual outcomes, '
        f"model vs the best baseline ({_text(best)}); up to {_utc(perf.rows[-1].window_end)}</div>"
    )
    return f'{head}{problems}{sub}<div class="cols"><div>{chart}</div><div>{table}</div></div></section>'


def render(view: CrewView) -> str:
    """The whole page: the crew's part first, the engineers' detail folded away at the end."""
    plan = view.plan
    if plan is None:
        crew = (
            '<div class="note" id="no-plan">No plan has been made yet: the hourly rebalancing run has not '
            "written one. The forecast is in the engineers' detail below.</div>"
        )
    else:
        crew = (
            f'<div class="plan">{routes_section(plan)}{map_section(plan)}</div>'
            f"{warnings_section(plan)}{stations_section(plan)}"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Rebalancing crews</title><style>{CSS}</style></head><body>"
        f"{header(view)}{crew}"
        '<details id="engineers"><summary>For engineers: the plan in UTC, the forecast, the serving model '
        "and its live performance</summary>"
        f"{plan_facts(view)}{forecast_section(view)}"
        f'<div id="model-and-performance">{model_section(view)}{performance_section(view)}</div></details>'
        f"<footer>profile {escape(view.profile)} &middot; env {escape(view.env)} &middot; page rendered "
        f"{clock.when(view.rendered_at, view.system_id)} &middot; reload for fresh data</footer>"
        "</body></html>"
    )
