"""Naive forecasts of an hour's net change (or pickups, dropoffs), computed from label history.

They use only labels of hours before the hour they predict (and, for the historical mean, only the
training part of the window), so they are what a model must beat to be worth serving.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from include.systems import zone_or_default

BASELINES = ("zero", "same_hour_last_week", "historical_mean_station_weekday_hour", "mean_last_4_same_weekday_hours")


def same_local_hour_before(hours: pd.Series, days: int, time_zone: str | None = None) -> pd.Series:
    """The UTC start of the hour at the same wall-clock time of the system's zone ``days`` days earlier
    (``time_zone`` None: the default system's).

    Riders follow the local clock: across a DST change a week back is 167 or 169 hours, not 168 (the
    feature store's daily and weekly lags do the same). A wall-clock hour that does not exist (02:00 on
    the spring change) moves forward; one that exists twice (01:00 in autumn) is the first.
    """
    zone = zone_or_default(time_zone)
    wall = hours.dt.tz_convert(zone).dt.tz_localize(None) - timedelta(days=days)
    first = np.ones(len(wall), dtype=bool)
    return wall.dt.tz_localize(zone, ambiguous=first, nonexistent="shift_forward").dt.tz_convert("UTC")


def _lagged(history: pd.DataFrame, keys: pd.DataFrame, weeks: int, column: str, time_zone: str | None) -> np.ndarray:
    """``column`` of the same station and local hour ``weeks`` weeks before each key hour (NaN if not in
    history)."""
    lookup = history.set_index(["station_id", "hour_start"])[column]
    index = pd.MultiIndex.from_arrays(
        [keys["station_id"], same_local_hour_before(keys["hour_start"], 7 * weeks, time_zone)]
    )
    return lookup.reindex(index).to_numpy(dtype="float64")


def _weekday_hour(hours: pd.Series, time_zone: str | None) -> tuple[pd.Series, pd.Series]:
    local = hours.dt.tz_convert(zone_or_default(time_zone))
    return local.dt.day_of_week, local.dt.hour


def baseline_predictions(
    history: pd.DataFrame,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    column: str = "net_change",
    time_zone: str | None = None,
) -> dict[str, np.ndarray]:
    """Each baseline's forecast of ``column`` for the rows (station_id, hour_start) of ``valid``.

    ``history`` holds labels (station_id, hour_start, ``column``) of every hour before the validation
    hours that is available; ``train`` is the training part, for the historical mean. A forecast with
    no history falls back to zero.
    """
    keys = valid[["station_id", "hour_start"]].reset_index(drop=True)
    lags = np.column_stack([_lagged(history, keys, k, column, time_zone) for k in range(1, 5)])
    dow, hod = _weekday_hour(train["hour_start"], time_zone)
    means = train.assign(dow=dow.to_numpy(), hod=hod.to_numpy()).groupby(["station_id", "dow", "hod"])[column]
    vdow, vhod = _weekday_hour(keys["hour_start"], time_zone)
    hist = means.mean().reindex(pd.MultiIndex.from_arrays([keys["station_id"], vdow, vhod])).to_numpy()
    seen = (~np.isnan(lags)).sum(axis=1)
    last4 = np.where(seen > 0, np.nansum(lags, axis=1) / np.maximum(seen, 1), np.nan)
    out = {
        "zero": np.zeros(len(keys)),
        "same_hour_last_week": lags[:, 0],
        "historical_mean_station_weekday_hour": hist,
        "mean_last_4_same_weekday_hours": last4,
    }
    return {name: np.nan_to_num(pred.astype("float64"), nan=0.0) for name, pred in out.items()}
