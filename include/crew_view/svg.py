"""Inline SVG for the crew view: the plan map (stations by risk, the trucks' moves as arrows), the forecast
map and the live-performance chart.

Drawn on the server from the data alone: no tiles, no scripts, nothing fetched at run time, so the page
works on an offline laptop and behind any firewall. The maps project lat/lon equirectangularly with the
longitude scaled by cos(latitude) — at city scale that is indistinguishable from Web Mercator. Each map has
a ``viewBox`` and scales to its box (CSS), from a 390-px phone to a desktop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from include.crew_view.data import RISK_BANDS, Plan, StationForecast, StationState, risk_band

# Diverging scale, ColorBrewer RdBu: red = the station loses bikes (bring bikes), blue = it fills (free docks).
EMPTYING = (178, 24, 43)
NEUTRAL = (247, 247, 247)
FILLING = (33, 102, 172)
# Risk bands (data.RISK_BANDS: below 10 %, 10-25 %, 25-50 %, 50 % and more), ColorBrewer Reds and Blues:
# red, the station may run out of bikes; blue, it may fill up (no free dock); a station not judged is white.
RISK_OK = "#f0f0f0"
EMPTY_BANDS = ("#fcbba1", "#fb6a4a", "#cb181d")
FULL_BANDS = ("#c6dbef", "#6baed6", "#2171b5")
NOT_JUDGED = "#ffffff"
# The trucks' arrows: dark, saturated and neither red nor blue, so they read over the risk colours.
TRUCK_COLOURS = ("#1b7837", "#762a83", "#e08214", "#111111", "#01665e", "#8c510a", "#c51b7d", "#4d4d4d")
MODEL_COLOUR = "#d62728"
BASELINE_COLOUR = "#555555"


def colour(value: float, limit: float) -> str:
    """Hex colour of a net change on a scale symmetric around 0 and saturated at ±``limit``."""
    t = 0.0 if limit <= 0 else max(-1.0, min(1.0, value / limit))
    end = FILLING if t > 0 else EMPTYING
    rgb = (round(n + (e - n) * abs(t)) for n, e in zip(NEUTRAL, end, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def risk_colour(station: StationState) -> str:
    """The map colour of a station: its 3-hour risk's band, red for empty and blue for full."""
    band = risk_band(station.risk_3h)
    if band is None:
        return NOT_JUDGED
    if band == 0:
        return RISK_OK
    return (EMPTY_BANDS if station.risk_side == "empty" else FULL_BANDS)[band - 1]


def truck_colour(truck: int) -> str:
    return TRUCK_COLOURS[(truck - 1) % len(TRUCK_COLOURS)]


def band_labels() -> tuple[str, ...]:
    """``below 10 %``, ``10-25 %``, ``25-50 %``, ``50 % or more`` (HTML, en dashes): the legend's words per band."""
    edges = [round(e * 100) for e in RISK_BANDS]
    middle = [f"{a}&ndash;{b} %" for a, b in itertools.pairwise(edges)]
    return (f"below {edges[0]} %", *middle, f"{edges[-1]} % or more")


class Projection:
    """lat/lon to SVG pixels: equirectangular, longitude scaled by cos(mean latitude), fitted to a box."""

    def __init__(self, points: Sequence[tuple[float, float]], width: float, height: float, pad: float) -> None:
        lats = [lat for lat, _ in points]
        self.k = math.cos(math.radians(sum(lats) / len(lats)))
        xs = [lon * self.k for _, lon in points]
        self.min_x, self.max_lat = min(xs), max(lats)
        span_x = max(max(xs) - self.min_x, 1e-4)
        span_y = max(self.max_lat - min(lats), 1e-4)
        self.scale = min((width - 2 * pad) / span_x, (height - 2 * pad) / span_y)
        self.off_x = (width - span_x * self.scale) / 2
        self.off_y = (height - span_y * self.scale) / 2

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        return self.off_x + (lon * self.k - self.min_x) * self.scale, self.off_y + (self.max_lat - lat) * self.scale

    @property
    def px_per_km(self) -> float:
        return self.scale / 111.32  # one degree of latitude


