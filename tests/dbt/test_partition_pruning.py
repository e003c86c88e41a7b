"""Partition pruning in the feature store's increments (docs/country.md §4, issue 24 §3).

raw_events is partitioned by day on ts_iso, stg_raw_events on event_at. BigQuery prunes partitions on
a filter of the partition column by a constant, not reliably on a subquery, and the emulator ignores
partitions, so the check is on the SQL: an increment is compiled (``dbt compile`` with the vars of a
15-minute run, on top of features built by a run) and every reference to either table, in the
compiled incremental models (ephemeral models inlined) and in the queries dbt sent while compiling
them (the late-event recount, the staging table's lookups), must sit in a scope whose WHERE has a
``(ts_iso|event_at) >= timestamp '…'`` literal, and no filter of either column may take a subquery.
First builds and full refreshes read the whole history and are not checked.

The scope rule is strict on purpose: a bound in a later CTE that selects from the import CTE does not
count (BigQuery may push it down, or not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import pytest

from include.dbt.runner import DbtResult, dbt_vars, run_dbt
from include.gcp import clients
from include.gcp.settings import Settings

LARGE_TABLES = ("raw_events", "stg_raw_events")
PARTITION_COLUMNS = ("ts_iso", "event_at")
STEP = timedelta(minutes=15)
NEWEST = datetime.fromisoformat("2019-09-03T03:00:00+00:00")  # as tests/dbt/test_late_events.py

TABLE_REFERENCE = re.compile(r"`[^`]+`\.`[^`]+`\.`(?P<table>" + "|".join(LARGE_TABLES) + r")`", re.IGNORECASE)
LITERAL_BOUND = re.compile(
    r"\bwhere\b.*?\b(?:\w+\.)?(?:" + "|".join(PARTITION_COLUMNS) + r")\s*>=\s*timestamp\s*'[^']+'",
    re.IGNORECASE | re.DOTALL,
)
SUBQUERY_FILTER = re.compile(
    r"\b(?:\w+\.)?(?:" + "|".join(PARTITION_COLUMNS) + r")\s*(?:>=|<=|>|<|=|between)\s*\(\s*select\b",
    re.IGNORECASE,
)
SET_OPERATOR = re.compile(r"\b(?:union\s+all|union\s+distinct|intersect\s+distinct|except\s+distinct)\b", re.IGNORECASE)
LOG_ENTRY = re.compile(r"^(?:\x1b\[0m)?\d\d:\d\d:\d\d\.\d+ \[", re.MULTILINE)


# --- the checker -------------------------------------------------------------------------------------


def strip_comments(sql: str) -> str:
    """The SQL without ``--`` and ``/* */`` comments (quoted text kept as it is)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            end = sql.find(c, i + 1)
            end = n - 1 if end < 0 else end
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@dataclass
class Scope:
    """One SELECT: its own text, with each nested subquery replaced by ``(…)``."""

    text: str


def scopes(sql: str) -> list[Scope]:
    """The query and every parenthesised subquery in it (a CTE body is one), innermost first."""
    sql = strip_comments(sql)
    found: list[Scope] = []

    def parse(i: int) -> tuple[str, int]:
        # own text of the group that starts at sql[i] (after a '('), up to its ')': (text, index after)
        parts: list[str] = []
        while i < len(sql):
            c = sql[i]
            if c in "'\"`":
                end = sql.find(c, i + 1)
                end = len(sql) - 1 if end < 0 else end
                parts.append(sql[i : end + 1])
                i = end + 1
            elif c == "(":
                inner, i = parse(i + 1)
                if re.match(r"\s*(select|with)\b", inner, re.IGNORECASE):
                    found.append(Scope(inner))
                    parts.append("(…)")
                else:
                    parts.append(f"({inner})")
            elif c == ")":
                return "".join(parts), i + 1
            else:
                parts.append(c)
                i += 1
        return "".join(parts), i

    text, _ = parse(0)
    found.append(Scope(text))
    return found


