"""Inline SVG for the crew view: the station map and the live-performance chart.

Drawn on the server from the data alone: no tiles, no scripts, nothing fetched at run time, so the page
works on an offline laptop and behind any firewall. The map projects lat/lon equirectangularly with the
longitude scaled by cos(latitude) — at city scale that is indistinguishable from Web Mercator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from html import escape

from include.crew_view.data import StationForecast

# Diverging scale, ColorBrewer RdBu: red = the station loses bikes (bring bikes), blue = it fills (free docks).
EMPTYING = (178, 24, 43)
NEUTRAL = (247, 247, 247)
FILLING = (33, 102, 172)
MODEL_COLOUR = "#d62728"
BASELINE_COLOUR = "#555555"


def colour(value: float, limit: float) -> str:
    """Hex colour of a net change on a scale symmetric around 0 and saturated at ±``limit``."""
    t = 0.0 if limit <= 0 else max(-1.0, min(1.0, value / limit))
    end = FILLING if t > 0 else EMPTYING
    rgb = (round(n + (e - n) * abs(t)) for n, e in zip(NEUTRAL, end, strict=True))
    return "#{:02x}{:02x}{:02x}".format(*rgb)


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
    lats = [s.station.lat for s in placed]  # type: ignore[union-attr]
    lons = [s.station.lon for s in placed]  # type: ignore[union-attr]
    k = math.cos(math.radians(sum(lats) / len(lats)))
    xs = [lon * k for lon in lons]
    span_x = max(max(xs) - min(xs), 1e-4)
    span_y = max(max(lats) - min(lats), 1e-4)
    pad = 32  # room for the scale bar and the north mark
    plot_h = height - legend_h
    scale = min((width - 2 * pad) / span_x, (plot_h - 2 * pad) / span_y)
    off_x = (width - span_x * scale) / 2
    off_y = (plot_h - span_y * scale) / 2
    limit = scale_limit([s.expected_net_change for s in placed])
    rank = {s.station_id: i + 1 for i, s in enumerate(stations)}
    parts = [
        f'<svg class="map" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="stations coloured by predicted net change">',
        f'<rect x="0" y="0" width="{width}" height="{plot_h}" fill="#fbfbf8" stroke="#ddd"/>',
    ]
    # draw the quiet stations first, so the ones that matter are on top
    for s in sorted(placed, key=lambda s: abs(s.expected_net_change)):
        x = off_x + (s.station.lon * k - min(xs)) * scale  # type: ignore[union-attr]
        y = off_y + (max(lats) - s.station.lat) * scale  # type: ignore[union-attr]
        r = 5 + 4 * math.sqrt(min(s.capacity or 0, 60) / 60)
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
    parts.append(_scale_bar(scale / 111.32, plot_h))
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
