"""``python -m include.localstack up|down|status|resources``: manage the local Google Cloud stack."""

from __future__ import annotations

import argparse
import sys

from include.gcp import resources
from include.gcp.settings import get_settings
from include.localstack import stack
from include.localstack.servers import EmulatorMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.localstack", description=__doc__)
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "resources", "env"],
        help="up: start and wait; down: stop what up started; status; "
        "resources: create topic, subscription, dataset, tables, bucket; env: print exports",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    try:
        if args.command == "up":
            for line in stack.up(settings):
                print(line)
            print(f"logs, PIDs and data under {settings.state_dir}")
        elif args.command == "down":
            for line in stack.down(settings):
                print(line)
        elif args.command == "status":
            statuses = stack.status(settings)
            for line in statuses:
                print(line)
            return 0 if all(s.state in ("running", "external") for s in statuses) else 3
        elif args.command == "resources":
            for outcome in resources.ensure_all(settings):
                print(outcome)
        else:
            for key, value in settings.emulator_env().items():
                print(f"export {key}={value}")
    except (EmulatorMissing, stack.StackError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
