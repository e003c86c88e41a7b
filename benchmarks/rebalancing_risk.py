"""How long the fleet's empty/full risk takes (``include/rebalancing/risk.py``, issue 22 §3).

A synthetic fleet per size (seeded): capacities 10-60 docks, bikes uniform in ``0..capacity``, pickup and
dropoff rates uniform 0-30 per hour for each of the 3 hours, so no two stations share a chain and the
dedupe saves nothing (the worst case). Each size is timed ``--repeat`` times on ``station_risk`` end to end
(validation, exact hitting probabilities for every starting count, target intervals); the median and the
machine's 1-minute load average (``os.getloadavg()``) at that moment are printed beside it. The issue asks
for well under 5 s at 53 stations and under ~30 s at 2,000.

    .venv/bin/python -m benchmarks.rebalancing_risk [--sizes 53 500 2000 5000] [--repeat 3]

Measured 2026-12-07 (2 cores shared with other work), median of 3: 53 stations 0.03 s (load 2.72), 500
0.24 s (2.72), 2,000 0.78 s (2.82), 5,000 1.92 s (2.99); a third of the synthetic stations reachable at 0.10.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import time

import numpy as np

from include.rebalancing.risk import RiskConfig, station_risk


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def fleet(n: int, seed: int = 22) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    capacity = rng.integers(10, 61, n)
    bikes = rng.integers(0, capacity + 1)
    return bikes, capacity, rng.uniform(0, 30, (n, 3)), rng.uniform(0, 30, (n, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[53, 500, 2000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load before: {uptime()}", flush=True)
    station_risk(*fleet(5), RiskConfig())  # imports and first-call set-up out of the figures
    for n in args.sizes:
        data = fleet(n)
        seconds = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            risk = station_risk(*data)
            seconds.append(time.perf_counter() - started)
        load = os.getloadavg()[0]
        print(
            f"{n:>6,} stations: {statistics.median(seconds):6.2f} s (median of {args.repeat}: "
            f"{', '.join(f'{x:.2f}' for x in seconds)}; load {load:.2f}); "
            f"{risk.reachable.mean():.0%} reachable at service level 0.10",
            flush=True,
        )
    print(f"load after: {uptime()}")


if __name__ == "__main__":
    main()
