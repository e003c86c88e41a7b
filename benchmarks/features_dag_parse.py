"""Parse time of dags/bikeshare_features.py (target < 1 s), as Airflow's DAG processor sees it.

Each sample is a fresh Python process that first imports Airflow and the DagBag (the processor has
them loaded), then times ``DagBag(dag_folder=<file>)`` twice: *cold* (first parse: cosmos and the
project modules get imported) and *warm* (second parse, modules cached; the file re-executes). Two
bytecode settings: none (this machine sets PYTHONDONTWRITEBYTECODE=1, so every import compiles) and
a warm bytecode cache (PYTHONPYCACHEPREFIX, as in the Docker image, where .pyc files exist). The DAG
holds one cosmos operator (``dbt build``), so no manifest is rendered at parse time (the cosmos
parse-time traps of a rendered task group, an ObjectStoragePath manifest among them, no longer apply).

Usage:
    .venv/bin/python -m benchmarks.features_dag_parse [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "dags" / "bikeshare_features.py"

CHILD = r"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
import airflow.sdk  # noqa: F401  (loaded in the DAG processor before any file is parsed)
times = []
for _ in range(2):
    t = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    times.append(time.perf_counter() - t)
    assert not bag.import_errors, bag.import_errors
tasks = len(bag.dags["bikeshare_features"].tasks)
heavy = [m for m in ("google.cloud.storage", "google.cloud.bigquery") if m in sys.modules]
print("RESULT " + json.dumps({"cold": times[0], "warm": times[1], "tasks": tasks, "heavy": heavy}))
"""


def sample(env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(DAG_FILE)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    base = {**os.environ, "PYTHONPATH": str(ROOT), "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}
    with tempfile.TemporaryDirectory(prefix="pycache-") as pycache:
        setups = {
            "no bytecode": {**base, "PYTHONDONTWRITEBYTECODE": "1"},
            "bytecode cache": {**{k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}},
        }
        setups["bytecode cache"]["PYTHONPYCACHEPREFIX"] = pycache
        sample(setups["bytecode cache"])  # fill the bytecode cache
        print(f"{DAG_FILE.relative_to(ROOT)}: median of {args.repeat} fresh processes, seconds")
        print(f"{'bytecode':<15} {'cold':>6} {'warm':>6}  tasks  heavy imports at parse")
        for label, env in setups.items():
            runs = [sample(env) for _ in range(args.repeat)]
            cold = statistics.median(r["cold"] for r in runs)
            warm = statistics.median(r["warm"] for r in runs)
            heavy = ",".join(runs[0]["heavy"]) or "-"
            print(f"{label:<15} {cold:6.3f} {warm:6.3f}  {runs[0]['tasks']:>5}  {heavy}")


if __name__ == "__main__":
    main()
