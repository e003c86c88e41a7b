"""The pictures of the crew view in README.md and docs/operations.md: the plan as the Airflow UI shows it on a
desktop, the same page on a 390-px phone, and (not with ``--morning``) the engineers' detail: serving model, live
performance.

    source scripts/dev_env.sh && python -m tests.browser.screenshots [--out docs/screenshots] [--morning]

Without ``--morning`` it shows whatever the default settings hold (run ``make demo`` first; the plan needs the
hourly rebalancing run's ``station_risk`` and ``rebalancing_plan`` rows). With ``--morning`` it builds a world
of its own on the emulators (dataset and bucket ``…_morning``, dropped afterwards): the test fixture's model,
forecast and performance, and a Monday 7 am plan over the real Jersey City stations of the seed with
**synthetic** bikes and rates (see :func:`morning_plan`), for pictures before the producer has run.

Same path as the browser test: a real ``airflow api-server`` with the plugin, Debian's headless Chromium.
"""

from __future__ import annotations

import argparse
import csv
import math
import random
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from tests.browser import harness

TRUCKS, TRUCK_CAPACITY, MOVES_PER_TRUCK, SERVICE_LEVEL = 2, 20, 3, 0.10  # RebalancingConfig's defaults
MIN_BIKES = 3  # no crew drives across town for a bike or two
# Where the morning's riders go: the PATH stations and the waterfront fill up, the residential west empties.
SINKS = ("3186", "3202", "3639", "3792", "3214", "3187", "3199", "3638")
SEED_CSV = harness.ROOT / "include" / "dbt" / "seeds" / "stations.csv"


def jersey_city() -> list[tuple[str, str, float, float, int]]:
    """The seed's Jersey City stations (ids 3xxx in the city's box): id, name, lat, lon, capacity."""
    with SEED_CSV.open() as f:
        rows = [
            (r["station_id"], r["name"], float(r["lat"]), float(r["lon"]), int(r["capacity"]))
            for r in csv.DictReader(f)
        ]
    return [r for r in rows if r[0].startswith("3") and 40.70 < r[2] < 40.76 and -74.09 < r[3] < -74.02]


def risks(bikes: int, capacity: int, pickups: float, dropoffs: float) -> tuple[float, float]:
    """(p_empty, p_full) at the end of a window with Poisson pickups and dropoffs (Skellam tails): a stand-in
    for the producer's birth-death chain, good enough for a picture."""
    from scipy.stats import skellam

    return float(skellam.sf(bikes - 1, pickups, dropoffs)), float(skellam.sf(capacity - bikes - 1, dropoffs, pickups))


def _km(a: dict, b: dict) -> float:
    return math.hypot((a["lat"] - b["lat"]) * 111.32, (a["lon"] - b["lon"]) * 111.32 * math.cos(math.radians(40.72)))


def morning_plan(hour: datetime) -> tuple[list[dict], list[dict]]:
    """``station_risk`` and ``rebalancing_plan`` rows of a synthetic Monday 7 am (seeded, so the same each run).

    Bikes and 3-hour rates are drawn so that the PATH and waterfront stations (SINKS) fill and the others
    empty; risks are Skellam tails, the target interval the counts with both 3-hour risks within 10 %; three
    two trucks of 20 take bikes from the station furthest above its interval to the nearest one below its own.
    The seed's capacity-0 stations stay as they are; one station's status is made stale and one missing."""
    rng = random.Random(7)
    rows = []
    for sid, name, lat, lon, capacity in jersey_city():
        sink = sid in SINKS
        pickups = rng.uniform(1.0, 4.0) if sink else rng.uniform(1.0, 6.0)
        dropoffs = rng.uniform(5.0, 12.0) if sink else rng.uniform(0.5, 3.0)
        fill = rng.uniform(0.5, 0.95) if sink else rng.uniform(0.15, 0.8)
        row = {
            "plan_hour": hour, "station_id": sid, "name": name, "lat": lat, "lon": lon, "capacity": capacity,
            "bikes": round(capacity * fill), "status_reported_at": hour - timedelta(minutes=rng.randint(1, 4)),
            "expected_pickups_3h": round(pickups, 2), "expected_dropoffs_3h": round(dropoffs, 2),
            "service_level": SERVICE_LEVEL, "model_version": "20190930T1000Z",
            "generated_at": hour + timedelta(minutes=3),
            "p_empty_1h": None, "p_empty_3h": None, "p_full_1h": None, "p_full_3h": None, "target_low": None,
            "target_high": None, "reachable": None, "bikes_after_plan": None, "problem": None,
        }  # fmt: skip
        if sid == "3191":  # a station that stopped reporting
            row["status_reported_at"] = hour - timedelta(hours=2, minutes=40)
            row["problem"] = "status is 160 min old"
        if sid == "3280":
            row.update(bikes=None, status_reported_at=None, problem="no status reported")
        if capacity <= 0:
            row["problem"] = "no capacity known"
        if row["bikes"] is not None and capacity > 0:
            b = row["bikes"]
            row["p_empty_1h"], row["p_full_1h"] = risks(b, capacity, pickups / 3, dropoffs / 3)
            row["p_empty_3h"], row["p_full_3h"] = risks(b, capacity, pickups, dropoffs)
            worst = [max(risks(n, capacity, pickups, dropoffs)) for n in range(capacity + 1)]
            safe = [n for n, w in enumerate(worst) if w <= SERVICE_LEVEL]
            best = min(range(capacity + 1), key=lambda n: worst[n])
            row["target_low"], row["target_high"] = (safe[0], safe[-1]) if safe else (best, best)
            row["reachable"] = bool(safe)
            row["bikes_after_plan"] = b
        rows.append(row)
    return rows, _moves(rows, hour)


