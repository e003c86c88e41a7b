"""``python -m include.dbt <dbt args>``: run dbt with the project's settings (e.g. ``parse``).

``python -m include.dbt parse`` writes include/dbt/target/manifest.json, which the cosmos DAG reads.
"""

from __future__ import annotations

import sys

from include.dbt.runner import run_dbt


def main(argv: list[str]) -> int:
    result = run_dbt(argv or ["parse"], check=False)
    print(result.output, end="")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