def _radius(capacity: int | None) -> float:
    return 5 + 4 * math.sqrt(min(max(capacity or 0, 0), 60) / 60)


def _arrow(p0: tuple[float, float], p2: tuple[float, float], r0: float, r2: float) -> tuple[str, float, float]:
    """A move's path from circle to circle, bent a little to its right (so A→B and B→A stay apart), and the
    point of its label."""
    (x0, y0), (x2, y2) = p0, p2
    dx, dy = x2 - x0, y2 - y0
    length = math.hypot(dx, dy) or 1.0
    bend = min(0.15 * length, 30.0)
    cx, cy = (x0 + x2) / 2 - dy / length * bend, (y0 + y2) / 2 + dx / length * bend

    def towards(x: float, y: float, tx: float, ty: float, by: float) -> tuple[float, float]:
        d = math.hypot(tx - x, ty - y) or 1.0
        return x + (tx - x) / d * by, y + (ty - y) / d * by

    sx, sy = towards(x0, y0, cx, cy, r0 + 1)
    ex, ey = towards(x2, y2, cx, cy, r2 + 2)
    mx, my = 0.25 * sx + 0.5 * cx + 0.25 * ex, 0.25 * sy + 0.5 * cy + 0.25 * ey
    return f"M{sx:.1f},{sy:.1f} Q{cx:.1f},{cy:.1f} {ex:.1f},{ey:.1f}", mx, my


def plan_map(plan: Plan, width: int = 520, height: int = 460) -> str:
    """The plan hour on a map: one circle per station with coordinates, filled by its 3-hour risk band
    (:func:`risk_colour`), outlined black when no count keeps it safe; each move an arrow in its truck's
    colour with the bikes it carries; each stop numbered as in the route list. The legend is the page's
    (HTML); the station names are in each circle's tooltip."""
    placed = [s for s in plan.stations if s.has_position]
    if not placed:
        return (
            f'<svg class="map plan-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 60" role="img">'
            '<text x="10" y="35" font-size="14">no station with coordinates to draw</text></svg>'
        )
    proj = Projection([(s.lat, s.lon) for s in placed], width, height, 28)  # type: ignore[misc]
    at = {s.station_id: (proj.xy(s.lat, s.lon), _radius(s.capacity)) for s in placed}  # type: ignore[arg-type]
    planned = plan.planned
    parts = [
        f'<svg class="map plan-map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="stations coloured by risk, the trucks\' moves as arrows">',
        "<defs>",
        *(
            f'<marker id="head-{r.truck}" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="4.5" '
            f'markerHeight="4.5" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{truck_colour(r.truck)}"/></marker>'
            for r in plan.routes
        ),
        "</defs>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#fbfbf8" stroke="#ddd"/>',
    ]
    # the calm stations first, so the ones at risk (and in the plan) are drawn on top
    for s in sorted(placed, key=lambda s: (s.station_id in planned, s.risk_3h or 0.0)):
        (x, y), r = at[s.station_id]
        unreachable = s.judged and s.reachable is False
        stroke, stroke_w = ("#000", 2.5) if unreachable else ("#222", 1.4) if s.station_id in planned else ("#888", 0.7)
        dash = ' stroke-dasharray="2,2"' if not s.judged else ""
        parts.append(
            f'<circle class="station" data-station-id="{escape(s.station_id)}" data-band="{risk_band(s.risk_3h)}" '
            f'cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{risk_colour(s)}" stroke="{stroke}" '
            f'stroke-width="{stroke_w}"{dash}><title>{escape(_station_title(s))}</title></circle>'
        )
    for route in plan.routes:
        colour_ = truck_colour(route.truck)
        for m in route.moves:
            if m.from_station not in at or m.to_station not in at:
                continue  # said in the route (and the warnings): a station without coordinates
            (p0, r0), (p2, r2) = at[m.from_station], at[m.to_station]
            d, mx, my = _arrow(p0, p2, r0, r2)
            parts.append(
                f'<g class="move" data-truck="{route.truck}" data-from="{escape(m.from_station)}" '
                f'data-to="{escape(m.to_station)}"><path d="{d}" fill="none" stroke="{colour_}" stroke-width="2.5" '
                f'marker-end="url(#head-{route.truck})"/>'
                f'<text x="{mx:.1f}" y="{my + 5:.1f}" font-size="13" font-style="italic" text-anchor="middle" '
                f'fill="#222" stroke="#fff" stroke-width="3" paint-order="stroke">{m.bikes}</text>'
                f"<title>truck {route.truck}, move {m.move_order}: {m.bikes} bikes from "
                f"{escape(plan.name(m.from_station))} to {escape(plan.name(m.to_station))}</title></g>"
            )
    parts.extend(_stop_numbers(plan, at, width, height))
    parts.append(_scale_bar(proj.px_per_km, height))
    parts.append("</svg>")
    return "".join(parts)