def _moves(rows: list[dict], hour: datetime) -> list[dict]:
    """Greedy moves, three per truck in turn: the (donor above its interval, taker below its own) pair that moves
    the most bikes (up to 20) for the least driving from where the truck is; ``bikes_after_plan`` kept."""
    judged = [r for r in rows if r["target_low"] is not None]
    moves: list[dict] = []
    where: dict[int, dict | None] = dict.fromkeys(range(1, TRUCKS + 1))
    for order in range(1, MOVES_PER_TRUCK + 1):
        for truck in range(1, TRUCKS + 1):
            here = where[truck]
            pairs = [
                (
                    min(
                        TRUCK_CAPACITY,
                        d["bikes_after_plan"] - d["target_high"],
                        t["target_low"] - t["bikes_after_plan"],
                    ),
                    d,
                    t,
                )
                for d in judged
                if d["bikes_after_plan"] > d["target_high"]
                for t in judged
                if t["bikes_after_plan"] < t["target_low"]
            ]
            pairs = [p for p in pairs if p[0] >= MIN_BIKES]
            if not pairs:
                return moves
            bikes, donor, taker = max(
                pairs, key=lambda p: p[0] - 2.0 * ((_km(here, p[1]) if here else 0.0) + _km(p[1], p[2]))
            )
            donor["bikes_after_plan"] -= bikes
            taker["bikes_after_plan"] += bikes
            where[truck] = taker
            moves.append(
                {"plan_hour": hour, "truck": truck, "move_order": order, "from_station": donor["station_id"],
                 "to_station": taker["station_id"], "bikes": bikes, "generated_at": hour + timedelta(minutes=3)}
            )  # fmt: skip
    return moves


@contextmanager
def morning_world() -> Iterator[dict[str, str]]:
    """The ``--morning`` world on the emulators (started if needed); yields the API server's environment."""
    from include.gcp.settings import get_settings
    from include.localstack import stack
    from tests.crew_view import fixtures

    settings = get_settings()
    stack.up(settings)
    world = fixtures.build_world(settings, "morning", with_plan=False)
    try:
        risk, moves = morning_plan(fixtures.PLAN_HOUR)
        fixtures.write_plan(world.settings, fixtures.PLAN_HOUR, risk, moves)
        risk, moves = morning_plan(fixtures.EARLIER_HOUR)  # an earlier hour for the picker
        fixtures.write_plan(world.settings, fixtures.EARLIER_HOUR, risk, moves[:2])
        yield harness.settings_env(world.settings.dataset, world.settings.bucket)
    finally:
        fixtures.drop(world.settings)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=harness.ROOT / "docs" / "screenshots")
    parser.add_argument("--morning", action="store_true", help="a synthetic Monday 7 am world of its own")
    args = parser.parse_args(argv)
    chromium = harness.chromium_path()
    if chromium is None:
        raise SystemExit(f"chromium is not installed ({harness.INSTALL_HINT})")
    args.out.mkdir(parents=True, exist_ok=True)
    world = morning_world() if args.morning else _nothing()
    with (
        tempfile.TemporaryDirectory() as tmp,
        world as env,
        harness.api_server(env, Path(tmp) / "api-server.log") as base,
    ):
        with harness.browser_context(chromium) as context:
            in_airflow, _ = harness.open_in_airflow(context, base)
            _save(in_airflow, args.out / "crew-view-in-airflow.png")
            if not args.morning:  # the morning world's model is the fixture's (a flat evaluation picture)
                _, model = harness.screenshot_sections(harness.open_view(context, base), Path(tmp))
                (args.out / model.name).write_bytes(model.read_bytes())
                print(args.out / model.name)
        with harness.browser_context(chromium, phone=True) as context:
            _save(harness.open_view(context, base), args.out / "crew-view-phone.png")


@contextmanager
def _nothing() -> Iterator[dict[str, str]]:
    yield {}


def _save(page, path: Path) -> None:
    page.screenshot(path=str(path))
    print(path)


if __name__ == "__main__":
    main()
