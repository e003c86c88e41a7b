"""The research harness scores with the product's metrics (include/ml/evaluate.py), so its precision@10 is
hits / k, also in an hour with fewer hits (and fewer ranked stations) than k."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.ml.evaluate import mae_rmse, precision_at_k
from research import model_research


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    """Two hours: one with 12 stations and 3 big moves, one with 4 stations and 2; a third without any."""
    h1, h2, h3 = pd.date_range("2019-09-02 12:00", periods=3, freq="h", tz="UTC")
    net = [5, -4, 3] + [0] * 9 + [-6, 3, 1, 0] + [1, 0]
    as_of = [h1] * 12 + [h2] * 4 + [h3] * 2
    score = np.array([12.0, 1.0, 11.0, *range(10, 1, -1), 4.0, 1.0, 3.0, 2.0, 9.0, 8.0])
    return pd.DataFrame({"as_of": as_of, "net_change": net}), score


def test_research_precision_at_10_is_the_products_hits_over_k() -> None:
    frame, score = _frame()
    research = model_research.precision_at_10(frame, score)
    product = precision_at_k(frame["as_of"], frame["net_change"].to_numpy(), score, k=10)
    # hour 1: the top 10 hold the moves scored 12 and 11, not the one scored 1 -> 2/10;
    # hour 2: both moves among its 4 stations -> 2/10 (the old copy divided by the 4 ranked: 2/4);
    # hour 3 has no big move and is left out
    assert research == product == pytest.approx((2 / 10 + 2 / 10) / 2)


def test_walk_forward_gains_use_the_products_mae_and_rmse() -> None:
    from include.ml import baselines
    from research import walk_forward

    y = np.array([0.0, 2.0, -3.0, 1.0])
    columns = {"median": y + np.array([0.5, -0.5, 0, 0]), "mean": y + np.array([1.0, 0, 0, -1]), "mean_diff": y + 2.0}
    columns |= {name: y + i + 1.0 for i, name in enumerate(baselines.BASELINES)}
    gains = walk_forward.gains(pd.DataFrame({"net_change": y, **columns}))
    assert gains["mae"] == mae_rmse(y, columns["median"])["mae"] == pytest.approx(0.25)
    assert gains["rmse"] == mae_rmse(y, columns["mean"])["rmse"] == pytest.approx(np.sqrt(0.5))
    assert gains["best_naive_mae"] == gains["best_naive_rmse"] == pytest.approx(1.0)
