"""Small feature-store tables of the dbt contract shape, built in the test dataset.

``station_hourly_labels`` gets every station x hour; ``station_features_wide`` gets rows every 30 min
(only the full hours join to labels) with a subset of the contract's columns: the ML code reads the
feature columns generically, so the subset is enough.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from include.gcp import clients, feature_runs
from include.gcp.settings import Settings
from include.ml.dataset import FEATURES_TABLE, LABELS_TABLE
from include.systems import DEFAULT_SYSTEM

START = datetime(2019, 8, 1, tzinfo=UTC)
STATIONS = ("3186", "3203", "3195", "3639", "3269")
SYSTEM = DEFAULT_SYSTEM  # the ML tasks read one system's rows (include/ml/dataset.py)


def make_labels(hours: int, pattern: str, seed: int = 0) -> pd.DataFrame:
    """Hourly labels. ``lagged``: dropoffs of an hour are the pickups of the hour before (learnable from
    the features, invisible to weekly baselines). ``weekly``: a pattern repeating every 168 h exactly
    (the last-4-weeks baseline is perfect, so no model can beat it)."""
    rng = np.random.default_rng(seed)
    index = pd.date_range(START, periods=hours, freq="h")
    frames = []
    for i, sid in enumerate(STATIONS):
        if pattern == "lagged":
            pickups = rng.poisson(2 + i, size=hours)
            dropoffs = np.concatenate([[0], pickups[:-1]])
        else:
            week = rng.poisson(2 + i, size=(2, 168))
            pickups, dropoffs = (np.resize(w, hours) for w in week)
        frames.append(
            pd.DataFrame(
                {"system_id": SYSTEM, "station_id": sid, "hour_start": index, "pickups": pickups, "dropoffs": dropoffs}
            )
        )
    labels = pd.concat(frames, ignore_index=True)
    labels["net_change"] = labels["dropoffs"] - labels["pickups"]
    return labels


def make_features(labels: pd.DataFrame, last_as_of: datetime) -> pd.DataFrame:
    """Contract features every 30 min from events strictly before as_of (at hour granularity here)."""
    frames = []
    for sid, g in labels.groupby("station_id"):
        g = g.set_index("hour_start").sort_index()
        hours = pd.date_range(START, last_as_of, freq="h")
        g = g.reindex(hours)  # hours after the last label: unknown yet
        net = g["net_change"].astype(float)
        week = pd.concat([net.shift(168 * k) for k in range(1, 5)], axis=1)
        half_year = pd.concat([net.shift(168 * k) for k in range(1, 27)], axis=1)
        f = pd.DataFrame(
            {
                "system_id": SYSTEM,
                "station_id": sid,
                "as_of": hours,
                "pickup_count_1h": g["pickups"].astype(float).shift(1).fillna(0.0),
                "dropoff_count_1h": g["dropoffs"].astype(float).shift(1).fillna(0.0),
                "net_change_1h": net.shift(1).fillna(0.0),
                "net_change_24h": net.shift(1).rolling(24, min_periods=1).sum().fillna(0.0),
                "net_change_lag168h": week.iloc[:, 0],
                "same_weekday_hour_mean_net_change_4w": week.mean(axis=1),
                "same_weekday_hour_mean_net_change_26w": half_year.mean(axis=1),
                "hour_of_day": hours.hour.astype(float),
                "day_of_week": ((hours.dayofweek + 1) % 7 + 1).astype(float),
            }
        )
        half = f[f["as_of"] < last_as_of].assign(as_of=lambda d: d["as_of"] + pd.Timedelta(minutes=30))
        frames += [f, half]
    return pd.concat(frames, ignore_index=True).sort_values(["as_of", "station_id"], ignore_index=True)


def _load(settings: Settings, table: str, frame: pd.DataFrame, schema: list[bigquery.SchemaField]) -> None:
    client = clients.bigquery_client(settings)
    table_id = settings.table_id(table)
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(bigquery.Table(table_id, schema=schema))
    lines = []
    for rec in frame.to_dict(orient="records"):
        out = {}
        for k, v in rec.items():
            if isinstance(v, pd.Timestamp):
                out[k] = v.isoformat()
            elif isinstance(v, float) and np.isnan(v):
                out[k] = None
            elif isinstance(v, np.integer):
                out[k] = int(v)
            else:
                out[k] = v
        lines.append(json.dumps(out))
    job = client.load_table_from_file(
        io.BytesIO("\n".join(lines).encode()),
        table_id,
        job_config=bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON, schema=schema),
    )
    job.result()


def load_feature_store(settings: Settings, labels: pd.DataFrame, features: pd.DataFrame) -> None:
    """Replace both tables, recorded in the feature store's run log as a run that passed (building, then
    verified once loaded) as of the newest feature as_of, as a bikeshare_features run would be."""
    label_schema = [
        bigquery.SchemaField("system_id", "STRING"),
        bigquery.SchemaField("station_id", "STRING"),
        bigquery.SchemaField("hour_start", "TIMESTAMP"),
        bigquery.SchemaField("pickups", "INT64"),
        bigquery.SchemaField("dropoffs", "INT64"),
        bigquery.SchemaField("net_change", "INT64"),
    ]
    keys = ("system_id", "station_id", "as_of")
    feature_schema = [bigquery.SchemaField(k, "TIMESTAMP" if k == "as_of" else "STRING") for k in keys]
    feature_schema += [bigquery.SchemaField(c, "FLOAT64") for c in features.columns if c not in keys]
    as_of = pd.Timestamp(features["as_of"].max()).to_pydatetime()
    with feature_runs.building("tests.ml.load_feature_store", as_of, settings):
        _load(settings, LABELS_TABLE, labels, label_schema)
        _load(settings, FEATURES_TABLE, features, feature_schema)


FeatureStore = Callable[[str, int], tuple[Settings, pd.DataFrame, pd.DataFrame]]


@pytest.fixture(scope="module")
def feature_store(test_settings: Settings) -> FeatureStore:
    """Build (pattern, weeks) tables in a dataset of their own; labels end one hour before the last as_of."""
    built: dict[tuple[str, int], tuple[Settings, pd.DataFrame, pd.DataFrame]] = {}

    def build(pattern: str, weeks: int) -> tuple[Settings, pd.DataFrame, pd.DataFrame]:
        if (pattern, weeks) not in built:
            settings = test_settings.with_names(
                dataset=f"{test_settings.dataset}_{pattern}{weeks}", bucket=f"{test_settings.bucket}-{pattern}{weeks}"
            )
            clients.bigquery_client(settings).create_dataset(settings.dataset, exists_ok=True)
            clients.storage_client(settings).create_bucket(settings.bucket)
            hours = weeks * 168
            labels = make_labels(hours, pattern)
            features = make_features(labels, START + timedelta(hours=hours))
            load_feature_store(settings, labels, features)
            built[(pattern, weeks)] = (settings, labels, features)
        return built[(pattern, weeks)]

    yield build
    for settings, _, _ in built.values():
        clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
        with suppress(NotFound):
            clients.storage_client(settings).bucket(settings.bucket).delete(force=True)
