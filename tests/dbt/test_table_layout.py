"""BigQuery layout of every table (docs/country.md §4 "Layout per table"): large tables are partitioned
by day on their time column and clustered on the station keys, station_id first among them.

The tables are those include/gcp/tables.py creates (TABLE_SPECS) and those dbt builds (the manifest's
``partition_by`` / ``cluster_by`` of each table or incremental model, and the seeds). :data:`LAYOUT` is
the expected table: a new table must be added to it. When the tables gain ``system_id`` and cluster on
it first, set :data:`SYSTEM_KEYS` to ``("system_id",)``; nothing else here changes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.cloud import bigquery

from include.dbt.runner import run_dbt
from include.gcp.settings import Settings
from include.gcp.tables import TABLE_SPECS

# The keys every system-wide table clusters on first, and the station keys (those, then station_id).
SYSTEM_KEYS: tuple[str, ...] = ("system_id",)
STATION_KEYS: tuple[str, ...] = (*SYSTEM_KEYS, "station_id")

# table -> (day-partition column or None, clustering columns)
LAYOUT: dict[str, tuple[str | None, tuple[str, ...]]] = {
    # include/gcp/tables.py
    "raw_events": ("ts_iso", STATION_KEYS),
    "raw_events_dead_letter": ("received_at", SYSTEM_KEYS),
    "feature_store_runs": (None, ()),  # a few rows per run
    "station_predictions": ("target_hour", STATION_KEYS),
    "station_predictions_backfill": ("target_hour", STATION_KEYS),
    "feature_drift": ("checked_hour", SYSTEM_KEYS),
    "station_risk": ("plan_hour", STATION_KEYS),
    "rebalancing_plan": ("plan_hour", SYSTEM_KEYS),
    "station_status": ("last_reported", STATION_KEYS),
    "station_information": (None, ()),  # one row per station
    "gbfs_dead_letters": ("received_at", SYSTEM_KEYS),
    "gbfs_fetches": ("fetched_at", SYSTEM_KEYS),
    # dbt models kept as tables
    "stg_raw_events": ("event_at", STATION_KEYS),
    "int_fleet_stations": (None, ()),  # one row per station
    "station_features_wide": ("as_of", STATION_KEYS),
    "station_hourly_labels": ("hour_start", STATION_KEYS),
    "int_risk_vs_outcome": ("plan_hour", STATION_KEYS),
    "model_performance": ("window_end", ()),  # a few rows per hour
    # dbt seeds
    "stations": (None, ()),
    "systems": (None, ()),
    "us_federal_holidays": (None, ()),
}

# Rows per station and time: the tables whose reads the partitions and the clustering are for.
LARGE_TABLES = {
    "raw_events",
    "stg_raw_events",
    "station_features_wide",
    "station_hourly_labels",
    "station_status",
    "station_predictions",
    "station_predictions_backfill",
    "station_risk",
    "int_risk_vs_outcome",
}

Layout = tuple[str | None, tuple[str, ...]]


def python_layouts() -> dict[str, Layout]:
    return {spec.name: (spec.partition_field, spec.clustering_fields) for spec in TABLE_SPECS}


def dbt_partition_field(name: str, partition_by: dict[str, str] | None) -> str | None:
    """The partition column of a dbt table, checked to be a day partition of a timestamp."""
    if not partition_by:
        return None
    assert partition_by.get("data_type", "date").lower() == "timestamp", name
    assert partition_by.get("granularity", "day").lower() == "day", name
    return partition_by["field"]


@pytest.fixture(scope="module")
def dbt_layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Layout]:
    """The layout of every table dbt builds, from the manifest of a ``dbt parse`` (no warehouse)."""
    target = tmp_path_factory.mktemp("dbt_layout") / "target"
    run_dbt(["parse"], Settings(), target_path=target)
    manifest = json.loads((Path(target) / "manifest.json").read_text())
    layouts: dict[str, Layout] = {}
    for node in manifest["nodes"].values():
        if node["package_name"] != "bikeshare" or node["resource_type"] not in ("model", "seed"):
            continue
        config = node["config"]
        if node["resource_type"] == "model" and config["materialized"] not in ("table", "incremental"):
            continue  # views and ephemeral models store nothing
        cluster_by = config.get("cluster_by") or ()
        clustering = (cluster_by,) if isinstance(cluster_by, str) else tuple(cluster_by)
        layouts[node["name"]] = (dbt_partition_field(node["name"], config.get("partition_by")), clustering)
    return layouts


def test_every_table_has_an_expected_layout(dbt_layouts: dict[str, Layout]) -> None:
    python = python_layouts()
    assert not set(python) & set(dbt_layouts), "a table both created in Python and built by dbt"
    assert set(python) | set(dbt_layouts) == set(LAYOUT)


def test_python_tables_are_laid_out_as_expected() -> None:
    assert python_layouts() == {name: LAYOUT[name] for name in python_layouts()}
    for spec in TABLE_SPECS:
        partitioning = spec.to_table("project.dataset.table").time_partitioning
        if spec.partition_field:
            assert partitioning.type_ == bigquery.TimePartitioningType.DAY, spec.name
            assert partitioning.field == spec.partition_field, spec.name
        else:
            assert partitioning is None, spec.name


def test_dbt_tables_are_laid_out_as_expected(dbt_layouts: dict[str, Layout]) -> None:
    assert dbt_layouts == {name: LAYOUT[name] for name in dbt_layouts}


def test_large_tables_are_day_partitioned_and_clustered_on_the_station_keys(dbt_layouts: dict[str, Layout]) -> None:
    actual = {**python_layouts(), **dbt_layouts}
    for name in sorted(LARGE_TABLES):
        partition_field, clustering = actual[name]
        assert partition_field is not None, name
        assert clustering[: len(STATION_KEYS)] == STATION_KEYS, name


def test_station_id_comes_right_after_the_system_keys_wherever_a_table_clusters_on_it() -> None:
    for name, (_, clustering) in LAYOUT.items():
        if "station_id" in clustering:
            assert clustering[: len(STATION_KEYS)] == STATION_KEYS, name
        assert clustering[: len(SYSTEM_KEYS)] == SYSTEM_KEYS or not clustering, name
