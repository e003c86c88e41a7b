"""Does the plan help? Jan-Sep 2019 replayed through the docks under three policies (issue 22 §6).

Each month (local midnight of the 1st to the next 1st) replays the Citi Bike Jersey City trips, read by the
simulator's own reader (:func:`include.simulator.trips.read_trips`), through the rebuilt docks
(:mod:`include.rebalancing.backtest`, whose docstring holds the replay's rules) three times, with the same
fleet (default 2 trucks x 20 bikes, 60 truck-minutes an hour each) and the same time model:

- ``none``: no rebalancing;
- ``naive``: each hour, the stations furthest from half full back toward half full (greedy pairs);
- ``plan``: the product's plan (risk → target interval → CP-SAT moves) on the forecast of a trailing
  4-week mean of the same weekday and hour (only trips before the hour; :class:`TrailingMeanForecaster`).

Stations: those of ``station_information.json`` with a capacity ≥ 1 that the trips use. Trip ends elsewhere
(Manhattan, 3183 and 3426 absent from the snapshot, 3481 and 3678 with capacity 0 in it) are not modelled
docks: never a failure, never rebalanced; their trips' other ends are replayed.

    .venv/bin/python -m benchmarks.rebalancing_backtest [--months 2019-01 ...] [--trucks 2 --truck-capacity 20]
        [--service-level 0.10] [--time-limit S] [--forecaster trailing|oracle]
        [--bike-budget none|naive-each-hour|naive-replay] [--jobs 2]
        [--json PATH]
    .venv/bin/python -m benchmarks.rebalancing_backtest --render PATH   # a saved run's table again

Prints a Markdown table per month and the total (failed pickups, failed returns, their sum, bikes moved,
stops; the plan's change vs none and vs naive), the machine's load and the run time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from include.gcp.settings import get_settings
from include.rebalancing.backtest import (
    OUTSIDE,
    BikeBudget,
    HourlyCounts,
    NaivePolicy,
    Network,
    NoRebalancing,
    OracleForecaster,
    PlanPolicy,
    PolicyResult,
    ReplayScheduleBudget,
    SameCountsBudget,
    TrailingMeanForecaster,
    Trips,
    replay,
    window_events,
)
from include.rebalancing.plan import Fleet, default_time_limit
from include.rebalancing.risk import RiskConfig
from include.simulator.sources import month_files
from include.simulator.trip_data import load_station_information, station_information_file
from include.simulator.trips import Trip, read_trips
from include.systems import DEFAULT_SYSTEM, time_zone

MONTHS = tuple(f"2019-{m:02d}" for m in range(1, 10))
POLICIES = ("none", "naive", "plan")


@dataclass(frozen=True)
class Data:
    """Every station riders picked up at with a known capacity (each month replays those active in it), every
    trip of the months read, and the forecaster's hourly counts."""

    network: Network
    trips: Trips
    counts: HourlyCounts
    excluded: dict[str, str]  # station id → why it is not a modelled dock
    rejected_rows: int


def local_midnight(month: str, offset_months: int = 0) -> datetime:
    """The 1st of ``month`` (+ ``offset_months``) at local midnight."""
    year, mon = int(month[:4]), int(month[5:7]) + offset_months
    year, mon = year + (mon - 1) // 12, (mon - 1) % 12 + 1
    return datetime(year, mon, 1, tzinfo=ZoneInfo(time_zone(DEFAULT_SYSTEM)))


