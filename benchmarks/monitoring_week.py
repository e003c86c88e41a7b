"""A replayed week of live-model monitoring on the local stack, and the figures it gives.

On the demo's state (``make demo`` first: Jan-Sep 2019 of history, features up to 2019-09-30 04:00):

1. train a model at the week's first hour (``include/ml/hourly.py``, as the hourly DAG would; committed
   under its own version, ``latest.json`` never moves back);
2. serve it for every hour of the week: its forecasts go to Avro and ``station_predictions`` exactly as
   ``write_predictions`` does in the DAG. One model serves the whole week (the DAG retrains every hour;
   a week-old model is the harder test of "still beats naive");
3. run ``bikeshare_monitoring`` for the hour after the week (``airflow dags test``, the real DAG):
   dbt ``model_performance``, the checks and their alerts, feature drift;
4. print the 24 h and 7 d scores of the model and the four naive baselines, the alerts that fired and the
   largest feature drifts, with the machine's load.

    source scripts/dev_env.sh && .venv/bin/python -m benchmarks.monitoring_week [--end 2019-09-30T04:00Z]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from google.api_core.exceptions import NotFound

from include.gcp import clients
from include.gcp.settings import get_settings
from include.gcp.tables import FEATURE_DRIFT, MODEL_PERFORMANCE
from include.ml import hourly
from include.monitoring import alerts


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def parse_hour(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC).replace(minute=0, second=0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--end", default="2019-09-30T04:00Z", help="first hour after the served week (UTC)")
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args(argv)
    end = parse_hour(args.end)
    start = end - timedelta(days=args.days)
    s = get_settings()
    print(f"load before: {uptime()}")
    alerts_before = len(alerts.read_log(s))

    t0 = time.monotonic()
    evaluation = hourly.train_and_evaluate(start)
    published = hourly.publish(start, evaluation)
    version = published.serving_version
    print(f"model {published.version}: promoted={published.promoted} ({evaluation.gate}); serving {version}")
    trained = time.monotonic()

    hours = [start + timedelta(hours=h) for h in range(int((end - start) / timedelta(hours=1)))]
    for hour in hours:
        hourly.write_predictions(hour, version, hourly.predict(hour, version))
    served = time.monotonic()
    print(f"served {len(hours)} hours with {version}: {served - trained:.1f} s (training {trained - t0:.1f} s)")

    env = dict(os.environ)
    log_path = s.state_dir / "monitoring-week-dag.log"
    with log_path.open("w") as log:
        proc = subprocess.run(
            [
                sys.executable.replace("python", "airflow"),
                "dags",
                "test",
                "bikeshare_monitoring",
                (end + timedelta(minutes=15)).isoformat(),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
        )
    monitored = time.monotonic()
    print(
        f"bikeshare_monitoring for {end + timedelta(minutes=15):%Y-%m-%d %H:%M} UTC: exit {proc.returncode}, "
        f"{monitored - served:.1f} s (log {log_path})"
    )
    if proc.returncode:
        return proc.returncode

    bq = clients.bigquery_client(s)
    rows = list(
        bq.query(
            f"SELECT * FROM `{s.table_id(MODEL_PERFORMANCE)}` WHERE window_end = TIMESTAMP '{end.isoformat()}' "
            "AND predictor NOT LIKE 'risk_%' ORDER BY window_name, mae"
        ).result()
    )
    print(f"\nmodel_performance at window_end {end:%Y-%m-%d %H:%M} UTC (served by {version}):")
    print(f"{'window':<7}{'predictor':<40}{'hours':>6}{'st-hours':>9}{'MAE':>8}{'RMSE':>8}{'p@10':>7}")
    for r in rows:
        p10 = "-" if r["precision_at_10"] is None else f"{r['precision_at_10']:.3f}"
        print(
            f"{r['window_name']:<7}{r['predictor']:<40}{r['scored_hours']:>6}{r['station_hours']:>9}"
            f"{r['mae']:>8.3f}{r['rmse']:>8.3f}{p10:>7}"
        )
    ends = next(
        iter(bq.query(f"SELECT COUNT(DISTINCT window_end) AS n FROM `{s.table_id(MODEL_PERFORMANCE)}`").result())
    )["n"]
    print(f"window ends in model_performance: {ends}")
    sql = (
        f"SELECT feature, psi, rows FROM `{s.table_id(FEATURE_DRIFT)}` "
        f"WHERE checked_hour = TIMESTAMP '{end.isoformat()}' ORDER BY psi DESC LIMIT 5"
    )
    try:
        drift = list(bq.query(sql).result())
    except NotFound:
        drift = []
    print(
        "largest feature drifts (PSI, week before vs the serving model's training rows): "
        + (", ".join(f"{d['feature']} {d['psi']:.3f}" for d in drift) or "not measured (see the DAG log)")
    )
    fired = alerts.read_log(s)[alerts_before:]
    print(f"alerts fired: {len(fired)}")
    for a in fired:
        print(f"  {a['kind']}: {a['summary']}")
    print(f"load after: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
