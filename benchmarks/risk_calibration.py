"""Is the risk calibrated on real days? The production model's rates through the chain, scored on replayed
Citi Bike Jersey City days (issue 22 §3 (b)); no stack.

1. Features: the research copy of the dbt contract (research/model_research.py, pandas, from the trip files;
   its cached hourly grid), as research/walk_forward.py uses it.
2. Model: :class:`include.ml.model.StationFlowModel` with default params and horizons, fitted once on the
   ``--weeks`` before the span (no validation hold-out: the freshest model a run could have), then predicting
   every hour of the span from the features as of that hour: expected pickups and dropoffs of horizons
   1..3. Only the count models matter here, so net change is their mean difference (no third fit).
3. Outcomes: the trips of the replay's months (the simulator's reader) through the rebuilt docks
   (include/rebalancing/calibration.py) from half full, ``--history-days`` + 1 day of warm-up before the span.
   Stations: those forecast with a capacity in ``station_information.json``.
4. Scores: Brier of ``p_empty`` / ``p_full`` (1 h, 3 h) against the station's historical frequency for that hour
   of day, on all station-hours and on those *inside* (not already at that boundary), with reliability gaps;
   the same chain on the *hindsight* rates (each hour's realised counts, a sharper input than any forecast
   of the mean) to tell the forecast's error from the chain's; a rival that knows the stock (the station's
   frequency at the same bikes now, :func:`include.rebalancing.calibration.count_baseline`); the dispersion of
   the hourly counts and of the net change around the forecast (1 for the chain's independent Poisson counts);
   the replay's failed pickups and returns (riders the rebuilt stock failed, real ones did not).

    .venv/bin/python -m benchmarks.risk_calibration [--from 2019-09-09 --days 14] [--weeks 26]
        [--history-days 28] [--png docs/risk-reliability.png]

Prints the tables, the machine's load (``os.getloadavg``) at start and end, and the run time.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from include.ml.model import StationFlowModel
from include.rebalancing import calibration as cal
from include.simulator.sources import month_files
from include.simulator.trip_data import load_station_information
from include.simulator.trips import ReplayStats, events_from_files
from include.systems import DEFAULT_SYSTEM, time_zone
from research import model_research as research

SYSTEM_TIME_ZONE = time_zone(DEFAULT_SYSTEM)  # the replayed trips are Jersey City's

ROOT = Path(__file__).resolve().parents[1]
LABELS = ("pickups", "dropoffs", "net_change")


def load(line: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {line}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, 2 cores)"


def span(first_day: str, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of ``first_day`` to local midnight ``days`` later, in UTC."""
    zone = ZoneInfo(SYSTEM_TIME_ZONE)
    day = datetime.fromisoformat(first_day).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=days), datetime.min.time(), tzinfo=zone)
    return pd.Timestamp(start).tz_convert("UTC"), pd.Timestamp(end).tz_convert("UTC")


def months_between(start: pd.Timestamp, end: pd.Timestamp) -> list[str]:
    local = pd.date_range(start.tz_convert(SYSTEM_TIME_ZONE).normalize(), end.tz_convert(SYSTEM_TIME_ZONE), freq="D")
    return sorted({f"{d:%Y-%m}" for d in local})


