"""CLI: ``python -m include.simulator --month 2019-09 --from 2019-09-01T12:00 --to 2019-09-01T13:00 --speed-up 3600``.

Publishes to the topic of the active settings (``BIKESHARE_*``), logs progress to stderr and prints
the summary as JSON on stdout. Exit status 1 if any message failed to publish.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from include.simulator.sources import parse_time


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m include.simulator", description=__doc__.split("\n\n")[1])
    src = p.add_argument_group("input (trip files, months, or synthetic)")
    src.add_argument("files", nargs="*", help="trip files (.csv or .zip, 2019 or 2021+ layout)")
    src.add_argument("--month", action="append", default=[], help="YYYY-MM, resolved in --data-dir (repeatable)")
    src.add_argument(
        "--data-dir", default=None, help="where --month looks (default: BIKESHARE_TRIPS_DATA_DIR, else a download)"
    )
    src.add_argument("--synthetic", action="store_true", help="generate trips instead of reading files")
    src.add_argument("--stations", type=int, default=50, help="synthetic: number of stations")
    src.add_argument("--hours", type=int, default=24, help="synthetic: hours to generate from --from")
    src.add_argument("--rate", type=float, default=1.0, help="synthetic: mean trips per station per hour")
    p.add_argument("--from", dest="start", help="window start, ISO 8601, inclusive; naive = UTC")
    p.add_argument("--to", dest="end", help="window end, ISO 8601, exclusive; naive = UTC")
    p.add_argument("--speed-up", type=float, default=0.0, help="e.g. 3600 = one hour per second; 0 = max speed")
    p.add_argument("--malformed-share", type=float, default=0.0, help="probability of an injected bad message")
    p.add_argument("--seed", type=int, default=0, help="seed for injection and synthetic mode")
    p.add_argument("--limit", type=int, help="send at most this many valid events")
    p.add_argument("--progress-every", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--dry-run", action="store_true", help="select events and print counts, publish nothing")
    country = p.add_argument_group("synthetic country (include/simulator/country.py): write its files, publish nothing")
    country.add_argument(
        "--country", metavar="KxN", help="K systems of N stations; prints a summary (--from/--to: trips)"
    )
    country.add_argument("--nyc", action="store_true", help="country: system 0 is the 1,587 real NYC stations")
    country.add_argument("--out", help="country: write systems.csv and <system_id>/station_information.json here")
    country.add_argument(
        "--gbfs-base-url", default="http://127.0.0.1:8097", help="country: feeds at <url>/<id>/gbfs.json"
    )
    country.add_argument(
        "--publish",
        action="store_true",
        help="country: publish its events of --from/--to like a replay (BIKESHARE_SYSTEMS_FILE must list its systems)",
    )
    return p


def request_from_args(args: argparse.Namespace):  # -> ReplayRequest (imported lazily)
    from include.simulator.replay import ReplayRequest
    from include.simulator.synthetic import SyntheticSpec

    start, end = parse_time(args.start), parse_time(args.end)
    synthetic = None
    if args.synthetic:
        origin = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        synthetic = SyntheticSpec(origin, hours=args.hours, stations=args.stations, rate=args.rate, seed=args.seed)
    return ReplayRequest(
        files=args.files,
        months=args.month,
        data_dir=args.data_dir,
        start=start,
        end=end,
        synthetic=synthetic,
        speed_up=args.speed_up,
        malformed_share=args.malformed_share,
        seed=args.seed,
        limit=args.limit,
    )


def main(argv: Sequence[str] | None = None) -> int:
    from include.simulator.publish import ReplaySummary
    from include.simulator.replay import select_events

    args = build_parser().parse_args(argv)
    if args.country and args.publish:
        from include.simulator.country import CountrySpec, parse_size
        from include.simulator.replay import ReplayRequest

        k, n = parse_size(args.country)
        spec = CountrySpec(k, n, args.seed, args.nyc)
        start, end = parse_time(args.start), parse_time(args.end)
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
        request = ReplayRequest(
            country=spec, start=start, end=end, speed_up=args.speed_up, malformed_share=args.malformed_share
        )
        return _publish(request, args.progress_every)
    if args.country:
        from include.simulator.country import cli

        return cli(args.country, args.seed, args.nyc, args.out, args.gbfs_base_url, args.start, args.end)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    request = request_from_args(args)
    if args.dry_run:
        summary = ReplaySummary()
        events = select_events(request, summary)
        summary.valid = len(events)
        if events:
            summary.first_event_time, summary.last_event_time = events[0].ts.isoformat(), events[-1].ts.isoformat()
        print(json.dumps(summary.to_dict(), indent=2))
        return 0
    return _publish(request, args.progress_every)


def _publish(request, progress_every: float) -> int:  # a ReplayRequest, imported lazily
    from include.simulator.publish import PublishError
    from include.simulator.replay import run_replay

    try:
        summary = run_replay(request, progress_every=progress_every)
    except PublishError as err:
        print(json.dumps(err.summary.to_dict(), indent=2))
        logging.error("%s", err)
        return 1
    print(json.dumps(summary.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