Box = tuple[float, float, float, float]  # left, top, right, bottom


def _fits(b: Box, taken: list[Box], width: int, height: int) -> bool:
    inside = b[0] >= 0 and b[2] <= width and b[1] >= 0 and b[3] <= height
    return inside and not any(b[0] < o[2] and o[0] < b[2] and b[1] < o[3] and o[1] < b[3] for o in taken)


def _stop_numbers(
    plan: Plan, at: dict[str, tuple[tuple[float, float], float]], width: int, height: int, size: int = 12
) -> list[str]:
    """Each stop's number in its truck's route (the route list's numbering) on a pill of the truck's colour
    beside its station: short labels stay readable where the stations crowd, as downtown they do. A pill goes
    where it overlaps no stop's circle and no pill already placed (right, left, above, below; the first that
    fits)."""
    numbers: dict[tuple[str, int], list[int]] = {}
    for route in plan.routes:
        for i, stop in enumerate(route.stops, start=1):
            if stop.station_id in at:
                numbers.setdefault((stop.station_id, route.truck), []).append(i)
    stops_at = {sid for sid, _ in numbers}
    taken: list[Box] = [(x - r, y - r, x + r, y + r) for sid, ((x, y), r) in at.items() if sid in stops_at]
    out = []
    for (sid, truck), stops_ in sorted(numbers.items(), key=lambda kv: (at[kv[0][0]][0][1], kv[0])):
        (x, y), r = at[sid]
        text = ",".join(str(n) for n in stops_)
        w, h = 0.62 * size * len(text) + 7, size + 4
        candidates = [  # the pill's top-left corner
            (x + r + 2, y - h / 2),
            (x - r - 2 - w, y - h / 2),
            (x - w / 2, y - r - 2 - h),
            (x - w / 2, y + r + 2),
            (x + r, y - r - h),
            (x - r - w, y + r),
        ]
        left, top = next(
            (c for c in candidates if _fits((c[0], c[1], c[0] + w, c[1] + h), taken, width, height)), candidates[0]
        )
        taken.append((left, top, left + w, top + h))
        out.append(
            f'<g class="stop-no" data-station-id="{escape(sid)}" data-truck="{truck}">'
            f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{h / 2:.1f}" '
            f'fill="{truck_colour(truck)}" stroke="#fff" stroke-width="1"/>'
            f'<text x="{left + w / 2:.1f}" y="{top + h - 4:.1f}" font-size="{size}" font-weight="bold" '
            f'text-anchor="middle" fill="#fff">{text}</text></g>'
        )
    return out


def _pct(p: float | None) -> str:
    return "?" if p is None else f"{p * 100:.0f} %"


def _station_title(s: StationState) -> str:
    """The circle's tooltip (desktop): name, bikes, both 3-hour risks."""
    bikes = f"{s.bikes if s.bikes is not None else '?'} / {s.capacity if s.capacity is not None else '?'} bikes"
    if not s.judged:
        return f"{s.label}: {bikes}, not judged ({s.problem or 'no risk computed'})"
    return f"{s.label}: {bikes}, runs out of bikes {_pct(s.p_empty_3h)}, fills up {_pct(s.p_full_3h)} within 3 h"


