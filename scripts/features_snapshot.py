"""Row-for-row check that a change to the dbt project leaves the features of a replayed week unchanged.

Builds the feature store from scratch in a dataset of its own from real Citi Bike months (default Aug-Sep
2019, so the last week has its 28-day windows and most of its 26-week profiles' data), then saves the last
7 days of ``station_features`` and ``station_features_wide`` as Parquet, sorted by their keys:

    .venv/bin/python -m scripts.features_snapshot save .local/snapshots/before
    (change the code)
    .venv/bin/python -m scripts.features_snapshot save .local/snapshots/after
    .venv/bin/python -m scripts.features_snapshot compare .local/snapshots/before .local/snapshots/after

``compare`` exits 1 and prints the first differences unless both tables are equal row for row (same keys,
values equal to 1e-9). Needs the local stack (``make stack-up``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from include.dbt.runner import dbt_vars, run_dbt
from include.gcp import clients, resources
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import get_settings
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files

AS_OF = datetime(2019, 9, 30, 20, 0, tzinfo=UTC)
KEYS = {
    "station_features": ["station_id", "feature_name", "window_len", "as_of"],
    "station_features_wide": ["station_id", "as_of"],
}


def save(out: Path, months: list[str]) -> None:
    settings = get_settings().with_names(dataset=f"snapshot_{uuid.uuid4().hex[:8]}")
    files = [p for m in months for p in month_files(m)]  # BIKESHARE_TRIPS_DATA_DIR's, else downloaded once
    events = [e.to_dict() for e in events_from_files(files, end=AS_OF)]
    target = Path(tempfile.mkdtemp(prefix="dbt-snapshot-")) / "target"
    client = clients.bigquery_client(settings)
    try:
        resources.ensure_bigquery(settings)
        load_raw_events(events, settings)
        run_dbt(["seed"], settings, target_path=target)
        started = time.monotonic()
        run_dbt(["run"], settings, vars=dbt_vars(as_of=AS_OF), target_path=target)
        print(f"built from {len(events):,} events in {time.monotonic() - started:.1f} s")
        out.mkdir(parents=True, exist_ok=True)
        since = (AS_OF - timedelta(days=7)).strftime("%Y-%m-%d %H:%M:%S+00")
        for table, keys in KEYS.items():
            frame = client.query(
                f"select * from `{settings.table_id(table)}` where as_of >= timestamp '{since}'"
            ).to_dataframe(create_bqstorage_client=False)
            frame = frame.sort_values(keys).reset_index(drop=True)
            frame.to_parquet(out / f"{table}.parquet")
            print(f"{table}: {len(frame):,} rows since {since} -> {out / f'{table}.parquet'}")
    finally:
        client.delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)


def compare(before: Path, after: Path) -> int:
    failed = False
    for table, keys in KEYS.items():
        a = pd.read_parquet(before / f"{table}.parquet")
        b = pd.read_parquet(after / f"{table}.parquet")
        if sorted(a.columns) != sorted(b.columns):
            print(f"{table}: columns differ: {sorted(set(a.columns) ^ set(b.columns))}")
            failed = True
            continue
        b = b[list(a.columns)]
        merged = a.merge(b, on=keys, how="outer", suffixes=("_before", "_after"), indicator=True)
        only = merged[merged["_merge"] != "both"]
        values = [c for c in a.columns if c not in keys]
        diffs = []
        both = merged[merged["_merge"] == "both"]
        for col in values:
            x, y = both[f"{col}_before"].astype(float), both[f"{col}_after"].astype(float)
            bad = ~(((x - y).abs() <= 1e-9) | (x.isna() & y.isna()))
            if bad.any():
                diffs.append((col, int(bad.sum()), both.loc[bad, [*keys, f"{col}_before", f"{col}_after"]].head(3)))
        print(
            f"{table}: {len(a):,} rows before, {len(b):,} after, {len(only):,} keys on one side only, "
            f"{len(diffs)} columns with differing values"
        )
        for col, n, sample in diffs:
            print(f"  {col}: {n} rows differ, e.g.\n{sample.to_string(index=False)}")
        if len(only):
            print(only[[*keys, "_merge"]].head(5).to_string(index=False))
        failed = failed or bool(len(only) or diffs or len(a) != len(b))
    print("row-for-row equal" if not failed else "DIFFERENT")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("save")
    s.add_argument("out", type=Path)
    s.add_argument("--months", nargs="+", default=["2019-08", "2019-09"])
    c = sub.add_parser("compare")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "save":
        save(args.out, args.months)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
