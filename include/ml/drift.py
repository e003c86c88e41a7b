"""Feature drift: has the input moved away from what the serving model was trained on?

At training, each feature's distribution over the training part of the window is stored with the
model (``metadata.json`` → ``feature_profile``: decile edges and the share of rows in each bin), so
the check never re-reads 26 weeks. Every hour the monitoring run compares the last 7 days of
features with that profile by the population stability index,
``PSI = sum((actual - expected) * ln(actual / expected))`` over the bins (shares floored at 1e-4).
Common reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 a significant shift (``ALERT_PSI``).

That common bar cries wolf here: a count feature of a season that grows week by week (Jan-Jun ridership)
scores far above 0.25 on perfectly normal weeks (research/drift_calibration.py measured the false alarms per
week on Jan-Sep 2019). So each feature gets its own bar, :func:`thresholds`, from the drift its own training
window already showed: each of the last ``CALIBRATION_WEEKS`` weeks of the training part scored against the
profile of the rows before it, the largest of those times ``MARGIN``, never below ``ALERT_PSI``. Stored
with the profile; a model trained before the bars is not judged on PSI (the common bar cried wolf every
week), only on stuck features. Calendar features (``CALENDAR``)
follow the clock, not the data (a week with a holiday has more holiday hours): recorded, never alerted on.
A seasonal feature's high bar would hide a broken upstream, so a feature that is stuck (:func:`stuck`: one
value, or none, all week where its training rows varied) alerts whatever its PSI.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

BINS = 10
FLOOR = 1e-4
ALERT_PSI = 0.25
CALIBRATION_WEEKS = 8
MARGIN = 3.0  # research/drift_calibration.py: 0 of 35 normal weeks alarm at 3 (2 at 2.0), plants still fire
CALENDAR = frozenset({"hour_of_day", "day_of_week", "is_holiday"})
WEEK = pd.Timedelta(days=7)


def _bin_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Share of values in (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    idx = np.searchsorted(np.asarray(edges, dtype="float64"), values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1).astype("float64")
    return counts / max(len(values), 1)


def profile(frame: pd.DataFrame, features: list[str]) -> dict[str, dict[str, list[float]]]:
    """Each feature's inner decile edges (distinct) and the training rows' share per bin."""
    entries = {name: _entry(frame[name].to_numpy(dtype="float64")) for name in features}
    return {name: entry for name, entry in entries.items() if entry is not None}


def _entry(values: np.ndarray) -> dict[str, list[float]] | None:
    """One feature's profile entry (None: no finite value)."""
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    edges = sorted({float(q) for q in np.quantile(values, np.linspace(0, 1, BINS + 1)[1:-1])})
    return {"edges": edges, "shares": _bin_shares(values, edges).round(6).tolist()}


def psi(entry: dict[str, list[float]], values: np.ndarray) -> float:
    """Population stability index of ``values`` against one feature's training profile."""
    values = np.asarray(values, dtype="float64")
    values = values[np.isfinite(values)]
    expected = np.maximum(np.asarray(entry["shares"], dtype="float64"), FLOOR)
    actual = np.maximum(_bin_shares(values, entry["edges"]), FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def report(feature_profile: dict[str, Any], frame: pd.DataFrame) -> dict[str, float]:
    """PSI of every profiled feature present in ``frame``, highest first."""
    scores = {name: psi(entry, frame[name].to_numpy()) for name, entry in feature_profile.items() if name in frame}
    return dict(sorted(scores.items(), key=lambda kv: -kv[1]))


def thresholds(
    feature_profile: dict[str, Any],
    train: pd.DataFrame,
    features: list[str],
    time_column: str = "as_of",
    margin: float = MARGIN,
) -> dict[str, float]:
    """Each profiled feature's alert bar (module docstring): ``MARGIN`` x the largest PSI of one of the last
    ``CALIBRATION_WEEKS`` training weeks against the profile of the training rows before that week."""
    if train.empty:
        return {}
    times = train[time_column]
    end = times.max() + pd.Timedelta(hours=1)
    names = [f for f in features if f in feature_profile]
    worst = dict.fromkeys(feature_profile, 0.0)
    for k in range(CALIBRATION_WEEKS, 0, -1):
        start = end - k * WEEK
        before, week = (times < start).to_numpy(), ((times >= start) & (times < start + WEEK)).to_numpy()
        if before.sum() < week.sum() or not week.any():  # too little history before it to judge a week
            continue
        for name in names:  # a column at a time: selecting the rows of every feature at once copied the window
            values = train[name].to_numpy(dtype="float64")
            entry = _entry(values[before])
            if entry is not None:
                worst[name] = max(worst[name], psi(entry, values[week]))
    return {name: round(max(ALERT_PSI, margin * value), 4) for name, value in worst.items()}


def shifted(scores: dict[str, float], bars: dict[str, float] | None) -> dict[str, float]:
    """The features whose PSI passes their bar (``ALERT_PSI`` for a feature without one), highest first;
    none for a model without bars (``None``: trained before them)."""
    if bars is None:
        return {}
    return {name: value for name, value in scores.items() if name not in CALENDAR and value > bars.get(name, ALERT_PSI)}


def stuck(feature_profile: dict[str, Any], frame: pd.DataFrame) -> list[str]:
    """The profiled features that took one value (or none: all missing) over ``frame`` while their training
    rows spread over at least two bins of 5 % or more: a broken upstream, whatever the PSI says."""
    out = []
    for name, entry in feature_profile.items():
        if name in CALENDAR or name not in frame:
            continue
        values = frame[name].to_numpy(dtype="float64")
        values = values[np.isfinite(values)]
        varied = sum(share >= 0.05 for share in entry["shares"]) >= 2
        if varied and len(frame) and np.unique(values).size <= 1:
            out.append(name)
    return out
