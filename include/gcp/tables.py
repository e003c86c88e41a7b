"""BigQuery table names and schemas that the parts of the pipeline share (docs/design.md §2).

The ingest pipeline writes the raw tables, dbt reads them as sources; both take the names from
here (dbt through its ``sources`` config, which uses the same names). The features DAG writes
``feature_store_runs`` and the training sensor reads it (include/gcp/feature_runs.py). The training DAG
loads each run's served forecasts (horizons 1..3) into ``station_predictions`` (include/ml/served.py), whose
horizon-1 rows the dbt mart ``model_performance`` scores against ``station_hourly_labels``; a later run of an
hour that was served already (a backfill, a rerun) writes ``station_predictions_backfill`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.cloud import bigquery

from include.systems import DEFAULT_SYSTEM

RAW_EVENTS = "raw_events"
RAW_EVENTS_DEAD_LETTER = "raw_events_dead_letter"
STATIONS = "stations"  # the dbt seed of known stations (GBFS station_information), loaded by bikeshare_setup
FEATURE_STORE_RUNS = "feature_store_runs"
STATION_PREDICTIONS = "station_predictions"  # the served forecasts, loaded as each hour's Avro file is written
# a rerun's forecasts of an hour that was served already (a backfill, a clear): never beside the served ones
STATION_PREDICTIONS_BACKFILL = "station_predictions_backfill"
MODEL_PERFORMANCE = "model_performance"  # dbt mart: served model vs naive baselines on the outcomes (live)
FEATURE_DRIFT = "feature_drift"  # hourly PSI of each feature: last 7 days vs the serving model's training rows
STATION_RISK = "station_risk"  # each hour's inventory, risk of empty/full and target interval per station
REBALANCING_PLAN = "rebalancing_plan"  # each hour's moves for the crews (include/rebalancing)


@dataclass(frozen=True)
class TableSpec:
    """What :func:`include.gcp.resources.ensure_tables` creates for one table."""

    name: str
    schema: tuple[bigquery.SchemaField, ...]
    description: str
    partition_field: str | None = None
    clustering_fields: tuple[str, ...] = ()
    # column -> SQL literal given to the rows that predate it when an existing table gains it (the migration)
    fill_added: tuple[tuple[str, str], ...] = ()

    def to_table(self, table_id: str) -> bigquery.Table:
        table = bigquery.Table(table_id, schema=list(self.schema))
        table.description = self.description
        if self.partition_field:
            table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=self.partition_field
            )
        if self.clustering_fields:
            table.clustering_fields = list(self.clustering_fields)
        return table


def _field(name: str, kind: str, mode: str = "REQUIRED", doc: str = "") -> bigquery.SchemaField:
    return bigquery.SchemaField(name, kind, mode=mode, description=doc)


# Added with issue 24 to the hourly tables: NULLABLE so an existing table takes it, its older rows filled with
# the one system there was (TableSpec.fill_added); every writer sets it (include/gcp/hour_rows.py).
SYSTEM_ID_FIELD = _field("system_id", "STRING", mode="NULLABLE", doc="The bike share system (include/systems.py).")
SYSTEM_FILL = (("system_id", f"'{DEFAULT_SYSTEM}'"),)


RAW_EVENTS_SPEC = TableSpec(
    name=RAW_EVENTS,
    description=(
        "Validated pickup/dropoff events, one row per event_id (written by the Beam pipeline); "
        "the event contract is include/gcp/events.py."
    ),
    schema=(
        _field("event_id", "STRING", doc="Deterministic id derived from the trip; dedupe key."),
        _field("station_id", "STRING"),
        _field("ts_iso", "TIMESTAMP", doc="Event time (UTC); RFC 3339 on the wire (include/gcp/events.py)."),
        _field("kind", "STRING", doc="pickup or dropoff (include/gcp/events.py KINDS)."),
        _field("delta", "INT64", doc="Bikes moved by the event, 1."),
        _field("ingested_at", "TIMESTAMP", mode="NULLABLE", doc="When the pipeline wrote the row."),
        # added with issue 24: NULLABLE, so that an existing table takes it; the rows before it are Jersey City's
        _field(
            "system_id",
            "STRING",
            mode="NULLABLE",
            doc="The bike share system (include/systems.py); the key is (system_id, event_id).",
        ),
    ),
    partition_field="ts_iso",
    clustering_fields=("system_id", "station_id"),
    fill_added=(("system_id", f"'{DEFAULT_SYSTEM}'"),),  # every event before systems was the one system's
)

RAW_EVENTS_DEAD_LETTER_SPEC = TableSpec(
    name=RAW_EVENTS_DEAD_LETTER,
    description="Messages that failed validation or the write, with the reason; nothing is dropped.",
    schema=(
        _field("payload", "STRING", doc="The message exactly as received (cut beyond 1 M characters)."),
        _field("error", "STRING", doc="Why it was rejected: '<reason>: <detail>'."),
        _field("received_at", "TIMESTAMP"),
        # added 2026-12: NULLABLE, so that an existing table takes them (include/gcp/resources.py)
        _field("reason", "STRING", mode="NULLABLE", doc="The reason code (include/gcp/events.py REASONS)."),
        _field("event_id", "STRING", mode="NULLABLE", doc="The message's event_id, when it had a well-formed one."),
        _field("message_id", "STRING", mode="NULLABLE", doc="The Pub/Sub message id (audit; local acks)."),
        _field("system_id", "STRING", mode="NULLABLE", doc="The message's system_id, when it had a well-formed one."),
    ),
    partition_field="received_at",
    clustering_fields=("system_id",),
)

STATION_PREDICTIONS_SPEC = TableSpec(
    name=STATION_PREDICTIONS,
    description=(
        "The forecasts served by each hourly run at cut-off T, one row per station, target hour and horizon "
        "(target_hour = T + horizon - 1 h): the run's Avro file (include/ml/schemas/prediction.avsc), loaded "
        "when it is written. The first run of an hour to write is its record: a rerun or backfill of a served hour "
        "writes station_predictions_backfill, never here. Rows without a horizon are from before the "
        "horizons: the next hour (1)."
    ),
    schema=(
        _field("station_id", "STRING"),
        _field("target_hour", "TIMESTAMP", doc="Start of the predicted hour [target_hour, +1h), UTC."),
        _field("predicted_net_change", "FLOAT64", doc="Dropoffs minus pickups, the point forecast (MAE)."),
        _field("predicted_net_change_mean", "FLOAT64", mode="NULLABLE", doc="The mean forecast (RMSE)."),
        _field("predicted_pickups", "FLOAT64"),
        _field("predicted_dropoffs", "FLOAT64"),
        _field("model_version", "STRING", doc="The serving model's version (models/{version}/)."),
        _field("generated_at", "TIMESTAMP"),
        # added with issue 22: NULLABLE, so that an existing table takes it (include/gcp/resources.py); NULL = 1
        _field(
            "horizon",
            "INT64",
            mode="NULLABLE",
            doc="Hours ahead: 1 = the next hour [T, T+1h), 2 = [T+1h, T+2h), 3 = [T+2h, T+3h); NULL (older rows) = 1.",
        ),
        SYSTEM_ID_FIELD,
    ),
    # day partitions on the target hour: hourly ones would pass BigQuery's 10,000-partition limit in 14 months
    partition_field="target_hour",
    clustering_fields=("system_id", "station_id"),
    fill_added=SYSTEM_FILL,
)

STATION_PREDICTIONS_BACKFILL_SPEC = TableSpec(
    name=STATION_PREDICTIONS_BACKFILL,
    description=(
        "Forecasts of reruns (backfills, cleared runs) of hours that were served already, kept apart so that "
        "station_predictions stays what was served (include/ml/served.py): the served table's columns, plus the "
        "Airflow run that wrote them. The newest rerun of an hour replaces that run's rows here; nothing scores them."
    ),
    schema=(
        *STATION_PREDICTIONS_SPEC.schema,
        _field("run_id", "STRING", mode="NULLABLE", doc="The Airflow run that wrote the rows (a backfill's run id)."),
    ),
    partition_field="target_hour",
    clustering_fields=("system_id", "station_id"),
    fill_added=SYSTEM_FILL,
)

FEATURE_DRIFT_SPEC = TableSpec(
    name=FEATURE_DRIFT,
    description=(
        "Feature drift, hourly: each feature's population stability index over the 7 days before checked_hour "
        "against the serving model's training rows (include/ml/drift.py); a rerun replaces the hour's rows."
    ),
    schema=(
        _field("checked_hour", "TIMESTAMP", doc="The monitoring run's hour; the compared week ends here."),
        _field("model_version", "STRING", doc="The serving model whose training profile is the reference."),
        _field("feature", "STRING", doc="A column of station_features_wide."),
        _field("psi", "FLOAT64", doc="Population stability index (> 0.25: a significant shift)."),
        _field("rows", "INT64", doc="Station-hours compared."),
        SYSTEM_ID_FIELD,
    ),
    partition_field="checked_hour",
    fill_added=SYSTEM_FILL,
    clustering_fields=("system_id",),
)

FEATURE_STORE_RUNS_SPEC = TableSpec(
    name=FEATURE_STORE_RUNS,
    description=(
        "Append-only log of the feature store's runs: 'building' when a bikeshare_features run starts "
        "writing, 'verified' once its dbt tests passed. Training waits on it (include/gcp/feature_runs.py)."
    ),
    schema=(
        _field("run_id", "STRING", doc="The Airflow run id (or the script's id for a build outside the DAG)."),
        _field("as_of", "TIMESTAMP", doc="The run's dbt as_of: its data-interval end floored to 15 minutes."),
        _field("state", "STRING", doc="building or verified."),
        _field("recorded_at", "TIMESTAMP", doc="When the row was written (the warehouse's clock); orders the log."),
    ),
)

STATION_RISK_SPEC = TableSpec(
    name=STATION_RISK,
    description=(
        "Each plan hour's view of every station: bikes on the dock at the hour, the risk of running empty or "
        "full within 1 h and 3 h (birth-death chain on the forecast rates) and the target interval at the "
        "service level (include/rebalancing/risk.py); a rerun replaces the hour's rows."
    ),
    schema=(
        _field("plan_hour", "TIMESTAMP", doc="The hourly run's cut-off T: inventory as of T, rates for [T, T+3h)."),
        _field("station_id", "STRING"),
        _field("name", "STRING", mode="NULLABLE"),
        _field("lat", "FLOAT64", mode="NULLABLE"),
        _field("lon", "FLOAT64", mode="NULLABLE"),
        _field("capacity", "INT64", mode="NULLABLE", doc="Docks (station_information); null when unknown."),
        _field("bikes", "INT64", mode="NULLABLE", doc="Bikes available at T (station_status); null: no status."),
        _field("status_reported_at", "TIMESTAMP", mode="NULLABLE", doc="last_reported of the status used."),
        _field("expected_pickups_3h", "FLOAT64", mode="NULLABLE", doc="Sum of the forecast pickups, hours +1..+3."),
        _field("expected_dropoffs_3h", "FLOAT64", mode="NULLABLE", doc="Sum of the forecast dropoffs, +1..+3."),
        _field("p_empty_1h", "FLOAT64", mode="NULLABLE", doc="P(no bike at some moment within 1 h)."),
        _field("p_empty_3h", "FLOAT64", mode="NULLABLE"),
        _field("p_full_1h", "FLOAT64", mode="NULLABLE", doc="P(no free dock at some moment within 1 h)."),
        _field("p_full_3h", "FLOAT64", mode="NULLABLE"),
        _field("target_low", "INT64", mode="NULLABLE", doc="Fewest bikes keeping both 3 h risks <= service level."),
        _field("target_high", "INT64", mode="NULLABLE", doc="Most bikes keeping both 3 h risks <= service level."),
        _field("reachable", "BOOL", mode="NULLABLE", doc="False: no count meets the service level (best one used)."),
        _field("bikes_after_plan", "INT64", mode="NULLABLE", doc="Bikes once the hour's moves are done."),
        _field("problem", "STRING", mode="NULLABLE", doc="Why the station is not judged (no capacity, status...)."),
        _field("service_level", "FLOAT64", doc="The configured service level (default 0.10)."),
        _field("model_version", "STRING", mode="NULLABLE", doc="The model whose rates were used."),
        _field("generated_at", "TIMESTAMP"),
        SYSTEM_ID_FIELD,
    ),
    partition_field="plan_hour",
    clustering_fields=("system_id", "station_id"),
    fill_added=SYSTEM_FILL,
)

REBALANCING_PLAN_SPEC = TableSpec(
    name=REBALANCING_PLAN,
    description=(
        "Each hour's move plan for the crews: truck, order of the move in its route, from and to station, "
        "bikes (include/rebalancing/plan.py); the same moves as the hour's JSON object on the bucket. A rerun "
        "replaces the hour's rows."
    ),
    schema=(
        _field("plan_hour", "TIMESTAMP", doc="The hourly run's cut-off T; the moves are for [T, T+1h)."),
        _field("truck", "INT64", doc="1..trucks."),
        _field("move_order", "INT64", doc="Position of the move in the truck's route, 1, 2, ..."),
        _field("from_station", "STRING", doc="Where the truck loads the bikes."),
        _field("to_station", "STRING", doc="Where it unloads them."),
        _field("bikes", "INT64"),
        _field("generated_at", "TIMESTAMP"),
        SYSTEM_ID_FIELD,
    ),
    partition_field="plan_hour",
    fill_added=SYSTEM_FILL,
    clustering_fields=("system_id",),
)

# --- the GBFS feed (include/gbfs): polled every minute by bikeshare_inventory, read by the hourly plan ---
STATION_STATUS = "station_status"
STATION_INFORMATION = "station_information"
GBFS_DEAD_LETTERS = "gbfs_dead_letters"
GBFS_FETCHES = "gbfs_fetches"

STATION_STATUS_SPEC = TableSpec(
    name=STATION_STATUS,
    description=(
        "Each station's status as its system's GBFS feed reported it, one row per (system_id, station_id, "
        "last_reported): a poll stores only what is newer than the system's stored row (include/gbfs/poll.py); the "
        "contract is include/gbfs/feed.py."
    ),
    schema=(
        _field("station_id", "STRING"),
        _field("last_reported", "TIMESTAMP", doc="When the station last reported (the feed's clock); the key's time."),
        _field("num_bikes_available", "INT64"),
        _field("num_docks_available", "INT64", mode="NULLABLE", doc="NULL: unlimited docking, or capacity unknown."),
        _field("is_installed", "BOOLEAN"),
        _field("is_renting", "BOOLEAN"),
        _field("is_returning", "BOOLEAN"),
        _field("fetched_at", "TIMESTAMP", doc="When the poll read it (wall clock)."),
        SYSTEM_ID_FIELD,
    ),
    partition_field="last_reported",
    clustering_fields=("system_id", "station_id"),
    fill_added=SYSTEM_FILL,
)

STATION_INFORMATION_SPEC = TableSpec(
    name=STATION_INFORMATION,
    description=(
        "Stations as the GBFS feed describes them, one row per station and version: a poll appends a station "
        "whose name, coordinates or capacity changed; readers take each station's newest row."
    ),
    schema=(
        _field("station_id", "STRING"),
        _field("name", "STRING"),
        _field("lat", "FLOAT64"),
        _field("lon", "FLOAT64"),
        _field("capacity", "INT64", mode="NULLABLE", doc="Docks; NULL when the feed does not publish it."),
        _field("fetched_at", "TIMESTAMP", doc="When the poll read this version (wall clock)."),
        SYSTEM_ID_FIELD,
    ),
    fill_added=SYSTEM_FILL,
)

GBFS_DEAD_LETTERS_SPEC = TableSpec(
    name=GBFS_DEAD_LETTERS,
    description="GBFS files and stations that failed to fetch or validate, with the reason (include/gbfs/feed.py).",
    schema=(
        _field("feed", "STRING", doc="gbfs, station_information or station_status."),
        _field("url", "STRING"),
        _field("reason", "STRING", doc="The reason code (include/gbfs/feed.py REASONS)."),
        _field("detail", "STRING"),
        _field("payload", "STRING", doc="What was refused: the file or the station's JSON (cut at 100k characters)."),
        _field("station_id", "STRING", mode="NULLABLE", doc="The refused station's id, when it had one."),
        _field("received_at", "TIMESTAMP"),
        SYSTEM_ID_FIELD,
    ),
    partition_field="received_at",
    fill_added=SYSTEM_FILL,
    clustering_fields=("system_id",),
)

GBFS_FETCHES_SPEC = TableSpec(
    name=GBFS_FETCHES,
    description=(
        "One row per GBFS file fetched: whether it could be read, its last_updated and ttl, and what it gave. "
        "The poller honours ttl from it; the stream health check judges the status' age from it."
    ),
    schema=(
        _field("fetched_at", "TIMESTAMP", doc="Wall clock."),
        _field("feed", "STRING", doc="gbfs, station_information or station_status."),
        _field("url", "STRING"),
        _field("ok", "BOOLEAN", doc="The file was read (its stations may still have dead letters)."),
        _field("last_updated", "TIMESTAMP", mode="NULLABLE", doc="The file's last_updated (the feed's clock)."),
        _field("ttl", "INT64", mode="NULLABLE", doc="The file's ttl, seconds."),
        _field("stations", "INT64", doc="Stations in the file."),
        _field("rows_written", "INT64", doc="New rows stored."),
        _field("unchanged", "INT64", doc="Stations whose stored row is current."),
        _field("stale", "INT64", doc="Status rows older than the lookback, not stored."),
        _field("dead_letters", "INT64"),
        _field("unknown_stations", "INT64", doc="Status rows of stations without a known capacity (a warning)."),
        _field(
            "lag_seconds",
            "FLOAT64",
            mode="NULLABLE",
            doc="fetched_at - last_updated on the wall clock (gcp); NULL when the feed lives in replay time (local).",
        ),
        SYSTEM_ID_FIELD,
    ),
    partition_field="fetched_at",
    fill_added=SYSTEM_FILL,
    clustering_fields=("system_id",),
)

TABLE_SPECS: tuple[TableSpec, ...] = (
    RAW_EVENTS_SPEC,
    RAW_EVENTS_DEAD_LETTER_SPEC,
    FEATURE_STORE_RUNS_SPEC,
    STATION_PREDICTIONS_SPEC,
    STATION_PREDICTIONS_BACKFILL_SPEC,
    FEATURE_DRIFT_SPEC,
    STATION_RISK_SPEC,
    REBALANCING_PLAN_SPEC,
    STATION_STATUS_SPEC,
    STATION_INFORMATION_SPEC,
    GBFS_DEAD_LETTERS_SPEC,
    GBFS_FETCHES_SPEC,
)
