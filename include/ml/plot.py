"""One PNG per run: predicted vs actual net change over the last 24 h for the busiest stations, and the
metrics table (model and baselines) — people would rather look than read."""

from __future__ import annotations

import io

import pandas as pd


def evaluation_png(
    last_day: pd.DataFrame, metrics: dict[str, dict[str, float]], title: str, stations: int = 6
) -> bytes:
    """``last_day``: station_id, hour_start, net_change (actual) and predicted, for the last 24 hours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    volume = last_day.assign(v=last_day["net_change"].abs()).groupby("station_id")["v"].sum()
    busiest = list(volume.sort_values(ascending=False, kind="stable").index[:stations])
    cols = 3
    rows = max(1, -(-len(busiest) // cols))
    fig = plt.figure(figsize=(4.2 * cols, 2.6 * rows + 2.4))
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[*([2.6] * rows), 2.2])
    for i, sid in enumerate(busiest):
        ax = fig.add_subplot(grid[i // cols, i % cols])
        g = last_day[last_day["station_id"] == sid].sort_values("hour_start")
        ax.bar(g["hour_start"], g["net_change"], width=0.03, color="#9ecae1", label="actual")
        ax.plot(g["hour_start"], g["predicted"], color="#d62728", marker=".", label="predicted")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_title(f"station {sid}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.tick_params(axis="x", labelrotation=45)
        if i == 0:
            ax.legend(fontsize=7)
    table_ax = fig.add_subplot(grid[rows, :])
    table_ax.axis("off")
    names = list(metrics)
    cells = [
        [n, *(f"{metrics[n].get(k, float('nan')):.3f}" for k in ("mae", "rmse", "precision_at_10"))] for n in names
    ]
    table = table_ax.table(
        cellText=cells, colLabels=["", "MAE", "RMSE", "precision@10"], colWidths=[0.4, 0.2, 0.2, 0.2], loc="center"
    )
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
