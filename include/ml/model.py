"""The station-flow model: scikit-learn pipelines for next-hour pickups, dropoffs and net change.

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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

NetForecast = Literal["direct", "mean_diff", "skellam_median"]
MeanForecast = Literal["direct", "mean_diff"]
SCORED_COLUMNS = {"mae": "predicted_net_change", "rmse": "predicted_net_change_mean"}

DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "random_state": 0,
}


def _pipeline(features: list[str], loss: str, params: dict[str, Any]) -> Pipeline:
    select = ColumnTransformer([("features", "passthrough", features)], remainder="drop")
    return Pipeline([("select", select), ("boost", HistGradientBoostingRegressor(loss=loss, **params))])


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


# OpenMP threads of the boosting. One: on the shared 2-core machine a fit took 5.6 s with one thread and
# 51 s with two (load ~5; OpenMP threads spin-wait for a busy core). Raise it on a dedicated worker.
THREADS = 1


@dataclass
class StationFlowModel:
    """Three fitted pipelines and what their outputs mean (the registry's model.skops: include/ml/model_file.py)."""

    features: list[str]
    net_forecast: NetForecast = "direct"
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    threads: int = THREADS
    mean_forecast: MeanForecast = "mean_diff"

    @property
    def _mean_forecast(self) -> MeanForecast:
        return getattr(self, "mean_forecast", "mean_diff")  # models pickled before the field: mean_diff

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
        x = frame[self.features]
        self.pipelines = {
            "pickups": _pipeline(self.features, "poisson", self.params).fit(x, frame["pickups"]),
            "dropoffs": _pipeline(self.features, "poisson", self.params).fit(x, frame["dropoffs"]),
        }
        if "direct" in (self.net_forecast, self._mean_forecast):
            self.pipelines["net_change"] = _pipeline(self.features, "squared_error", self.params).fit(
                x, frame["net_change"]
            )
        return self

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Columns pickups, dropoffs, net_change, net_change_mean for each row (missing features: NaN)."""
        x = frame.reindex(columns=self.features)
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
