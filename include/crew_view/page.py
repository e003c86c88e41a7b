"""The crew view as one server-rendered HTML page (every value escaped; inline CSS and SVG only).

No JavaScript and no external resource: the page renders identically in the Airflow UI's iframe, a bare
browser tab and a headless test browser, and the app's Content-Security-Policy can forbid everything else.
Links are relative (``evaluation.png?…``) so the page works under any Airflow base path.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from include.crew_view import svg
from include.crew_view.data import MODEL, WINDOW_24H, CrewView, Forecast, Performance, ServingModel

CITY_TZ = ZoneInfo("America/New_York")  # the crews' clock (the system is Citi Bike Jersey City)
DASH = "&ndash;"  # a missing value (HTML entity: the source stays ASCII)
TOP = 10  # the evaluation's precision@10: the stations a crew can visit in one hour

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px;color:#1a1a1a;background:#fff}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;font-size:13px;margin-bottom:8px} .note{color:#8a4b00;background:#fff6e5;border:1px solid #f0d9a8;
padding:6px 10px;font-size:13px;margin:6px 0} .cols{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start}
table{border-collapse:collapse;font-size:13px} th,td{padding:3px 8px;text-align:right;border-bottom:1px solid #eee}
th{background:#f5f5f5;position:sticky;top:0} td.l,th.l{text-align:left} tr.top td{font-weight:600}
.scroll{max-height:520px;overflow-y:auto;border:1px solid #ddd} .chip{display:inline-block;width:10px;height:10px;
border:1px solid #888;margin-right:4px;vertical-align:middle} .good{color:#1a7f37} .bad{color:#b2182b}
img.eval{max-width:100%;border:1px solid #ddd} .kv td{text-align:left;border:none;padding:1px 8px 1px 0}
.kv td:first-child{color:#555}
"""


def _num(value: float | None, digits: int = 2, sign: bool = False) -> str:
    if value is None:
        return DASH
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _text(value: str | None) -> str:
    return escape(value) if value else DASH


def _utc(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else DASH


def _hour_span(hour: datetime) -> str:
    """``2019-09-30 04:00-05:00 UTC (Mon 00:00-01:00 New York)``: the target hour on both clocks."""
    local = hour.astimezone(CITY_TZ)
    end, local_end = hour + timedelta(hours=1), local + timedelta(hours=1)
    return f"{hour:%Y-%m-%d %H:%M}-{end:%H:%M} UTC ({local:%a %H:%M}-{local_end:%H:%M} New York)"


def _problems(view: CrewView, *sections: str) -> str:
    return "".join(
        f'<div class="note problem">could not read {escape(s)}: {escape(view.problems[s])}</div>'
        for s in sections
        if s in view.problems
    )


def forecast_section(view: CrewView) -> str:
    fc: Forecast | None = view.forecast
    head = '<section id="forecast"><h2>Next hour: stations ranked by predicted |net change|</h2>'
    problems = _problems(view, "forecast", "stations")
    if fc is None:
        return f'{head}{problems}<div class="note">no predictions on the bucket yet</div></section>'
    limit = svg.scale_limit([s.expected_net_change for s in fc.stations])
    rows = []
    for i, s in enumerate(fc.stations, start=1):
        net = s.predicted_net_change
        expect = "emptying" if net < 0 else "filling" if net > 0 else "steady"
        rows.append(
            f'<tr class="{"top" if i <= TOP else ""}" data-station-id="{escape(s.station_id)}">'
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
        f'<div class="sub">target hour <b>{escape(_hour_span(fc.target_hour))}</b> · {len(fc.stations)} stations · '
        f"model {escape(fc.model_version)} · generated {_utc(fc.generated_at)} · the top {TOP} in bold "
        "(outlined and numbered on the map)</div>"
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
        '<table id="metrics"><thead><tr><th class="l">validation (last 7 days of the window)</th>'
        "<th>MAE</th><th>RMSE</th><th>precision@10</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
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
        '<table id="performance-7d"><thead><tr><th class="l">predictor, last 7 days</th><th>window end</th>'
        "<th>station-hours</th><th>MAE</th><th>RMSE</th><th>precision@10</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        if latest
        else '<div class="note">no 7-day rows yet</div>'
    )
    sub = (
        '<div class="sub">24-hour rolling MAE of the served forecasts on the actual outcomes, '
        f"model vs the best baseline ({_text(best)}); up to {_utc(perf.rows[-1].window_end)}</div>"
    )
    return f'{head}{problems}{sub}<div class="cols"><div>{chart}</div><div>{table}</div></div></section>'


def render(view: CrewView) -> str:
    """The whole page."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Rebalancing crews</title><style>{CSS}</style></head><body>"
        "<h1>Rebalancing crews</h1>"
        f'<div class="sub">profile {escape(view.profile)} · env {escape(view.env)} · '
        f"page rendered {_utc(view.rendered_at)} · reload for fresh data</div>"
        f"{forecast_section(view)}"
        f'<div id="model-and-performance">{model_section(view)}{performance_section(view)}</div>'
        "</body></html>"
    )
