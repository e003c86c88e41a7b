"""The research harness's pandas copy of the feature contract (research/model_research.py ``features``) is
tied to the dbt table: on real events built by dbt on the emulator, every column it produces equals
``station_features_wide``'s at every on-the-hour as_of.

dbt counts hours before the events as zero; the copy gives them NaN (no history) unless its hour grid starts
earlier, so the grid here starts four weeks and a day before the first event (the harness drops only the
first week of its nine months: its 4-week means and 1-week lags are NaN a little longer than dbt's zeros). The
fleet's system_* counts are dbt's once every station of the slice has had its first pickup: dbt's fleet grows
with first pickups, the copy's is every station with a pickup in its whole period. ``is_peak_station`` has no
copy (the harness never used it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.dbt.runner import dbt_vars, run_dbt
from include.gcp import clients, resources
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from research import model_research
from tests.conftest import drop_resources
from tests.dbt.conftest import EVENTS_END

AS_OF_END = pd.Timestamp(EVENTS_END)  # the build's as_of: every event of the slice is before it
HISTORY_PAD = pd.Timedelta(days=29)
NOT_COPIED = {"is_peak_station"}


@pytest.fixture(scope="module")
def dbt_wide(local_stack: Settings, trip_events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """station_features_wide at the on-the-hour as_ofs, built by dbt in a dataset of this module."""
    tag = uuid.uuid4().hex[:8]
    settings = local_stack.with_names(
        dataset=f"test_research_{tag}",
        topic=f"test-research-{tag}",
        subscription=f"test-research-{tag}-sub",
        bucket=f"test-research-{tag}",
    )
    resources.ensure_all(settings)
    try:
        load_raw_events([e.to_dict() for e in trip_events], settings)
        target: Path = tmp_path_factory.mktemp("dbt-research") / "target"
        run_dbt(["seed"], settings, target_path=target)
        run_dbt(
            ["run", "--select", "+station_features_wide"],
            settings,
            vars=dbt_vars(as_of=AS_OF_END.to_pydatetime()),
            target_path=target,
        )
        sql = (
            f"select * from `{settings.project}.{settings.dataset}.station_features_wide` "
            "where extract(minute from as_of) = 0"
        )
        rows = clients.bigquery_client(settings).query(sql).result()
        yield pd.DataFrame([dict(row.items()) for row in rows])
    finally:
        drop_resources(settings)


@pytest.fixture(scope="module")
def pandas_copy(trip_events: list[Event]) -> pd.DataFrame:
    """The harness's features of the same events, on an hour grid from well before them up to the build's as_of."""
    df = model_research.events_frame([e for e in trip_events if e.ts < AS_OF_END])
    hours = pd.date_range(df["ts"].min().floor("h") - HISTORY_PAD, AS_OF_END, freq="h")
    labels = model_research.counts_on_grid(df, hours)
    quarters = model_research.quarter_counts(df, set(labels["station_id"]))
    return model_research.features(labels, model_research.capacities(), model_research.us_holidays(), quarters)


def test_every_column_of_the_pandas_copy_equals_station_features_wide(
    dbt_wide: pd.DataFrame, pandas_copy: pd.DataFrame
) -> None:
    copied = [c for c in pandas_copy.columns if c not in ("station_id", "as_of")]
    dbt_features = set(dbt_wide.columns) - {"station_id", "as_of"}
    assert set(copied) == dbt_features - NOT_COPIED, "the copy and the dbt contract name the same features"
    dbt_wide = dbt_wide.assign(as_of=pd.to_datetime(dbt_wide["as_of"], utc=True))
    both = dbt_wide.merge(pandas_copy, on=["station_id", "as_of"], how="left", suffixes=("_dbt", ""))
    assert len(both) == len(dbt_wide) > 2000
    assert both["hour_of_day"].notna().all(), "every station-hour dbt has, the copy has"
    fleet = pandas_copy["station_id"].nunique()
    whole_fleet = both.groupby("as_of")["station_id"].transform("size") == fleet
    assert whole_fleet.mean() > 0.5, "most as_ofs have the whole fleet"
    mismatched = {}
    for col in copied:
        rows = whole_fleet if col.startswith("system_") else slice(None)
        dbt_values = both.loc[rows, f"{col}_dbt"].to_numpy(float)
        copy_values = both.loc[rows, col].to_numpy(float)
        close = np.isclose(copy_values, dbt_values, rtol=1e-9, atol=1e-9)
        if not close.all():
            first = both.loc[rows].loc[~close].iloc[0]
            mismatched[col] = (
                int((~close).sum()),
                first["station_id"],
                str(first["as_of"]),
                first[col],
                first[f"{col}_dbt"],
            )
    assert not mismatched, mismatched
    assert both["net_change_lag24h"].abs().sum() > 0, "the day-ago lags are compared on real values"
