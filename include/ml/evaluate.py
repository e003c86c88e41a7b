"""Metrics of net-change forecasts, the rebalancing ranking metric, and the promotion gate."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BIG_MOVE = 3  # |net change| from which a station needs a crew this hour
TOP_K = 10


def mae_rmse(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    err = np.asarray(predicted, dtype="float64") - np.asarray(actual, dtype="float64")
    return {"mae": float(np.mean(np.abs(err))), "rmse": float(np.sqrt(np.mean(err**2)))}


def precision_at_k(hours: pd.Series, actual_net: np.ndarray, score: np.ndarray, k: int = TOP_K) -> float:
    """Mean over hours with at least one big move of the share of the k top-scored stations that moved big.

    Hours without any big move are left out (no ranking can be right or wrong there); NaN if none is left.
    """
    d = pd.DataFrame({"h": hours.to_numpy(), "s": np.asarray(score), "hit": np.abs(actual_net) >= BIG_MOVE})
    d = d[d.groupby("h")["hit"].transform("any")]
    if d.empty:
        return float("nan")
    top = d.sort_values(["h", "s"], ascending=[True, False], kind="stable").groupby("h").head(k)
    return float(top.groupby("h")["hit"].sum().div(k).mean())


@dataclass(frozen=True)
class GateDecision:
    promoted: bool
    reason: str


def gate(metrics: dict[str, dict[str, float]], model_key: str = "model") -> GateDecision:
    """Promote only if the model's MAE beats every baseline's (strictly); the reason says which one won."""
    model_mae = metrics[model_key]["mae"]
    baselines = {name: m["mae"] for name, m in metrics.items() if name != model_key}
    if not np.isfinite(model_mae):
        return GateDecision(False, "model MAE is not finite")
    best_name, best_mae = min(baselines.items(), key=lambda kv: kv[1])
    if model_mae < best_mae:
        return GateDecision(True, f"model MAE {model_mae:.3f} beats every baseline (best: {best_name} {best_mae:.3f})")
    return GateDecision(False, f"model MAE {model_mae:.3f} does not beat baseline {best_name} ({best_mae:.3f})")