def scale_limit(values: Sequence[float]) -> float:
    """The scale's end: the largest |value|, at least 1 bike, so a quiet hour is not painted as extreme."""
    return max([1.0, *(abs(v) for v in values)])


def _fmt(value: float) -> str:
    return f"{value:+.1f}" if round(value, 1) else "0"


def station_map(stations: Sequence[StationForecast], width: int = 560, height: int = 520, top: int = 10) -> str:
    """SVG map: one circle per station with coordinates, coloured by its expected net change
    (:attr:`StationForecast.expected_net_change`), the ``top`` ranked stations outlined and numbered
    (``stations`` come ranked), a legend below."""
    placed = [s for s in stations if s.has_position]
    legend_h = 56
    if not placed:
        return (
            f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{width}" height="80" role="img">'
            '<text x="10" y="40" font-size="14">no station with coordinates to draw</text></svg>'
        )
    plot_h = height - legend_h
    proj = Projection([(s.station.lat, s.station.lon) for s in placed], width, plot_h, 32)  # type: ignore[union-attr,misc]
    limit = scale_limit([s.expected_net_change for s in placed])
    rank = {s.station_id: i + 1 for i, s in enumerate(stations)}
    parts = [
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="stations coloured by predicted net change">',
        f'<rect x="0" y="0" width="{width}" height="{plot_h}" fill="#fbfbf8" stroke="#ddd"/>',
    ]
    # draw the quiet stations first, so the ones that matter are on top
    for s in sorted(placed, key=lambda s: abs(s.expected_net_change)):
        x, y = proj.xy(s.station.lat, s.station.lon)  # type: ignore[union-attr,arg-type]
        r = _radius(s.capacity)
        is_top = rank[s.station_id] <= top
        title = (
            f"#{rank[s.station_id]} {s.station_id} {s.name}: net {_fmt(s.predicted_net_change)}, "
            f"mean {_fmt(s.expected_net_change)} "
            f"(pickups {s.predicted_pickups:.1f}, dropoffs {s.predicted_dropoffs:.1f}), "
            f"capacity {s.capacity if s.capacity is not None else '?'}"
        )
        parts.append(
            f'<circle class="station" data-station-id="{escape(s.station_id)}" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" '
            f'fill="{colour(s.expected_net_change, limit)}" stroke="{"#000" if is_top else "#777"}" '
            f'stroke-width="{2 if is_top else 0.7}"><title>{escape(title)}</title></circle>'
        )
        if is_top:
            parts.append(
                f'<text x="{x + r + 2:.1f}" y="{y + 4:.1f}" font-size="11" font-weight="bold" '
                f'fill="#111">{rank[s.station_id]}</text>'
            )
    parts.append(_scale_bar(proj.px_per_km, plot_h))
    parts.append(_legend(limit, width, plot_h + 8))
    parts.append("</svg>")
    return "".join(parts)


def _short(value: float) -> str:
    """``3.6``, ``1``: one decimal at most, no trailing zero."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _scale_bar(px_per_km: float, plot_h: float) -> str:
    """A distance bar (one degree of latitude is 111.32 km): without tiles it is the map's only sense of size."""
    km = next((d for d in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if d * px_per_km >= 50), 100)
    length = km * px_per_km
    label = f"{km * 1000:g} m" if km < 1 else f"{km:g} km"
    y = plot_h - 8
    return (
        f'<g class="scale-bar"><line x1="10" y1="{y:.1f}" x2="{10 + length:.1f}" y2="{y:.1f}" stroke="#333" '
        f'stroke-width="2"/><text x="{10 + length / 2:.1f}" y="{y - 4:.1f}" font-size="10" text-anchor="middle" '
        f'fill="#333">{label}</text><text x="10" y="16" font-size="10" fill="#666">N&#8593;</text></g>'
    )


