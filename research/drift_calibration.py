"""Does ``feature_drift`` cry wolf? Its false-alarm rate per week on the replayed normal weeks of Jan-Sep 2019,
and whether it still fires on a planted shift.

Each weekly check is the hourly DAG's at cut-off ``T``: the serving model (trained at ``T``, a 26-week window
whose last 7 days are held out) stored the feature profile of its training part ``[T - 26 w, T - 7 d)``; the
check compares the 7 days before ``T`` with it (include/ml/drift.py). Features are the research harness's
pandas copy of the dbt contract (model_research.py). A week alarms when any feature's score passes its
threshold. Rules compared:

- ``fixed``: PSI > ``drift.ALERT_PSI`` (0.25) on every feature (the rule before calibration);
- ``calibrated``: :func:`include.ml.drift.thresholds`, each feature's own bar from the week-to-week PSI its
  training part already showed (the product's rule).

Planted shifts (each on the checked week only, one at a time): a feature doubled (a unit or join change), a
feature stuck at zero (a broken upstream), the stations' hours shifted by 6 (a time-zone bug).

    .venv/bin/python -m research.drift_calibration [--first 2019-02-05]
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np
import pandas as pd

from include.ml import drift
from research import model_research as research

LABELS = ("pickups", "dropoffs", "net_change", "hour_start")
PLANTED = {
    "pickup_count_24h doubled": lambda w: w.assign(pickup_count_24h=w["pickup_count_24h"] * 2),
    "system_dropoff_count_24h stuck at 0": lambda w: w.assign(system_dropoff_count_24h=0.0),
    "hour_of_day shifted by 6 h": lambda w: w.assign(hour_of_day=(w["hour_of_day"] + 6) % 24),
}


def weekly_checks(data: pd.DataFrame, first: pd.Timestamp, weeks: int = 26) -> list[dict]:
    """One check per week: the cut-off, the fixed and calibrated verdicts, the top features."""
    feature_cols = [c for c in data.columns if c not in ("station_id", "as_of", *LABELS)]
    out = []
    cutoff = first
    end = data["as_of"].max() + pd.Timedelta(hours=1)
    while cutoff <= end:
        window_start, holdout = cutoff - pd.Timedelta(weeks=weeks), cutoff - pd.Timedelta(days=7)
        train = data[(data["as_of"] >= window_start) & (data["as_of"] < holdout)]
        week = data[(data["as_of"] >= holdout) & (data["as_of"] < cutoff)]
        profile = drift.profile(train, feature_cols)
        bars = drift.thresholds(profile, train, feature_cols)
        scores = drift.report(profile, week)
        row = {
            "cutoff": cutoff,
            "fixed": sorted(f for f, v in scores.items() if v > drift.ALERT_PSI),
            "calibrated": sorted(drift.shifted(scores, bars)),
            "top": list(scores.items())[:3],
        }
        for name, plant in PLANTED.items():
            row[name] = sorted(drift.shifted(drift.report(profile, plant(week)), bars))
        out.append(row)
        cutoff += pd.Timedelta(days=7)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", default="2019-02-05 05:00", help="the first weekly cut-off (UTC)")
    args = parser.parse_args()
    started = time.perf_counter()
    print(subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip())
    labels = research.hourly_counts()
    feats = research.features(
        labels, research.capacities(), research.us_holidays(), research.system_quarter_hours(labels)
    )
    data = feats.merge(labels, left_on=["station_id", "as_of"], right_on=["station_id", "hour_start"])
    data = data[data["as_of"] >= labels["hour_start"].min() + pd.Timedelta(days=7)]  # a week of lag history
    checks = weekly_checks(data, pd.Timestamp(args.first, tz="UTC"))
    for c in checks:
        planted = ", ".join(f"{name}: {'fires' if c[name] else 'QUIET'}" for name in PLANTED)
        print(
            f"{c['cutoff']:%Y-%m-%d}  fixed {len(c['fixed']):2d} features  calibrated {c['calibrated'] or '-'}  "
            f"top {', '.join(f'{n} {v:.2f}' for n, v in c['top'])}  | {planted}"
        )
    n = len(checks)
    fixed = sum(bool(c["fixed"]) for c in checks)
    calibrated = sum(bool(c["calibrated"]) for c in checks)
    print(f"\n{n} weekly checks, {data['as_of'].min():%Y-%m-%d} .. {data['as_of'].max():%Y-%m-%d}")
    print(f"false alarms, fixed PSI > {drift.ALERT_PSI}: {fixed}/{n} weeks ({fixed / n:.0%})")
    print(f"false alarms, calibrated: {calibrated}/{n} weeks ({calibrated / n:.0%})")
    for name in PLANTED:
        fired = sum(bool(c[name]) for c in checks)
        print(f"planted '{name}': fires in {fired}/{n} weeks ({fired / n:.0%})")
    print(
        f"{time.perf_counter() - started:.0f} s; " + subprocess.run(["uptime"], capture_output=True, text=True).stdout
    )


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
