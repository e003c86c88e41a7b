"""Size and load time of the registry's model file: deflated skops (what the registry writes) against pickle
(what it wrote before issue 21 point 3) and skops' default, stored (uncompressed) members.

Builds a realistic StationFlowModel: the hourly run's default configuration (``TrainConfig``: Skellam median,
direct mean, 300 boosting iterations) fitted on the real Citi Bike JC features of the 26-week window before
``--cutoff``, less its 7 validation days (the research script's pandas features, the dbt columns; no
emulator needed). ``--synthetic`` fits the same configuration on random features instead (no trip files).
Then prints each format's size and the median of ``--repeat`` loads, with ``uptime`` before and after.

    .venv/bin/python -m benchmarks.model_format [--cutoff 2019-09-24T04:00Z] [--repeat 20] [--synthetic]

``model_file.loads`` is the registry's whole load: the schema gate (``check``), skops' audit and build, and
the type check; pickle is timed only for comparison, on bytes this process just made.

Measured 2026-12-07, cut-off 2019-09-24 04:00 UTC (222,600 rows x 45 features; 300 / 300 / 151 boosting
iterations), median of 20 loads, load average 0.75 -> 1.29 (2 cores):
| format | bytes | load |
|---|---|---|
| pickle (before) | 2,833,008 | 5.4 ms |
| skops deflated, the registry's load (gate + skops audit + build) | 1,947,652 | 377.6 ms (70x) |
| of which the schema gate (JSON read of the type list) | | 26.3 ms |
| skops stored (skops' default) | 7,682,682 | 353.2 ms |
Dump at training: 478 ms deflated (321 ms stored). A run loads the serving model twice (publish verifies it,
predict loads it): ~0.75 s of an hourly run that takes 10-28 s.
"""

from __future__ import annotations

import argparse
import io
import pickle
import statistics
import subprocess
import time
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def real_frame(cutoff: datetime, weeks: int, validation_days: int) -> pd.DataFrame:
    """The training part of the hourly run's window: labels joined to the features as of each hour's start."""
    from research import model_research as research

    labels = research.hourly_counts()
    features = research.features(labels, research.capacities())
    start, end = pd.Timestamp(cutoff - timedelta(weeks=weeks)), pd.Timestamp(cutoff - timedelta(days=validation_days))
    labels = labels[(labels["hour_start"] >= start) & (labels["hour_start"] < end)]
    return labels.merge(features.rename(columns={"as_of": "hour_start"}), on=["station_id", "hour_start"])


def synthetic_frame(rows: int = 230_000, columns: int = 46, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"f{i}" for i in range(columns)])
    frame["station_id"] = "s"
    frame["pickups"] = rng.poisson(np.exp(0.3 * frame["f0"] + 0.2 * frame["f1"]))
    frame["dropoffs"] = rng.poisson(np.exp(0.3 * frame["f2"] - 0.2 * frame["f1"]))
    frame["net_change"] = frame["dropoffs"] - frame["pickups"]
    return frame


def median_seconds(load: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def uncompressed(data: bytes) -> bytes:
    """The same skops file with its members stored, not deflated (skops' default), for comparison."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    return out.getvalue()


def main() -> None:
    import skops.io

    from include.ml import model_file
    from include.ml.dataset import feature_columns
    from include.ml.hourly import TrainConfig
    from include.ml.model import StationFlowModel

    parser = argparse.ArgumentParser()
    parser.add_argument("--cutoff", default="2019-09-24T04:00:00+00:00")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--synthetic", action="store_true", help="random features instead of the trip files")
    args = parser.parse_args()
    print(f"uptime before: {uptime()}")
    config = TrainConfig()
    start = time.perf_counter()
    if args.synthetic:
        frame, source = synthetic_frame(), "synthetic, 46 random features"
    else:
        cutoff = datetime.fromisoformat(args.cutoff.replace("Z", "+00:00"))
        frame = real_frame(cutoff, config.window_weeks, config.validation_days)
        source = f"Citi Bike JC, {config.window_weeks} weeks before {cutoff:%Y-%m-%d %H:%M} UTC"
        source += f" less {config.validation_days} validation days"
    features = [c for c in feature_columns(frame) if c != "as_of"]
    built = time.perf_counter() - start
    print(f"training frame: {len(frame):,} rows x {len(features)} features ({source}), {built:.1f} s")
    start = time.perf_counter()
    model = StationFlowModel(features, config.net_forecast, dict(config.params), mean_forecast=config.mean_forecast)
    model.fit(frame)
    iterations = {name: p.named_steps["boost"].n_iter_ for name, p in model.pipelines.items()}
    print(f"fit: {time.perf_counter() - start:.1f} s, boosting iterations {iterations}")

    pickled = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
    start = time.perf_counter()
    saved = model_file.dumps(model)
    dump_s = time.perf_counter() - start
    plain = uncompressed(saved)
    sample = frame.sample(min(len(frame), 5_000), random_state=0)
    expected = model.predict(sample)
    for data in (saved, plain):
        pd.testing.assert_frame_equal(model_file.loads(data).predict(sample), expected, check_exact=True)

    rows = [
        ("pickle (before)", len(pickled), median_seconds(lambda: pickle.loads(pickled), args.repeat)),
        (
            "skops deflated: registry load (gate+audit+build)",
            len(saved),
            median_seconds(lambda: model_file.loads(saved), args.repeat),
        ),
        (
            "  of which the schema gate alone",
            len(saved),
            median_seconds(lambda: model_file.check(saved), args.repeat),
        ),
        (
            "  skops.io.loads alone",
            len(saved),
            median_seconds(lambda: skops.io.loads(saved, trusted=list(model_file.TRUSTED_TYPES)), args.repeat),
        ),
        (
            "skops stored, skops' default (not used)",
            len(plain),
            median_seconds(lambda: model_file.loads(plain), args.repeat),
        ),
    ]
    print(f"\nmedian of {args.repeat} loads each; predictions of every skops load identical to the fitted model's")
    print(f"{'format':<50} {'bytes':>12} {'load (median)':>14} {'vs pickle':>10}")
    for name, size, seconds in rows:
        print(f"{name:<50} {size:>12,} {seconds * 1000:>11.1f} ms {seconds / rows[0][2]:>9.1f}x")
    print(f"skops dump (training): {dump_s * 1000:.0f} ms; skops / pickle size: {len(saved) / len(pickled):.2f}")
    print(f"uptime after: {uptime()}")


if __name__ == "__main__":
    main()