def load(months: Sequence[str], data_dir: Path) -> Data:
    """Trips from January to the last month asked (the forecaster's history), the network from the snapshot."""
    last = max(months)
    every = [m for m in MONTHS if m <= last]
    rows: list[Trip] = []
    rejected = 0
    for month in every:
        for path in month_files(month, data_dir):
            for item in read_trips(path):
                if isinstance(item, Trip):
                    rows.append(item)
                else:
                    rejected += 1
    info = load_station_information(station_information_file(data_dir))["data"]["stations"]  # else the vendored one
    by_id = {str(s["station_id"]): s for s in info}
    used = sorted({t.start_station for t in rows}, key=lambda s: (len(s), s))  # the stations riders pick up at
    excluded: dict[str, str] = {}
    keep = []
    for sid in used:
        s = by_id.get(sid)
        if s is None:
            excluded[sid] = "absent from station_information.json"
        elif not s.get("capacity") or int(s["capacity"]) < 1:
            excluded[sid] = f"capacity {s.get('capacity')} in station_information.json"
        else:
            keep.append(sid)
    network = Network(
        tuple(keep),
        np.array([int(by_id[s]["capacity"]) for s in keep]),
        np.array([float(by_id[s]["lat"]) for s in keep]),
        np.array([float(by_id[s]["lon"]) for s in keep]),
    )
    index = network.index()
    trips = Trips(
        np.array([index.get(t.start_station, OUTSIDE) for t in rows], dtype=np.int64),
        np.array([index.get(t.end_station, OUTSIDE) for t in rows], dtype=np.int64),
        np.array([t.started_at.timestamp() for t in rows]),
        np.array([t.ended_at.timestamp() for t in rows]),
    )
    origin = local_midnight(every[0]).replace(tzinfo=None)
    hours = int((local_midnight(last, 1).replace(tzinfo=None) - origin) // timedelta(hours=1)) + 24
    counts = HourlyCounts.from_trips(trips, network.size, origin, hours, time_zone(DEFAULT_SYSTEM))
    return Data(network, trips, counts, excluded, rejected)


FORECASTERS = {"trailing": TrailingMeanForecaster, "oracle": OracleForecaster}
BIKE_BUDGETS = {
    "none": "no cap on the plan's bikes",
    "naive-each-hour": "the plan's bikes each hour at most what naive would move from the plan's counts",
    "naive-replay": "the plan's bikes at most what naive delivered in its own replay up to that hour (unused "
    "bikes carry forward: over the month no more than naive)",
}


@dataclass(frozen=True)
class Settings:
    fleet: Fleet
    risk: RiskConfig
    time_limit_s: float | None
    forecaster: str = "trailing"
    bike_budget: str = "none"  # BIKE_BUDGETS


_DATA: Data | None = None  # the parent's data, inherited by forked workers


def month_data(data: Data, start: datetime, hours: int) -> tuple[Network, Trips, HourlyCounts]:
    """The stations riders picked up at in the window (a station not open yet is no dock to balance), and the
    trips and counts indexed by them: the same network whichever months a run asks for."""
    t0, t1 = start.timestamp(), start.timestamp() + hours * 3600
    inside = (data.trips.start_s >= t0) & (data.trips.start_s < t1) & (data.trips.start_station != OUTSIDE)
    active = np.unique(data.trips.start_station[inside])
    remap = np.full(data.network.size + 1, OUTSIDE, dtype=np.int64)  # the last entry maps OUTSIDE to itself
    remap[active] = np.arange(len(active))
    net = data.network
    network = Network(tuple(net.station_ids[i] for i in active), net.capacity[active], net.lat[active], net.lon[active])
    trips = Trips(remap[data.trips.start_station], remap[data.trips.end_station], data.trips.start_s, data.trips.end_s)
    c = data.counts
    return network, trips, HourlyCounts(c.origin, c.time_zone, c.pickups[:, active], c.dropoffs[:, active])


def run_month(month: str, settings: Settings) -> tuple[str, dict[str, PolicyResult], float]:
    """The month under the three policies: their results and the month's wall seconds."""
    assert _DATA is not None
    clock = time.perf_counter()
    start = local_midnight(month)
    hours = int((local_midnight(month, 1) - start).total_seconds() // 3600)
    network, trips, counts = month_data(_DATA, start, hours)
    events = window_events(trips, start, hours)
    forecaster = FORECASTERS[settings.forecaster](counts)
    naive = NaivePolicy(network, settings.fleet)
    results = {
        name: replay(network, events, start, hours, p, settings.fleet)
        for name, p in (("none", NoRebalancing()), ("naive", naive))
    }
    budget: BikeBudget | None = None
    if settings.bike_budget == "naive-each-hour":
        budget = SameCountsBudget(naive)
    elif settings.bike_budget == "naive-replay":
        budget = ReplayScheduleBudget(start, results["naive"].bikes_per_hour)
    plan = PlanPolicy(network, settings.fleet, forecaster, settings.risk, settings.time_limit_s, budget)
    results["plan"] = replay(network, events, start, hours, plan, settings.fleet)
    return month, results, time.perf_counter() - clock


def change(new: float, old: float) -> str:
    return "n/a" if old == 0 else f"{100.0 * (new - old) / old:+.1f} %"


def table(months: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Markdown from :func:`summary` figures: per month and the total, each policy's failed pickups + failed
    returns = failures, the fleet's bikes moved / stops, and the plan's changes."""
    head = [
        "month",
        "none: failed pickups + returns",
        "naive: failed pickups + returns",
        "naive: bikes moved / stops",
        "plan: failed pickups + returns",
        "plan: bikes moved / stops",
        "plan vs none (failures)",
        "plan vs naive (failures)",
        "plan vs naive (bikes moved)",
    ]
    keys = ("failed_pickups", "failed_returns", "bikes_moved", "stops")
    totals = {p: dict.fromkeys(keys, 0) for p in POLICIES}
    for figures in months.values():
        for p in POLICIES:
            for k in keys:
                totals[p][k] += int(figures[p][k])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for month, figures in [*sorted(months.items()), ("**total**", totals)]:
        fail = {p: figures[p]["failed_pickups"] + figures[p]["failed_returns"] for p in POLICIES}

        def failures(p: str, f: dict[str, Any] = figures, total: dict[str, int] = fail) -> str:
            return f"{f[p]['failed_pickups']:,} + {f[p]['failed_returns']:,} = {total[p]:,}"

        def work(p: str, f: dict[str, Any] = figures) -> str:
            return f"{f[p]['bikes_moved']:,} / {f[p]['stops']:,}"

        cells = [month, failures("none"), failures("naive"), work("naive"), failures("plan"), work("plan")]
        cells += [
            change(fail["plan"], fail["none"]),
            change(fail["plan"], fail["naive"]),
            change(figures["plan"]["bikes_moved"], figures["naive"]["bikes_moved"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    global _DATA
    p = argparse.ArgumentParser(prog="python -m benchmarks.rebalancing_backtest", description=__doc__.split("\n")[0])
    p.add_argument(
        "--months", nargs="+", default=list(MONTHS), choices=MONTHS, metavar="YYYY-MM", help="2019-01 … 2019-09"
    )
    p.add_argument("--trucks", type=int, default=2)
    p.add_argument("--truck-capacity", type=int, default=20)
    p.add_argument("--service-level", type=float, default=0.10)
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="the plan's CP-SAT deterministic s an hour (default: the product's)",
    )
    p.add_argument(
        "--forecaster",
        choices=sorted(FORECASTERS),
        default="trailing",
        help="what drives the plan: the honest trailing mean (default) or the oracle (a diagnostic bound)",
    )
    p.add_argument(
        "--bike-budget",
        choices=sorted(BIKE_BUDGETS),
        default="none",
        help="; ".join(f"{k}: {v}" for k, v in BIKE_BUDGETS.items()),
    )
    p.add_argument(
        "--bikes-as-naive",
        dest="bike_budget",
        action="store_const",
        const="naive-each-hour",
        help="the same as --bike-budget naive-each-hour (earlier runs' flag)",
    )
    p.add_argument("--jobs", type=int, default=1, help="months in parallel processes")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--json", type=Path, default=None, help="also write every month's figures here")
    p.add_argument("--render", type=Path, default=None, help="only print the table of a run's --json file")
    args = p.parse_args(argv)
    if args.render:
        saved = json.loads(args.render.read_text())
        print(table(saved["months"]))
        return 0

    wall = time.perf_counter()
    load_before = os.getloadavg()
    print(f"load before: {uptime()}")
    data_dir = args.data_dir or get_settings().trips_data_dir
    _DATA = load(args.months, data_dir)
    net = _DATA.network
    print(
        f"{net.size} stations with a capacity (each month: those riders picked up at), {int(net.capacity.sum())} "
        "docks; not modelled (trips kept): "
        + ", ".join(f"{s} ({why})" for s, why in _DATA.excluded.items())
        + f"; {len(_DATA.trips):,} trips read, {_DATA.rejected_rows} rows rejected; read in "
        f"{time.perf_counter() - wall:.1f} s"
    )
    settings = Settings(
        Fleet(trucks=args.trucks, truck_capacity=args.truck_capacity),
        RiskConfig(service_level=args.service_level),
        args.time_limit,
        args.forecaster,
        args.bike_budget,
    )
    limit = default_time_limit(net.size) if args.time_limit is None else args.time_limit
    print(
        f"fleet {settings.fleet}; plan: service level {args.service_level}, CP-SAT {limit} deterministic s an "
        f"hour; forecaster: {FORECASTERS[args.forecaster](_DATA.counts).name}"
        + f"; bike budget: {BIKE_BUDGETS[args.bike_budget]}"
    )
    done: dict[str, dict[str, PolicyResult]] = {}
    if args.jobs > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
            # Busier (later) months first, so the two processes finish together.
            futures = [pool.submit(run_month, m, settings) for m in sorted(args.months, reverse=True)]
            for future in futures:
                month, results, seconds = future.result()
                done[month] = results
                report_month(month, results, seconds)
    else:
        for m in args.months:
            month, results, seconds = run_month(m, settings)
            done[month] = results
            report_month(month, results, seconds)
    print()
    figures = {m: {name: summary(r) for name, r in done[m].items()} for m in sorted(done)}
    print(table(figures))
    elapsed = time.perf_counter() - wall
    print(
        f"\nrun time {elapsed / 60:.1f} min ({elapsed:.0f} s), jobs {args.jobs}; "
        f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; {uptime()}"
    )
    if args.json:
        meta = {
            "argv": sys.argv[1:],
            "seconds": round(elapsed),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        }
        args.json.write_text(json.dumps({"run": meta, "months": figures}, indent=1))
    return 0


def summary(r: PolicyResult) -> dict[str, object]:
    return {
        "failed_pickups": int(r.failed_pickups.sum()),
        "failed_returns": int(r.failed_returns.sum()),
        "bikes_moved": r.bikes_moved,
        "stops": r.stops,
        "moves": r.moves,
        "pickups": r.pickups,
        "returns": r.returns,
        "lost_returns": r.lost_returns,
        "truck_seconds": r.truck_seconds,
        "over_budget": r.over_budget,
        "decide_seconds": round(r.decide_seconds, 1),
        "statuses": r.statuses,
    }


def report_month(month: str, results: dict[str, PolicyResult], seconds: float) -> None:
    parts = []
    for name in POLICIES:
        r = results[name]
        parts.append(
            f"{name} {r.failures:,} failures ({r.failed_pickups.sum():,} pickups, {r.failed_returns.sum():,} returns), "
            f"{r.bikes_moved:,} bikes, {r.stops:,} stops, {r.over_budget} over budget, decide {r.decide_seconds:.1f} s"
            + (f", {r.statuses}" if r.statuses else "")
        )
    r0 = results["none"]
    print(
        f"{month}: {len(r0.failed_pickups)} stations, {r0.pickups:,} pickups and {r0.returns + r0.lost_returns:,} "
        "dropoffs at them; " + "; ".join(parts) + f"; {seconds:.0f} s",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