def _legend(limit: float, width: int, y: int) -> str:
    bar_w, steps = 240, 24
    x0 = (width - bar_w) / 2
    cells = "".join(
        f'<rect x="{x0 + i * bar_w / steps:.1f}" y="{y}" width="{bar_w / steps + 0.5:.1f}" height="12" '
        f'fill="{colour(-limit + 2 * limit * (i + 0.5) / steps, limit)}"/>'
        for i in range(steps)
    )
    ticks = "".join(
        f'<text x="{x0 + bar_w * f:.1f}" y="{y + 26}" font-size="11" text-anchor="middle">{label}</text>'
        for f, label in ((0, f"&minus;{_short(limit)}"), (0.5, "0"), (1, f"+{_short(limit)}"))
    )
    words = (
        f'<text x="{x0 - 8:.1f}" y="{y + 10}" font-size="11" text-anchor="end" fill="#b2182b">emptying</text>'
        f'<text x="{x0 + bar_w + 8:.1f}" y="{y + 10}" font-size="11" fill="#2166ac">filling</text>'
        f'<text x="{width / 2:.1f}" y="{y + 42}" font-size="11" text-anchor="middle" fill="#444">'
        "expected net change next hour (mean forecast: dropoffs &minus; pickups), bikes</text>"
    )
    return f'<g class="legend">{cells}{ticks}{words}</g>'


def mae_chart(
    model: Sequence[tuple[datetime, float]],
    baseline: Sequence[tuple[datetime, float]],
    baseline_name: str | None,
    width: int = 560,
    height: int = 240,
) -> str:
    """Line chart of the 24-h rolling MAE over ``window_end``: the model against one baseline."""
    points = [*model, *baseline]
    if not points:
        return ""
    left, right, top, bottom = 48, 12, 12, 40
    t0 = min(t for t, _ in points).timestamp()
    t1 = max(t for t, _ in points).timestamp()
    y_max = max(v for _, v in points) * 1.1 or 1.0
    sx = (width - left - right) / max(t1 - t0, 1.0)
    sy = (height - top - bottom) / y_max

    def xy(t: datetime, v: float) -> str:
        return f"{left + (t.timestamp() - t0) * sx:.1f},{height - bottom - v * sy:.1f}"

    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="24-hour MAE, model vs baseline">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#999"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#999"/>',
    ]
    for i in range(5):
        v = y_max * i / 4
        y = height - bottom - v * sy
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.2f}</text>'
        )
    days = sorted({t.date() for t, _ in points})
    step = max(1, len(days) // 7)
    for day in days[::step]:
        t = datetime(day.year, day.month, day.day, tzinfo=points[0][0].tzinfo).timestamp()
        if t0 <= t <= t1:
            x = left + (t - t0) * sx
            parts.append(
                f'<text x="{x:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">{day:%m-%d}</text>'
            )
    for series, colour_, name, dash in (
        (baseline, BASELINE_COLOUR, baseline_name or "baseline", "5,3"),
        (model, MODEL_COLOUR, "model", ""),
    ):
        if series:
            parts.append(
                f'<polyline class="series" data-predictor="{escape(name)}" fill="none" stroke="{colour_}" '
                f'stroke-width="2" stroke-dasharray="{dash}" points="{" ".join(xy(t, v) for t, v in series)}"/>'
            )
    legend_y = height - 8
    parts.append(
        f'<line x1="{left}" y1="{legend_y - 4}" x2="{left + 20}" y2="{legend_y - 4}" stroke="{MODEL_COLOUR}" '
        f'stroke-width="2"/><text x="{left + 24}" y="{legend_y}" font-size="11">model</text>'
        f'<line x1="{left + 80}" y1="{legend_y - 4}" x2="{left + 100}" y2="{legend_y - 4}" '
        f'stroke="{BASELINE_COLOUR}" stroke-width="2" stroke-dasharray="5,3"/>'
        f'<text x="{left + 104}" y="{legend_y}" font-size="11">{escape(baseline_name or "baseline")}</text>'
        f'<text x="{width - right}" y="{legend_y}" font-size="10" text-anchor="end" fill="#666">'
        "window end (UTC)</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
