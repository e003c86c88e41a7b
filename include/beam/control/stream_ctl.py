"""Command line for the streaming job of the active profile (what a Makefile target would call).

``python -m include.beam.control.stream_ctl start|state|drain [--timeout SECONDS]`` prints the result as
JSON; the same code the ``bikeshare_stream`` DAG runs, without Airflow.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from include.beam.control.job_control import streaming_job


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.beam.control.stream_ctl", description=__doc__)
    parser.add_argument("action", choices=["start", "state", "drain"])
    parser.add_argument("--timeout", type=float, default=300.0, help="drain: seconds to wait for the job to stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    job = streaming_job()
    if args.action == "start":
        print(json.dumps(job.start().to_dict(), indent=2))
    elif args.action == "state":
        state = job.state()
        print(json.dumps({"name": job.name, "state": str(state), "last_error": job.last_error()}, indent=2))
    else:
        print(json.dumps({"name": job.name, "state": str(job.drain(timeout=args.timeout))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