def unbounded_reads(sql: str) -> list[str]:
    """The SELECTs (each side of a UNION apart) that read raw_events or stg_raw_events without a
    literal lower bound on the partition column in their WHERE."""
    bad = []
    for scope in scopes(sql):
        for part in SET_OPERATOR.split(scope.text):
            if TABLE_REFERENCE.search(part) and not LITERAL_BOUND.search(part):
                bad.append(" ".join(part.split())[:300])
    return bad


def subquery_filters(sql: str) -> list[str]:
    """Filters of ts_iso / event_at by a subquery."""
    return [m.group(0) for m in SUBQUERY_FILTER.finditer(strip_comments(sql))]


def problems(sql: str) -> list[str]:
    return [f"no literal bound: {s}" for s in unbounded_reads(sql)] + [
        f"subquery filter: {s}" for s in subquery_filters(sql)
    ]


# --- the checker on known SQL (no emulator) ----------------------------------------------------------

STG = "`proj`.`ds`.`stg_raw_events`"
RAW = "`proj`.`ds`.`raw_events`"

# Reads of the SQL before the bounds (issue 24 §3 (a)-(c)), as dbt rendered them.
KNOWN_BAD = {
    "staging source on ingested_at": f"""
        with source as (
            select * from {RAW}
            where ingested_at >= (select timestamp_sub(max(ingested_at), interval 60 minute) from {STG})
        )
        select * from source""",
    "staging dedupe against the whole table": f"""
        select d.* from deduplicated as d
        left join (select event_id from {STG}) as seen on d.event_id = seen.event_id
        where seen.event_id is null""",
    "late-event recount, upper bound only": f"""
        with events as (
            select station_id, event_at, kind, delta from {STG}
            where event_at < timestamp '2019-09-03 03:00:00+00'
        ),
        window_events as (select * from events where event_at >= timestamp '2019-09-01 01:00:00+00')
        select * from window_events""",
    "grid bounded by a subquery": f"""
        with events as (select * from {STG}),
        counts as (
            select station_id, count(*) from events
            where event_at >= (select grid_start from bounds) and event_at < (select as_of_end from bounds)
            group by 1
        )
        select * from counts""",
    "one side of a union unbounded": f"""
        select event_id from {STG} where event_at >= timestamp '2019-09-01 00:00:00+00'
        union all
        select event_id from {STG}""",
    "the bound only in a comment": f"""
        select * from {STG} -- where event_at >= timestamp '2019-09-01 00:00:00+00'
        where kind = 'pickup'""",
}

KNOWN_GOOD = {
    "staging source": f"""
        with source as (
            select * from {RAW}
            where
                ts_iso >= timestamp '2019-09-01 01:15:00+00'
                and ingested_at >= timestamp '2026-12-07 11:00:00+00'
        )
        select * from source""",
    "import CTE between literals": f"""
        with events as (
            select * from {STG}
            where event_at >= timestamp '2019-08-04 01:00:00+00' and event_at < timestamp '2019-09-03 03:15:00+00'
        ),
        counts as (select station_id, count(*) from events group by 1)
        select * from counts""",
    "nested subquery with its own bound": f"""
        select d.* from deduplicated as d
        left join (
            select event_id from {STG} where event_at >= timestamp '2019-09-01 01:15:00+00'
        ) as seen on d.event_id = seen.event_id""",
    "no large table": "select * from `proj`.`ds`.`station_features_wide` where as_of >= (select x from bounds)",
}


@pytest.mark.parametrize("name", sorted(KNOWN_BAD))
def test_the_checker_flags_the_reads_before_the_bounds(name: str) -> None:
    assert problems(KNOWN_BAD[name]), name


@pytest.mark.parametrize("name", sorted(KNOWN_GOOD))
def test_the_checker_passes_literal_bounds(name: str) -> None:
    assert problems(KNOWN_GOOD[name]) == []


# --- the project's increment, compiled on the emulator -----------------------------------------------


@dataclass(frozen=True)
class CompiledIncrement:
    models: dict[str, str]  # incremental model -> compiled SQL (ephemeral models inlined)
    queries: list[tuple[str, str]]  # (node, SQL) of each query dbt sent while compiling


