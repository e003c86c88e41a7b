"""Where one system's fit spends its memory: the peak RSS of each step of the hourly train-and-evaluate.

Runs the steps of :func:`include.ml.hourly.train_and_evaluate` (the window's read and join, the split, the model's
fits, the drift profile and bars, the later horizons' and the baselines' scores) on a synthetic window of
``--stations`` x ``--weeks`` hours with the feature table's 46 columns, without the emulator: the Storage Read API
is replaced by Arrow tables of the same shape (``dataset._read_arrow``), everything after it is the product's code.
Memory depends on the rows and the columns, not on the boosting rounds, so ``--rounds`` stays small (the
benchmark's MAE is of random data: it only shows that two runs fitted the same model).

    .venv/bin/python -m benchmarks.fit_memory --stations 500 --weeks 26

``benchmarks/country.py --train-at`` measures the same fit end to end on real rows through the local stack.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

FEATURES = [f"feature_{i}" for i in range(44)] + ["hour_of_day", "day_of_week"]
CUTOFF = datetime(2019, 9, 23, 22, tzinfo=UTC)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


class Peaks:
    """The largest RSS seen during each named step, sampled every 20 ms by a thread."""

    def __init__(self) -> None:
        self.step, self.peaks = "start", {"start": rss_mb()}
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peaks[self.step] = max(self.peaks.get(self.step, 0.0), rss_mb())
            time.sleep(0.02)

    @contextmanager
    def at(self, step: str) -> Iterator[None]:
        time.sleep(0.05)  # the last step's final samples
        self.step = step
        yield


def synthetic_read(stations: int, weeks: int) -> Any:
    """``dataset._read_arrow`` for a window of ``stations`` x ``weeks`` hours: features and labels as Poisson counts."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from include.ml import dataset

    hours = pd.date_range(CUTOFF - timedelta(weeks=weeks), CUTOFF, freq="h", inclusive="left")
    ids = np.array([f"s{i}" for i in range(stations)], dtype=object)
    rng = np.random.default_rng(0)

    def read(table: str, restriction: str, settings: Any, columns: tuple[str, ...] = ()) -> pa.Table:
        n = len(hours) * stations
        keys = {
            "station_id": pa.array(np.tile(ids, len(hours)), pa.string()),
            "time": pa.array(np.repeat(hours.to_numpy(), stations), pa.timestamp("us", tz="UTC")),
        }
        if table == dataset.FEATURES_TABLE:
            columns_ = {"system_id": pa.array(["syn"] * n), "station_id": keys["station_id"], "as_of": keys["time"]}
            columns_.update({name: pa.array(rng.poisson(2, n) / 3) for name in FEATURES})
            return pa.table(columns_)
        pickups, dropoffs = rng.poisson(1, n), rng.poisson(1, n)
        return pa.table(
            {
                "station_id": keys["station_id"],
                "hour_start": keys["time"],
                "pickups": pickups,
                "dropoffs": dropoffs,
                "net_change": dropoffs - pickups,
            }
        )

    return read


def measure(stations: int, weeks: int, rounds: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingRegressor

    from benchmarks.country import load
    from include.gcp.settings import get_settings
    from include.ml import baselines, dataset, drift, hourly, memory
    from include.ml.model import DEFAULT_PARAMS, StationFlowModel
    from include.systems import zone_or_default

    zone = zone_or_default(None)  # the default system's clock for the calendar inputs

    peaks = Peaks()
    dataset._read_arrow = synthetic_read(stations, weeks)  # the stand-in for the Storage Read API
    fits, fit = [0], HistGradientBoostingRegressor.fit

    def counted_fit(self: Any, *args: Any, **kwargs: Any) -> Any:  # each boosting fit is a step of its own
        fits[0] += 1
        with peaks.at(f"fit {fits[0]}"):
            fitted = fit(self, *args, **kwargs)
        peaks.step = "inputs"
        return fitted

    HistGradientBoostingRegressor.fit = counted_fit
    run = hourly.Run(CUTOFF, hourly.TrainConfig(window_weeks=weeks))
    began = time.monotonic()
    with peaks.at("read and join"):
        frame = dataset.training_frame(run.window, get_settings())
        rows = len(frame)
    with peaks.at("split"):
        train_part, valid_part = hourly._split(frame, run)
        labels = frame[["station_id", "hour_start", *dataset.LABELS]]
        del frame
        memory.release()
    features = dataset.feature_columns(train_part)
    with peaks.at("inputs"):  # between the fits: building each part's inputs
        model = StationFlowModel(
            features,
            run.config.net_forecast,
            {**DEFAULT_PARAMS, "max_iter": rounds},
            mean_forecast=run.config.mean_forecast,
            horizons=run.config.horizons,
            time_zone=zone,
        ).fit(train_part)
    with peaks.at("scores"):
        profile = drift.profile(train_part, features)
        by_horizon = model.predict_horizons(valid_part, labels)
        predicted = by_horizon[by_horizon["horizon"] == 1].drop(columns="horizon")
        naive = baselines.baseline_predictions(labels, train_part, valid_part, time_zone=zone)
        metrics = hourly._metrics(valid_part, predicted, naive)
        hourly._horizon_metrics(labels, train_part, valid_part, by_horizon, zone)
        drift.thresholds(profile, train_part, features)
    with peaks.at("end"):
        pass
    return {
        "stations": stations,
        "weeks": weeks,
        "rows": rows,
        "peak_mb": round(max(peaks.peaks.values())),
        "steps_mb": {step: round(mb) for step, mb in peaks.peaks.items()},
        "s": round(time.monotonic() - began, 1),
        "mae": round(metrics["model"]["mae"], 4),
        "load": load(),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_memory", description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=500)
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--rounds", type=int, default=3, help="boosting rounds (memory does not depend on them)")
    args = parser.parse_args(argv)
    result = measure(args.stations, args.weeks, args.rounds)
    print(f"{args.stations} stations x {args.weeks} weeks: {result['rows']:,} rows, peak {result['peak_mb']:,} MB")
    for step, mb in result["steps_mb"].items():
        print(f"  {step:>14}: {mb:,} MB")
    print(f"  {result['s']} s, MAE {result['mae']} (random data), load {result['load']}")


if __name__ == "__main__":
    main()
