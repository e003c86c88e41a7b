"""The README's pictures of the crew view, from whatever the default settings hold (run ``make demo`` first):
the ranked list and map as the Airflow UI shows them, and the serving model with live performance.

    source scripts/dev_env.sh && python -m tests.browser.screenshots [--out docs/screenshots]

Same path as the browser test: a real ``airflow api-server`` with the plugin, Debian's headless Chromium.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.browser import harness


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=harness.ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    chromium = harness.chromium_path()
    if chromium is None:
        raise SystemExit(f"chromium is not installed ({harness.INSTALL_HINT})")
    with (
        tempfile.TemporaryDirectory() as tmp,
        harness.api_server({}, Path(tmp) / "api-server.log") as base,
        harness.browser_context(chromium) as context,
    ):
        args.out.mkdir(parents=True, exist_ok=True)
        in_airflow, _ = harness.open_in_airflow(context, base)
        in_airflow.screenshot(path=str(args.out / "crew-view-in-airflow.png"))
        print(args.out / "crew-view-in-airflow.png")
        _, model = harness.screenshot_sections(harness.open_view(context, base), Path(tmp))
        (args.out / model.name).write_bytes(model.read_bytes())
        print(args.out / model.name)


if __name__ == "__main__":
    main()
