"""The station-flow model: scikit-learn pipelines for pickups, dropoffs and net change in the next hours.

Pickups and dropoffs are counts, so they get Poisson-loss gradient boosting (their mean). Net change
(dropoffs - pickups) is the column crews act on; how it is forecast is a parameter chosen by
measurement (``research/model_research.py``) and recorded in the metadata:

- ``direct``: its own gradient boosting with squared error (a mean forecast of net change);
- ``mean_diff``: mean dropoffs - mean pickups of the two count models (also a mean);
- ``skellam_median``: the median of the difference of two Poisson counts (a Skellam distribution),
  the point forecast that minimises MAE if the counts are Poisson.

One column cannot be both the MAE-optimal median and the RMSE-optimal mean, so every model also outputs
``net_change_mean``, a mean forecast (``mean_forecast``: ``mean_diff`` of the count models, or ``direct``,
the squared-error model): MAE is scored on ``net_change``, RMSE on ``net_change_mean``
(``point_forecasts`` and ``SCORED_COLUMNS`` say which is which).

Each pipeline takes every feature column it was fitted with, in that order (missing ones are NaN, which
gradient boosting treats as missing). The station id is not an input: encoding it as a category gained
< 0.5 % MAE in the research and made the Poisson fits 20 times slower; new stations need no retraining.

Horizons (issue 22 §2): from the features as of ``T`` the model forecasts the hours ``[T, T+1h)`` (horizon 1),
``[T+1h, T+2h)`` (2) and ``[T+2h, T+3h)`` (3). Horizon 1 is the three models above, fitted exactly as before
(so the next hour cannot regress). Each later horizon ``k`` gets its own two Poisson count models, fitted on
the same rows with the labels of hour ``T+k-1`` (the frame's own label of that station and hour; rows whose
hour ``T+k-1`` is not in the frame are left out, so a training/validation split never leaks) and more
inputs: the system's local hour of day and weekday of the target hour (:func:`target_calendar`) and what that hour
saw before, a day and a week earlier and the mean of the last 4 weeks (:func:`target_history`, read from
the labels: all before ``T``). The features describe ``T``'s own hour only. Their net-change columns are the
difference of the two means (no median, no direct model: the rates are what the rebalancing plan reads).
Models saved before horizons existed have no ``horizons`` in their state: they forecast horizon 1 only, and
:meth:`StationFlowModel.predict_horizons` returns just that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from include.ml import memory
from include.ml.baselines import same_local_hour_before
from include.systems import zone_or_default

NetForecast = Literal["direct", "mean_diff", "skellam_median"]
MeanForecast = Literal["direct", "mean_diff"]
SCORED_COLUMNS = {"mae": "predicted_net_change", "rmse": "predicted_net_change_mean"}
HORIZONS = 3  # hours forecast per run: [T, T+1h), [T+1h, T+2h), [T+2h, T+3h)
Ahead = Literal["per_horizon", "stacked"]
HISTORY_REACH = pd.Timedelta(days=29)  # labels predict_horizons reads before T: 4 weeks back, +1 day for DST

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "random_state": 0,
}


def _pipeline(loss: str, params: dict[str, Any]) -> Pipeline:
    """One gradient-boosting model. Its inputs come as :func:`_inputs` builds them, so it needs no column
    selection of its own (models saved before selected theirs with a passthrough ``ColumnTransformer``, which
    copied the inputs twice per fit: 1.2 GB a fit at 500 stations and 26 weeks)."""
    return Pipeline([("boost", HistGradientBoostingRegressor(loss=loss, **params))])


def _inputs(
    frame: pd.DataFrame, features: list[str], extra: tuple[pd.DataFrame, ...] = (), rows: np.ndarray | None = None
) -> pd.DataFrame:
    """``frame``'s columns ``features`` (NaN where it lacks one) of the selected ``rows`` (a boolean mask or
    positions, in their order; all by default), then the columns of ``extra`` (frames of those rows only, in
    the same order), as one float64 block.

    The block is the model's input matrix: scikit-learn takes it without a copy, and each column is copied
    once, straight from its source (selecting rows of the whole frame first would copy every column of it)."""
    index = frame.index if rows is None else frame.index[rows]
    names = [*features, *(name for part in extra for name in part.columns)]
    # row-major (C order): the boosting copies a column-major matrix into row-major order in each fit
    block = np.empty((len(index), len(names)), dtype="float64")
    for i, name in enumerate(features):
        if name not in frame:
            block[:, i] = np.nan
            continue
        values = frame[name].to_numpy(dtype="float64", na_value=np.nan)
        block[:, i] = values if rows is None else values[rows]
    for i, name in enumerate(names[len(features) :], start=len(features)):
        block[:, i] = next(part[name] for part in extra if name in part).to_numpy(dtype="float64", na_value=np.nan)
    return pd.DataFrame(block, index=index, columns=names, copy=False)


EARLY_STOPPING_MIN_ROWS = 10_000  # HistGradientBoosting's early_stopping="auto" stops early above this many rows


def _validation_split(n: int, params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """The row positions (training, validation) that HistGradientBoosting's early stopping would split ``n`` rows
    into itself (the same seed drawn from ``random_state``, the same ``train_test_split``); None where it would
    not hold rows out (few rows, no early stopping, or no validation fraction).

    Made here so that a fit's inputs are built once for each part, not built whole and then copied into the
    two parts inside the fit (the copy was the largest term left of a fit's peak: ~0.8 GB at 500 stations and 26
    weeks). ``tests/ml/test_model_file.py`` checks that models fit this way equal those split by the library."""
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    early, fraction = params.get("early_stopping", "auto"), params.get("validation_fraction", 0.1)
    if early is False or fraction is None or (early == "auto" and n <= EARLY_STOPPING_MIN_ROWS):
        return None
    seed = check_random_state(params.get("random_state")).randint(np.iinfo(np.uint32).max, dtype="u8")
    return train_test_split(np.arange(n), test_size=fraction, random_state=seed)


def _fit_pipelines(
    build: Callable[[np.ndarray | None], pd.DataFrame],
    n: int,
    targets: dict[str, tuple[str, np.ndarray]],
    params: dict[str, Any],
    fill_empty: bool = False,
) -> dict[str, Pipeline]:
    """One pipeline per entry of ``targets`` (name: loss, labels of the ``n`` rows), all on the same inputs:
    ``build(rows)`` gives the inputs of the row positions ``rows`` (None: all), built once per part of
    :func:`_validation_split`. ``fill_empty``: an input with no value in any row is made 0 (see ``_fit_ahead``)."""
    split = _validation_split(n, params)
    parts = [build(None)] if split is None else [build(rows) for rows in split]
    if fill_empty and (empty := [c for c in parts[0].columns if all(p[c].isna().all() for p in parts)]):
        parts = [p.fillna(dict.fromkeys(empty, 0.0)) for p in parts]
    memory.release()  # what building the inputs freed (a later horizon's lookups: ~1 GB at 500 stations)
    out = {}
    for name, (loss, y) in targets.items():
        if split is None:
            out[name] = _pipeline(loss, params).fit(parts[0], y)
        else:  # the library's own split, given (early_stopping=True: "auto" would count the training part only)
            out[name] = (
                _pipeline(loss, params)
                .set_params(boost__early_stopping=True)
                .fit(parts[0], y[split[0]], boost__X_val=parts[1], boost__y_val=y[split[1]])
            )
    return out


def skellam_median(mu_dropoffs: np.ndarray, mu_pickups: np.ndarray, half_width: int = 6) -> np.ndarray:
    """Median of D - P for independent Poisson D, P with the given means.

    The median lies within a few units of the mean difference, so only that neighbourhood is searched.
    """
    from scipy.stats import skellam

    mu_d = np.clip(np.asarray(mu_dropoffs, dtype="float64"), 1e-6, None)
    mu_p = np.clip(np.asarray(mu_pickups, dtype="float64"), 1e-6, None)
    ks = np.round(mu_d - mu_p)[:, None] + np.arange(-half_width, half_width + 1)[None, :]
    cdf = skellam.cdf(ks, mu_d[:, None], mu_p[:, None])
    return ks[np.arange(len(ks)), np.argmax(cdf >= 0.5, axis=1)]


def _hours(frame: pd.DataFrame) -> pd.Series:
    """Each row's hour ``T``: the label hour of a training row (= its features' as_of), the as_of of a
    prediction row."""
    column = "hour_start" if "hour_start" in frame else "as_of"
    if column not in frame:
        raise ValueError("forecasting beyond the next hour needs the rows' hour_start or as_of")
    return pd.to_datetime(frame[column], utc=True)


def target_calendar(frame: pd.DataFrame, horizon: int, time_zone: str | None = None) -> pd.DataFrame:
    """Local hour of day and weekday (1 = Sunday, the feature store's convention) of each row's hour
    ``T + horizon - 1`` in the system's zone (None: the default system's): the features describe ``T``'s
    calendar, a later horizon needs its own."""
    local = (_hours(frame) + pd.Timedelta(hours=horizon - 1)).dt.tz_convert(zone_or_default(time_zone))
    return pd.DataFrame(
        {
            "target_hour_of_day": local.dt.hour.astype("float64"),
            "target_day_of_week": ((local.dt.day_of_week + 1) % 7 + 1).astype("float64"),
        },
        index=frame.index,
    )


def counts_by_hour(labels: pd.DataFrame) -> pd.DataFrame:
    """Pickups and dropoffs indexed by (station_id, hour_start UTC): the lookup of the later horizons' labels
    and of their target hours' history."""
    out = pd.DataFrame(
        {"pickups": labels["pickups"].to_numpy("float64"), "dropoffs": labels["dropoffs"].to_numpy("float64")}
    )
    out.index = pd.MultiIndex.from_arrays(
        [labels["station_id"].astype(str).to_numpy(), _hours(labels).to_numpy()], names=["station_id", "hour_start"]
    )
    return out


