"""Each station's stock as of an hour: what the hourly plan starts from (include/rebalancing/hourly.py).

One system's: the settings' ``system_id`` (every system's rows share the tables, and station ids may repeat).

:func:`inventory_as_of` reads, per station, the newest ``station_status`` row with ``last_reported <= hour``
(within the lookback before it: a station silent longer has no status) joined to the station's newest
``station_information`` row for name, coordinates and capacity. Information is taken as it is now, not as of
the hour: it changes rarely, and locally it is fetched in wall-clock time while the status lives in the
replay's. When ``station_information`` is empty (a fresh deployment, tests), the ``stations`` dbt seed stands
in. A backfilled hour reads the same rows as the live run did, unless late rows arrived since.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import STATION_INFORMATION, STATION_STATUS, STATIONS
from include.systems import DEFAULT_SYSTEM

COLUMNS = [
    "station_id",
    "bikes",
    "docks",
    "capacity",
    "lat",
    "lon",
    "name",
    "last_reported",
    "is_renting",
    "is_returning",
]
LOOKBACK = timedelta(hours=48)  # the poller's default lookback: older status is stale


def _information_source(client: bigquery.Client, s: Settings) -> str:
    """The system's newest row per station of station_information, or while it has none the stations seed (Jersey
    City's: the default system's only); the query's ``@system_id`` is the settings' system."""
    info = f"`{s.table_id(STATION_INFORMATION)}`"
    try:
        client.get_table(s.table_id(STATION_INFORMATION))
        config = bigquery.QueryJobConfig(query_parameters=[_system(s)])
        count = f"SELECT COUNT(*) AS n FROM {info} WHERE system_id = @system_id"
        known = next(iter(client.query(count, job_config=config).result())).n
    except exceptions.NotFound:  # a deployment whose feed was never polled: its first poll creates the table
        known = 0
    if known:
        return f"""(SELECT station_id, name, lat, lon, capacity FROM {info} WHERE system_id = @system_id
                   QUALIFY ROW_NUMBER() OVER (PARTITION BY station_id ORDER BY fetched_at DESC) = 1)"""
    nothing = (
        "(SELECT CAST(NULL AS STRING) AS station_id, CAST(NULL AS STRING) AS name, CAST(NULL AS FLOAT64) AS lat,"
        " CAST(NULL AS FLOAT64) AS lon, CAST(NULL AS INT64) AS capacity)"
    )
    if s.system_id != DEFAULT_SYSTEM:
        return nothing
    try:
        client.get_table(s.table_id(STATIONS))
    except exceptions.NotFound:
        return nothing
    return f"(SELECT CAST(station_id AS STRING) AS station_id, name, lat, lon, capacity FROM `{s.table_id(STATIONS)}`)"


def _system(s: Settings) -> bigquery.ScalarQueryParameter:
    return bigquery.ScalarQueryParameter("system_id", "STRING", s.system_id)


def inventory_as_of(hour: datetime, settings: Settings | None = None, lookback: timedelta = LOOKBACK) -> pd.DataFrame:
    """One row per station of the settings' system with a status at or before ``hour`` (columns :data:`COLUMNS`),
    sorted by station_id."""
    s = settings or get_settings()
    client = clients.bigquery_client(s)
    at = hour.astimezone(UTC)
    sql = f"""
        WITH latest AS (
          SELECT station_id, num_bikes_available, num_docks_available, last_reported, is_renting, is_returning
          FROM `{s.table_id(STATION_STATUS)}`
          WHERE last_reported <= @hour AND last_reported >= @since AND system_id = @system_id
          QUALIFY ROW_NUMBER() OVER (PARTITION BY station_id ORDER BY last_reported DESC, fetched_at DESC) = 1
        )
        SELECT l.station_id, l.num_bikes_available AS bikes, l.num_docks_available AS docks, i.capacity,
               i.lat, i.lon, i.name, l.last_reported, l.is_renting, l.is_returning
        FROM latest AS l LEFT JOIN {_information_source(client, s)} AS i ON i.station_id = l.station_id
        ORDER BY l.station_id
    """
    params = [
        bigquery.ScalarQueryParameter("hour", "TIMESTAMP", at),
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", at - lookback),
        _system(s),
    ]
    try:
        client.get_table(s.table_id(STATION_STATUS))
    except exceptions.NotFound:  # never polled: no station has a status (the plan says so per station)
        rows = []
    else:
        job = client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
        rows = [dict(r.items()) for r in job.result()]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in ("bikes", "docks", "capacity"):
        frame[column] = frame[column].astype("Int64")
    frame["last_reported"] = pd.to_datetime(frame["last_reported"], utc=True)
    return frame
