"""Local time has one source: each system's row of the systems table (issue 24 §2).

A zone written into code would silently put another system's features, calendars or crew clock on New
York time. The only places a zone name may appear are listed here, each with why.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ZONE_NAME = re.compile(r"\b(?:America|Europe|Asia|Africa|Australia|Pacific|US)/[A-Z][A-Za-z_]+")
ALLOWED = {
    "include/dbt/seeds/systems.csv": "the systems table itself",
    "include/systems.py": "an example in a comment",
    "include/simulator/country.py": "the synthetic country: the zones of the systems it writes to its systems.csv",
    "include/simulator/trips.py": "Citi Bike's trip files are written on New York wall-clock time (the format's zone)",
}
SCANNED = ("include", "dags", "plugins", "benchmarks")


def test_no_time_zone_is_written_outside_the_systems_table() -> None:
    files = subprocess.run(
        ["git", "ls-files", *SCANNED], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    found = {
        path: sorted(set(ZONE_NAME.findall(text)))
        for path in files
        if (ROOT / path).is_file() and path not in ALLOWED
        for text in [(ROOT / path).read_text(errors="replace")]
        if ZONE_NAME.search(text)
    }
    assert found == {}, f"time zones written in code (read them from include/systems.py): {found}"


def test_the_allow_list_names_only_files_that_still_need_it() -> None:
    stale = [p for p in ALLOWED if not ZONE_NAME.search((ROOT / p).read_text())]
    assert stale == [], f"drop these from ALLOWED, they no longer name a zone: {stale}"
