"""Wall time and peak memory of one hourly train + predict on 8 weeks of real Citi Bike JC data.

Builds the feature-store tables (contract shape, hourly as_of) from the trip files with the research
script's pandas features, loads them into a throw-away dataset and bucket on the local stack (not timed),
then times each step of one run (train and evaluate, publish, predict, write Avro) through the production
code in include/ml. Target: < 60 s locally.

    .venv/bin/python benchmarks/train_predict.py [--cutoff 2019-09-01T04:00Z] [--weeks 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def load(settings, labels: pd.DataFrame, features: pd.DataFrame) -> None:
    """Create the throw-away dataset and bucket, then load the tables as the ML tests do."""
    from include.gcp import clients
    from tests.ml.conftest import load_feature_store

    clients.bigquery_client(settings).create_dataset(settings.dataset, exists_ok=True)
    clients.storage_client(settings).create_bucket(settings.bucket)
    load_feature_store(settings, labels, features)


def drop(settings) -> None:
    from contextlib import suppress

    from google.api_core.exceptions import NotFound

    from include.gcp import clients

    clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
    with suppress(NotFound):
        clients.storage_client(settings).bucket(settings.bucket).delete(force=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cutoff", default="2019-09-01T04:00:00+00:00", help="the run's hour (UTC)")
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args()
    cutoff = datetime.fromisoformat(args.cutoff.replace("Z", "+00:00"))

    import model_research as research

    from include.gcp.settings import get_settings
    from include.ml import hourly, registry

    t0 = time.perf_counter()
    labels = research.hourly_counts()
    features = research.features(labels, research.capacities())
    first = pd.Timestamp(cutoff - timedelta(weeks=args.weeks))
    labels = labels[(labels["hour_start"] >= first) & (labels["hour_start"] < pd.Timestamp(cutoff))]
    features = features[(features["as_of"] >= first) & (features["as_of"] <= pd.Timestamp(cutoff))]
    tag = uuid.uuid4().hex[:8]
    settings = get_settings().with_names(dataset=f"bench_ml_{tag}", bucket=f"bench-ml-{tag}")
    load(settings, labels, features)
    print(
        f"setup (not timed): {len(labels):,} label rows, {len(features):,} feature rows, "
        f"{features.shape[1] - 2} features, {time.perf_counter() - t0:.1f} s"
    )

    config = hourly.TrainConfig(window_weeks=args.weeks)
    timings: dict[str, float] = {}
    try:
        from include.ml import dataset

        step = time.perf_counter()
        window = dataset.training_frame(hourly.Run(cutoff, config).window, settings)
        read_window = time.perf_counter() - step
        step = time.perf_counter()
        dataset.prediction_frame(cutoff, settings)
        read_one_hour = time.perf_counter() - step
        print(
            f"reads alone: window {len(window):,} rows {read_window:.1f} s, "
            f"features as of the cut-off {read_one_hour:.1f} s"
        )
        start = time.perf_counter()
        step = time.perf_counter()
        evaluation = hourly.train_and_evaluate(cutoff, config, settings)
        timings["train+eval"] = time.perf_counter() - step
        step = time.perf_counter()
        published = hourly.publish(cutoff, evaluation, config, settings)
        timings["publish"] = time.perf_counter() - step
        step = time.perf_counter()
        rows = hourly.predict(cutoff, published["serving_version"], settings)
        timings["predict"] = time.perf_counter() - step
        step = time.perf_counter()
        uri = hourly.write_predictions(rows, settings)
        timings["write_avro"] = time.perf_counter() - step
        total = time.perf_counter() - start
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"one hourly run, cut-off {cutoff:%Y-%m-%d %H:%M} UTC, {args.weeks}-week window")
        for name, secs in timings.items():
            print(f"  {name:<11} {secs:6.1f} s")
        print(f"  {'total':<11} {total:6.1f} s   (target < 60 s)")
        print(f"  peak RSS    {peak_mb:6.0f} MB")
        print(f"  rows: {evaluation['rows']}, predictions: {len(rows)} -> {uri}")
        print(f"  gate: {evaluation['gate']}")
        print(
            json.dumps({k: {m: round(v, 3) for m, v in d.items()} for k, d in evaluation["metrics"].items()}, indent=1)
        )
        assert registry.read_metadata(registry.version_for(cutoff), settings) is not None
    finally:
        drop(settings)


if __name__ == "__main__":
    main()