def feature_frame() -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The research copy of station_features_wide joined to its labels (as walk_forward builds it)."""
    data, labels = research.labelled_features()
    columns = [c for c in data.columns if c not in ("station_id", "as_of", "hour_start", *LABELS)]
    return data, labels, columns


def hindsight_rates(labels: pd.DataFrame, hours: pd.DataFrame) -> pd.DataFrame:
    """Each (station, hour ``T``)'s horizon ``k`` rate = the counts realised in hour ``T+k-1``: what a perfect
    forecast of each hour's mean would say (the chain's own error, with the forecast's taken out)."""
    lookup = labels.set_index(["station_id", "hour_start"])[["pickups", "dropoffs"]].astype(float)
    parts = []
    for k in range(1, cal.RATE_HOURS + 1):
        keys = pd.MultiIndex.from_arrays([hours["station_id"], hours["hour"] + pd.Timedelta(hours=k - 1)])
        got = lookup.reindex(keys).fillna(0.0)  # the grid holds every fleet hour: a gap is no trips
        parts.append(
            pd.DataFrame(
                {
                    "station_id": hours["station_id"].to_numpy(),
                    "hour": hours["hour"].to_numpy(),
                    "horizon": k,
                    "pickups": got["pickups"].to_numpy(),
                    "dropoffs": got["dropoffs"].to_numpy(),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    out["hour"] = pd.to_datetime(out["hour"], utc=True)
    return out


def dispersion(rates: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """Squared errors of the realised hourly counts around the forecast means over the summed means, per
    horizon: 1 for the chain's assumption (Poisson counts of known means; forecast error adds to it). For the
    net change the chain moves by, the same over ``mu_p + mu_d``, beside what independent counts with these
    errors would give (``net if indep.``; below it, pickups and dropoffs move together), and the correlation of
    the two counts' residuals."""
    lookup = labels.set_index(["station_id", "hour_start"])[["pickups", "dropoffs"]].astype(float)
    out = {}
    for k, g in rates.groupby("horizon"):
        keys = pd.MultiIndex.from_arrays([g["station_id"], g["hour"] + pd.Timedelta(hours=int(k) - 1)])
        got = lookup.reindex(keys)
        yp, yd = got["pickups"].to_numpy(), got["dropoffs"].to_numpy()
        mp, md = np.maximum(g["pickups"].to_numpy(float), 0.0), np.maximum(g["dropoffs"].to_numpy(float), 0.0)
        ok = ~np.isnan(yp)
        ep, ed = (yp - mp)[ok], (yd - md)[ok]
        out[f"h{k} pickups"] = float(np.sum(ep**2) / np.sum(mp[ok]))
        out[f"h{k} dropoffs"] = float(np.sum(ed**2) / np.sum(md[ok]))
        out[f"h{k} net"] = float(np.sum((ed - ep) ** 2) / np.sum((mp + md)[ok]))
        out[f"h{k} net if indep."] = float((np.sum(ep**2) + np.sum(ed**2)) / np.sum((mp + md)[ok]))
        out[f"h{k} corr(p, d)"] = float(np.corrcoef(ep, ed)[0, 1])
    return out


def count_table(result: cal.Calibration, events: pd.DataFrame, capacity: dict[str, int]) -> str:
    """Brier of the chain, the hour-of-day frequency and the same-count frequency (:func:`cal.count_baseline`,
    a rival that knows the stock) on the same station-hours: how much of the win is knowing the count."""
    frame = result.frame
    docks = {sid: capacity[sid] for sid in pd.unique(frame["station_id"])}
    out = cal.replay_outcomes(
        events, docks, result.replay_from.to_pydatetime(), result.end.to_pydatetime(), cal.HORIZONS
    )
    i = ((frame["hour"] - out.hours[0]) / cal.HOUR).to_numpy(dtype=np.int64)
    s = frame["station_id"].map({sid: k for k, sid in enumerate(out.station_ids)}).to_numpy(dtype=np.int64)
    history_from = int(result.warmup / cal.HOUR)
    rows = [
        "| target | horizon | chain | hist. freq. (hour of day) | same-count freq. | inside: chain | hist. freq. "
        "| same-count freq. |",
        "|" + "---|" * 8,
    ]
    for sc in result.scores:
        truth = (out.empty if sc.target == "empty" else out.full)[sc.horizon]
        rival = cal.count_baseline(out.hours, out.bikes, truth, sc.horizon, history_from)[i, s]
        o = frame[f"hit_{sc.target}_{sc.horizon}h"].to_numpy()
        inside = (frame["bikes"] > 0) if sc.target == "empty" else (frame["bikes"] < frame["capacity"])
        inside = inside.to_numpy()
        rows.append(
            f"| {sc.target} | {sc.horizon} h | {sc.brier_chain:.4f} | {sc.brier_baseline:.4f} | "
            f"{cal.brier(rival, o):.4f} | {sc.brier_chain_inside:.4f} | {sc.brier_baseline_inside:.4f} | "
            f"{cal.brier(rival[inside], o[inside]):.4f} |"
        )
    return "\n".join(rows)


def table(result: cal.Calibration) -> str:
    head = (
        "| target | horizon | station-hours | hits | Brier chain | Brier hist. freq. | skill | inside: station-hours"
        " | Brier chain | Brier hist. freq. | skill | reliability gap chain / hist. |"
    )
    rows = [head, "|" + "---|" * 12]
    for s in result.scores:
        rows.append(
            f"| {s.target} | {s.horizon} h | {s.n:,} | {s.hits:,} ({s.hits / s.n:.1%}) | {s.brier_chain:.4f} | "
            f"{s.brier_baseline:.4f} | {s.skill:+.1%} | {s.n_inside:,} | {s.brier_chain_inside:.4f} | "
            f"{s.brier_baseline_inside:.4f} | {s.skill_inside:+.1%} | {s.chain_bins.gap():.3f} / "
            f"{s.baseline_bins.gap():.3f} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first_day", default="2019-09-09", help="first scored day (New York)")
    parser.add_argument("--days", type=int, default=14, help="scored days")
    parser.add_argument("--weeks", type=int, default=26, help="training weeks before the span (the DAG's: 26)")
    parser.add_argument("--history-days", type=int, default=28, help="baseline history before the span")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "risk-reliability.png")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary here")
    args = parser.parse_args()
    print(load("at start"))
    started = time.perf_counter()
    start, end = span(args.first_day, args.days)
    replay_from = start - pd.Timedelta(days=args.history_days) - cal.WARMUP

    t = time.perf_counter()
    data, labels, columns = feature_frame()
    t_features = time.perf_counter() - t
    train = data[(data["as_of"] >= start - pd.Timedelta(weeks=args.weeks)) & (data["as_of"] < start)]
    model = StationFlowModel(columns, net_forecast="mean_diff", mean_forecast="mean_diff")
    t = time.perf_counter()
    model.fit(train)
    t_fit = time.perf_counter() - t
    served = data[(data["as_of"] >= start) & (data["as_of"] < end)].reset_index(drop=True)
    rates, forecast = cal.model_rates(model, served, labels)

    t = time.perf_counter()
    stats = ReplayStats()
    files = [p for m in months_between(replay_from, end + cal.HOUR * 3) for p in month_files(m)]
    events = cal.events_frame(events_from_files(files, replay_from, end + pd.Timedelta(hours=3), stats))
    info = load_station_information()["data"]["stations"]  # the trip data folder's, else the vendored snapshot
    capacity = {str(s["station_id"]): int(s["capacity"]) for s in info if s.get("capacity") is not None}
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    result = cal.calibrate(events, capacity, rates, start, end, replay_from=replay_from)
    t_cal = time.perf_counter() - t
    hours = rates[["station_id", "hour"]].drop_duplicates()
    hindsight = cal.calibrate(events, capacity, hindsight_rates(labels, hours), start, end, replay_from=replay_from)

    local = f"{start.tz_convert(SYSTEM_TIME_ZONE):%Y-%m-%d} .. {end.tz_convert(SYSTEM_TIME_ZONE):%Y-%m-%d}"
    note = "" if forecast >= cal.RATE_HOURS else f"; hours +{forecast + 1}..+3 at horizon 1's rates"
    title = (
        f"Risk calibration, Jersey City {local} (New York, end excluded): StationFlowModel ({args.weeks} weeks "
        f"before, {forecast} horizon(s){note}), rebuilt docks from half full {args.history_days + 1} days before"
    )
    args.png.parent.mkdir(parents=True, exist_ok=True)
    args.png.write_bytes(cal.reliability_png(result, title))
    if args.json:
        args.json.write_text(json.dumps(result.summary(), indent=2))

    frame = result.frame
    print(f"\nscored {local}: {result.stations} stations x {result.hours} hours = {len(frame):,} station-hours")
    print(
        f"model: {len(train):,} training rows ({args.weeks} weeks), horizons forecast {forecast}{note}; "
        f"stations forecast without a capacity (not scored): {', '.join(result.no_capacity) or 'none'}"
    )
    print(
        f"replay from {replay_from:%Y-%m-%d %H:%M} UTC (1 day warm-up, {args.history_days} days of baseline "
        f"history): {stats.trips:,} trips read, {len(events):,} events in the window; in the scored hours "
        f"{result.events:,} events at modelled stations, failed pickups {result.failed_pickups:,} "
        f"({result.failed_pickups / max(result.events, 1):.1%}), failed returns {result.failed_returns:,} "
        f"({result.failed_returns / max(result.events, 1):.1%})"
    )
    print(
        f"station-hours starting empty {np.mean(frame['bikes'] == 0):.1%}, full "
        f"{np.mean(frame['bikes'] == frame['capacity']):.1%}"
    )
    print("\nthe model's rates:\n" + table(result))
    print("\nhindsight rates (each hour's realised counts):\n" + table(hindsight))
    print(
        "\nBrier beside a rival that knows the count (same station, same bikes now):\n"
        + count_table(result, events, capacity)
    )
    print(
        "\nsquared errors of the hourly counts around the model's means over the means (the chain's Poisson: 1): "
        + ", ".join(f"{k} {v:.2f}" for k, v in dispersion(rates, labels).items())
    )
    print(f"\nPNG: {args.png}")
    print(
        f"times: features {t_features:.0f} s, fit {t_fit:.0f} s, trips {t_read:.0f} s, replay + risk + scores "
        f"{t_cal:.0f} s; total {time.perf_counter() - started:.0f} s"
    )
    print(load("at end"))


if __name__ == "__main__":
    main()