def dbt_queries(log_text: str) -> Iterator[tuple[str, str]]:
    """(node, SQL) of each ``On model.…: <sql>`` entry of a dbt debug log."""
    starts = [m.start() for m in LOG_ENTRY.finditer(log_text)] + [len(log_text)]
    for start, end in pairwise(starts):
        entry = log_text[start:end]
        match = re.search(r"\]: On (model\.[\w.]+): (.*)", entry, re.DOTALL)
        if match:
            yield match.group(1), match.group(2)


@pytest.fixture(scope="module")
def compiled_increment(
    dbt: Callable[..., DbtResult], dbt_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> CompiledIncrement:
    """Features built (a first build, or a catch-up after the other modules), then the next 15-minute
    increment compiled: the models of a run, and what dbt queried while compiling them (its debug log,
    in a target and log folder of its own)."""
    dbt("run", "--exclude", "tag:monitoring", as_of=NEWEST)
    table = dbt_settings.table_id("station_features_wide")
    (row,) = clients.bigquery_client(dbt_settings).query(f"select max(as_of) as newest from `{table}`").result()
    target = tmp_path_factory.mktemp("dbt_pruning") / "target"
    run_dbt(
        ["compile", "--select", "resource_type:model", "--exclude", "tag:monitoring"],
        dbt_settings,
        vars=dbt_vars(as_of=row.newest + STEP),
        target_path=target,
    )
    log_text = (target.parent / "logs" / "dbt.log").read_text(encoding="utf-8", errors="replace")
    manifest = json.loads((target / "manifest.json").read_text())
    models = {
        node["name"]: node["compiled_code"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] == "incremental"
        and node.get("compiled_code")
    }
    return CompiledIncrement(models, list(dbt_queries(log_text)))


@pytest.mark.integration
def test_every_incremental_model_is_compiled(compiled_increment: CompiledIncrement) -> None:
    assert {"stg_raw_events", "int_fleet_stations", "station_features_wide", "station_hourly_labels"} <= set(
        compiled_increment.models
    )


@pytest.mark.integration
def test_every_read_of_the_events_in_an_increment_has_a_literal_bound(compiled_increment: CompiledIncrement) -> None:
    found = {name: problems(sql) for name, sql in compiled_increment.models.items()}
    assert {name: p for name, p in found.items() if p} == {}
    # the reads that must be there, each bounded (the grid, the profile and the labels read stg_raw_events)
    reads = {name: len(TABLE_REFERENCE.findall(strip_comments(sql))) for name, sql in compiled_increment.models.items()}
    assert reads["stg_raw_events"] >= 2  # raw_events, and the dedupe against itself
    assert reads["station_features_wide"] >= 2
    assert reads["station_hourly_labels"] >= 1


@pytest.mark.integration
def test_the_queries_dbt_sends_while_compiling_an_increment_are_bounded(
    compiled_increment: CompiledIncrement,
) -> None:
    """The late-event recount (both branches: the 1-hour counts and the 7-day counts of stations that
    joined in the window) and the staging table's lookups run while the models compile."""
    reading = [(node, sql) for node, sql in compiled_increment.queries if TABLE_REFERENCE.search(sql)]
    assert any("joined_recounted" in sql for _, sql in reading), "the features' late-event recount ran"
    assert any("first_mismatch" in sql and "joined_recounted" not in sql for _, sql in reading), "the labels' recount"
    found = [(node, problems(sql)) for node, sql in reading]
    assert [(node, p) for node, p in found if p] == []


@pytest.mark.integration
def test_the_newest_time_lookups_of_an_increment_are_bounded(compiled_increment: CompiledIncrement) -> None:
    """The marts' newest as_of / hour (macros/as_of.sql newest_time) is first looked up since the merge
    floor, a literal on the partition column: on BigQuery a bare max() reads the whole column."""
    lookups = [sql for _, sql in compiled_increment.queries if re.search(r"select max\(\w+\) as newest from", sql)]
    assert len(lookups) >= 2  # station_features_wide's as_of and station_hourly_labels' hour_start
    unbounded = [sql for sql in lookups if not re.search(r"where \w+ >= timestamp '[^']+'", sql)]
    assert unbounded == []