def horizon_labels(frame: pd.DataFrame, horizon: int, counts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Pickups and dropoffs of the same station in the hour ``T + horizon - 1`` (NaN where ``counts``, by
    default the frame's own labels, lack it)."""
    if "station_id" not in frame:
        raise ValueError("forecasting beyond the next hour needs the rows' station_id")
    counts = counts_by_hour(frame) if counts is None else counts
    keys = pd.MultiIndex.from_arrays(
        [frame["station_id"].astype(str).to_numpy(), (_hours(frame) + pd.Timedelta(hours=horizon - 1)).to_numpy()]
    )
    return counts.reindex(keys).set_axis(frame.index)


def target_history(
    frame: pd.DataFrame, counts: pd.DataFrame, horizon: int, time_zone: str | None = None
) -> pd.DataFrame:
    """What the target hour ``T + horizon - 1`` saw at the station before: the same local hour a day and a
    week earlier and the mean of the last 4 same-weekday hours (NaN where ``counts`` lack them), for pickups
    and dropoffs. All are hours before ``T`` (a day back from ``T + 2h`` is ``T - 22h``), so they are known
    at ``T``; the features as of ``T`` describe ``T``'s own hour only."""
    stations = frame["station_id"].astype(str).to_numpy()
    target = _hours(frame).reset_index(drop=True) + pd.Timedelta(hours=horizon - 1)
    seen = {
        days: counts.reindex(
            pd.MultiIndex.from_arrays([stations, same_local_hour_before(target, days, time_zone).to_numpy()])
        )
        for days in (1, 7, 14, 21, 28)
    }
    out = {}
    for label in ("pickups", "dropoffs"):
        weeks = np.column_stack([seen[d][label].to_numpy() for d in (7, 14, 21, 28)])
        known = (~np.isnan(weeks)).sum(axis=1)
        out[f"target_{label}_lag24h"] = seen[1][label].to_numpy()
        out[f"target_{label}_lag168h"] = seen[7][label].to_numpy()
        out[f"target_{label}_4w"] = np.where(known > 0, np.nansum(weeks, axis=1) / np.maximum(known, 1), np.nan)
    return pd.DataFrame(out, index=frame.index)


def _row_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """What the later horizons' inputs are looked up by: each row's station and hour (``hour_start`` or ``as_of``)."""
    return frame[[c for c in ("station_id", "hour_start", "as_of") if c in frame]]


def _ahead_key(label: str, horizon: int) -> str:
    """The pipeline of a later horizon: ``pickups_h2``, ...; ``pickups_ahead`` for the stacked model (0)."""
    return f"{label}_ahead" if horizon == 0 else f"{label}_h{horizon}"


# OpenMP threads of the boosting. One: on the shared 2-core machine a fit took 5.6 s with one thread and
# 51 s with two (load ~5; OpenMP threads spin-wait for a busy core). Raise it on a dedicated worker.
THREADS = 1


@dataclass
class StationFlowModel:
    """The fitted pipelines and what their outputs mean (the registry's model.skops: include/ml/model_file.py).

    ``horizons``: how many hours it forecasts (1 = the next hour only); ``ahead``: how the later horizons are
    modelled, ``per_horizon`` (two count models per horizon, the measured choice) or ``stacked`` (two count
    models over the later horizons' rows stacked, with the horizon as an input; kept for the research)."""

    features: list[str]
    net_forecast: NetForecast = "direct"
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    threads: int = THREADS
    mean_forecast: MeanForecast = "mean_diff"
    horizons: int = HORIZONS
    ahead: Ahead = "per_horizon"
    ahead_history: bool = True
    time_zone: str | None = None  # the system's IANA zone; None (and older models): the default system's

    @property
    def _mean_forecast(self) -> MeanForecast:
        return getattr(self, "mean_forecast", "mean_diff")  # models pickled before the field: mean_diff

    @property
    def _horizons(self) -> int:
        # models saved before the field lack it in their state (the class attribute is the new default, 3)
        return int(vars(self).get("horizons", 1))

    @property
    def needs_history(self) -> bool:
        """True if :meth:`predict_horizons` needs the labels of the ``HISTORY_REACH`` before ``T``."""
        return self._horizons > 1 and self.ahead_history

    @property
    def point_forecasts(self) -> dict[str, str]:
        """Which statistic of the predictive distribution each output column is."""
        net = "median" if self.net_forecast == "skellam_median" else "mean"
        return {
            "predicted_net_change": net,
            "predicted_net_change_mean": "mean",
            "predicted_pickups": "mean",
            "predicted_dropoffs": "mean",
        }

    def fit(self, frame: pd.DataFrame) -> StationFlowModel:
        """Fit on rows with station_id, the feature columns and the labels pickups, dropoffs, net_change."""
        with threadpool_limits(getattr(self, "threads", THREADS)):
            return self._fit(frame)

    def _fit(self, frame: pd.DataFrame) -> StationFlowModel:
        targets = {"pickups": "poisson", "dropoffs": "poisson"}
        if "direct" in (self.net_forecast, self._mean_forecast):
            targets["net_change"] = "squared_error"
        self.pipelines = _fit_pipelines(
            lambda rows: _inputs(frame, self.features, rows=rows),
            len(frame),
            {name: (loss, frame[name].to_numpy()) for name, loss in targets.items()},
            self.params,
        )
        if self._horizons > 1:
            self._fit_ahead(frame)
        return self

    def _ahead_rows(
        self, frame: pd.DataFrame, horizon: int, counts: pd.DataFrame | None, rows: np.ndarray | None = None
    ) -> pd.DataFrame:
        """The inputs of horizon ``horizon``'s models for the selected ``rows`` of ``frame`` (all by default)."""
        keys = _row_keys(frame)
        return _inputs(
            frame, self.features, self._ahead_extra(keys if rows is None else keys[rows], horizon, counts), rows
        )

    def _ahead_extra(self, keys: pd.DataFrame, horizon: int, counts: pd.DataFrame | None) -> tuple[pd.DataFrame, ...]:
        """What a later horizon's inputs add to the features, for the rows of ``keys`` (station_id, the hour)."""
        zone = vars(self).get("time_zone")  # models saved before the field served the default system
        extra = [target_calendar(keys, horizon, zone)]
        if self.ahead_history:
            if counts is None:
                raise ValueError("this model's later horizons need the label history before T (history=)")
            extra.append(target_history(keys, counts, horizon, zone))
        if self.ahead == "stacked":
            extra.append(pd.DataFrame({"horizon": float(horizon)}, index=keys.index))
        return tuple(extra)

    def _fit_ahead(self, frame: pd.DataFrame) -> None:
        """The count models of horizons 2.. (see the module docstring): labels of hour ``T + k - 1``, on the rows
        whose hour ``T + k - 1`` is labelled in the frame.

        An input with no value in the window (a window shorter than its history: no 4-week lags yet) is made
        constant: gradient boosting cannot bin an all-NaN column, and cannot split on a constant one. Each
        horizon's inputs are built just before its fits and freed after them: at 500 stations and a 26-week
        window one horizon's inputs are ~0.8 GB, and holding all of them took the fit above 4 GB."""
        counts = counts_by_hour(frame)
        if self.ahead == "stacked":  # the research's alternative: the horizons' rows stacked, built whole
            parts = []
            for k in range(2, self._horizons + 1):
                labels = horizon_labels(frame, k, counts)
                known = labels["pickups"].notna().to_numpy()
                parts.append((self._ahead_rows(frame, k, counts, known), labels[known]))
            x, y = pd.concat([x for x, _ in parts]), pd.concat([y for _, y in parts])
            self._fit_ahead_models(0, lambda rows: x if rows is None else x.iloc[rows], y)
            return
        keys = _row_keys(frame)
        for k in range(2, self._horizons + 1):
            memory.release()  # the last fit's freed arrays, before this horizon's inputs
            labels = horizon_labels(frame, k, counts)
            rows = np.flatnonzero(labels["pickups"].notna().to_numpy())
            extra = self._ahead_extra(keys.iloc[rows], k, counts)

            def build(part: np.ndarray | None, rows: np.ndarray = rows, extra: tuple = extra) -> pd.DataFrame:
                if part is None:
                    return _inputs(frame, self.features, extra, rows)
                return _inputs(frame, self.features, tuple(e.iloc[part] for e in extra), rows[part])

            self._fit_ahead_models(k, build, labels.iloc[rows])

    def _fit_ahead_models(
        self, k: int, build: Callable[[np.ndarray | None], pd.DataFrame], labels: pd.DataFrame
    ) -> None:
        targets = {_ahead_key(label, k): ("poisson", labels[label].to_numpy()) for label in ("pickups", "dropoffs")}
        self.pipelines.update(_fit_pipelines(build, len(labels), targets, self.params, fill_empty=True))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns pickups, dropoffs, net_change, net_change_mean for each row (missing features: NaN)."""
        x = _inputs(frame, self.features)
        with threadpool_limits(getattr(self, "threads", THREADS)):  # getattr: models pickled before the field
            pickups = self.pipelines["pickups"].predict(x)
            dropoffs = self.pipelines["dropoffs"].predict(x)
            direct = self.pipelines["net_change"].predict(x) if "net_change" in self.pipelines else None
        mean = direct if direct is not None and self._mean_forecast == "direct" else dropoffs - pickups
        if self.net_forecast == "skellam_median":
            net = skellam_median(dropoffs, pickups)
        else:
            net = direct if self.net_forecast == "direct" else dropoffs - pickups
        return pd.DataFrame(
            {"pickups": pickups, "dropoffs": dropoffs, "net_change": net, "net_change_mean": mean}, index=frame.index
        )

    def predict_horizons(self, frame: pd.DataFrame, history: pd.DataFrame | None = None) -> pd.DataFrame:
        """:meth:`predict` for each horizon the model has, stacked: column ``horizon`` (1, 2, ...) first, then
        the same four columns, the rows of horizon 1 (exactly :meth:`predict`) then 2, ...; each block keeps
        ``frame``'s index. For horizons >= 2 both net-change columns are the difference of the count means.
        ``history``: labels (station_id, hour_start, pickups, dropoffs) of at least the ``HISTORY_REACH`` before
        the rows' hours, if :attr:`needs_history`."""
        out = [self.predict(frame).assign(horizon=1)]
        counts = counts_by_hour(history) if history is not None and self.needs_history else None
        with threadpool_limits(getattr(self, "threads", THREADS)):
            for k in range(2, self._horizons + 1):
                x = self._ahead_rows(frame, k, counts)
                key = 0 if self.ahead == "stacked" else k
                pickups = self.pipelines[_ahead_key("pickups", key)].predict(x)
                dropoffs = self.pipelines[_ahead_key("dropoffs", key)].predict(x)
                net = dropoffs - pickups
                out.append(
                    pd.DataFrame(
                        {"pickups": pickups, "dropoffs": dropoffs, "net_change": net, "net_change_mean": net},
                        index=frame.index,
                    ).assign(horizon=k)
                )
        stacked = pd.concat(out)
        return stacked[["horizon", "pickups", "dropoffs", "net_change", "net_change_mean"]]
