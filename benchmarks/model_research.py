"""Model research on real Citi Bike Jersey City trips (offline, pandas): which model beats the naive baselines.

Rebuilds the feature-store contract (station_features_wide at hourly as_of, station_hourly_labels) in pandas
from the trip files, then compares the baselines with gradient-boosting variants on two time splits:
train Jan-Jun / validate Jul-Sep, and the DAG's rolling window (8 weeks, last 7 days validated) at several
cut-offs. Prints MAE / RMSE of net change and precision@10 of "|net change| >= 3".

    .venv/bin/python benchmarks/model_research.py [--quick | --windows-only]

Measured 2026-11-23 (52 stations, 2019-01..09; net change, MAE / RMSE / precision@10):
| split | best naive MAE | best naive RMSE | HGB squared error | Poisson p/d, Skellam median |
|---|---|---|---|---|
| Jan-Jun -> Jul-Sep | 1.108 (last 4 same-weekday) | 1.977 (same) | 1.019 / 1.845 | 0.996 / 2.030 |
| mean of 5 rolling 8-week windows + long | 1.011 (hist mean) | 1.804 (hist mean) | 0.966 / 1.771 | 0.937 / 1.815 |
Poisson on pickups/dropoffs with the Skellam median is the best on MAE in every split (the gate's metric;
-7 % vs the best naive on average), squared error the best on RMSE (-2 %); precision@10 by predicted
volume 0.41-0.44 vs 0.38-0.40 naive. Station id as a category: < 0.5 % and 20x slower Poisson fits.
The issue's bar (-15 % MAE, -12 % RMSE vs the best naive) is NOT reached on this data: the Grove St PATH
station (3186, up to +98 / -66 bikes in an hour) dominates the squared errors.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "citibike-jc"
CACHE = Path("/tmp/bikeshare_research_hourly.pkl")
TZ = "America/New_York"


def hourly_counts() -> pd.DataFrame:
    """Full station x hour grid of pickups / dropoffs (zeros included)."""
    if CACHE.exists():
        return pickle.loads(CACHE.read_bytes())
    from include.simulator.trips import events_from_files

    events = events_from_files(sorted(DATA.glob("JC-2019*.zip")))
    df = pd.DataFrame(
        {
            "station_id": [e.station_id for e in events],
            "ts": pd.to_datetime([e.ts for e in events], utc=True),
            "kind": [e.kind for e in events],
        }
    )
    df["hour_start"] = df["ts"].dt.floor("h")
    counts = df.pivot_table(index=["station_id", "hour_start"], columns="kind", aggfunc="size", fill_value=0)
    counts = counts.rename(columns={"pickup": "pickups", "dropoff": "dropoffs"})
    hours = pd.date_range("2019-01-01 05:00", "2019-10-01 04:00", freq="h", tz="UTC")
    # JC stations only: most events are at stations seen as pickups many times (drop the few NYC dropoff ends)
    per_station = counts["pickups"].groupby(level=0).sum()
    stations = sorted(per_station[per_station >= 200].index)
    grid = pd.MultiIndex.from_product([stations, hours], names=["station_id", "hour_start"])
    counts = counts.reindex(grid, fill_value=0).reset_index()
    counts["net_change"] = counts["dropoffs"] - counts["pickups"]
    CACHE.write_bytes(pickle.dumps(counts))
    return counts


def us_holidays() -> set:
    from pandas.tseries.holiday import USFederalHolidayCalendar

    return set(USFederalHolidayCalendar().holidays("2018-12-01", "2020-01-31").date)


def features(labels: pd.DataFrame, capacity: dict[str, float]) -> pd.DataFrame:
    """Contract features at as_of = hour_start (trailing windows end at as_of, exclusive)."""
    out = []
    sys_hour = labels.groupby("hour_start")[["pickups", "dropoffs"]].sum().sort_index()
    sys_feats = pd.DataFrame(index=sys_hour.index)
    for col, name in (("pickups", "pickup"), ("dropoffs", "dropoff")):
        shifted = sys_hour[col].shift(1)
        sys_feats[f"system_{name}_count_1h"] = shifted
        sys_feats[f"system_{name}_count_24h"] = shifted.rolling(24, min_periods=1).sum()
    holidays = us_holidays()
    for sid, g in labels.groupby("station_id", sort=False):
        g = g.sort_values("hour_start").reset_index(drop=True)
        f = pd.DataFrame({"station_id": sid, "as_of": g["hour_start"]})
        for col, name in (("pickups", "pickup_count"), ("dropoffs", "dropoff_count"), ("net_change", "net_change")):
            s = g[col].astype(float)
            prev = s.shift(1)
            for w, n in (("1h", 1), ("2h", 2), ("24h", 24), ("7d", 168)):
                f[f"{name}_{w}"] = prev.rolling(n, min_periods=1).sum()
            for lag in (2, 3, 24, 168):  # single hours [as_of - lag, as_of - lag + 1h)
                f[f"{name}_lag{lag}h"] = s.shift(lag)
        for col, name in (("net_change", "net_change"), ("pickups", "pickups"), ("dropoffs", "dropoffs")):
            s = g[col].astype(float)
            f[f"same_weekday_hour_mean_{name}_4w"] = sum(s.shift(168 * k) for k in range(1, 5)) / 4
            f[f"daily_same_hour_mean_{name}_7d"] = sum(s.shift(24 * k) for k in range(1, 8)) / 7
        f["capacity"] = capacity.get(sid, np.nan)
        out.append(f)
    feats = pd.concat(out, ignore_index=True)
    feats = feats.merge(sys_feats, left_on="as_of", right_index=True, how="left")
    local = feats["as_of"].dt.tz_convert(TZ)
    feats["hour_of_day"] = local.dt.hour.astype(float)
    feats["day_of_week"] = ((local.dt.day_of_week + 1) % 7 + 1).astype(float)  # 1 = Sunday
    feats["is_holiday"] = local.dt.date.isin(holidays).astype(float)
    return feats


def capacities() -> dict[str, float]:
    import json

    info = json.loads((DATA / "station_information.json").read_text())
    stations = info.get("data", {}).get("stations", [])
    return {str(s.get("legacy_id", s.get("station_id"))): float(s.get("capacity", np.nan)) for s in stations}


def skellam_median(mu_d: np.ndarray, mu_p: np.ndarray, half: int = 6) -> np.ndarray:
    """Median of dropoffs - pickups with independent Poisson means (a Skellam distribution).

    The median lies within a couple of units of the mean, so only a window around it is searched."""
    from scipy.stats import skellam

    mu_d = np.clip(mu_d, 1e-6, None)
    mu_p = np.clip(mu_p, 1e-6, None)
    ks = np.round(mu_d - mu_p)[:, None] + np.arange(-half, half + 1)[None, :]
    cdf = skellam.cdf(ks, mu_d[:, None], mu_p[:, None])
    return ks[np.arange(len(ks)), np.argmax(cdf >= 0.5, axis=1)].astype(float)


def metrics(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    err = pred - y
    return float(np.mean(np.abs(err))), float(np.sqrt(np.mean(err**2)))


def precision_at_10(frame: pd.DataFrame, score: np.ndarray, threshold: int = 3) -> float:
    """Mean over hours (with >= 1 big mover) of the share of the top-10 scored stations with |net| >= threshold."""
    d = pd.DataFrame({"h": frame["as_of"].to_numpy(), "s": score, "hit": (frame["net_change"].abs() >= threshold)})
    d = d[d.groupby("h")["hit"].transform("any")]
    top = d.sort_values(["h", "s"], ascending=[True, False]).groupby("h").head(10)
    return float(top.groupby("h")["hit"].mean().mean())


def hgb(loss: str, **kw):
    from sklearn.ensemble import HistGradientBoostingRegressor

    params = {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 31, "min_samples_leaf": 40}
    params.update(kw)
    return HistGradientBoostingRegressor(loss=loss, random_state=0, **params)


def evaluate(train: pd.DataFrame, valid: pd.DataFrame, feature_cols: list[str], label: str) -> list[dict]:
    y = valid["net_change"].to_numpy(float)
    rows = []

    def add(name: str, pred: np.ndarray, score: np.ndarray | None = None, secs: float = 0.0) -> None:
        mae, rmse = metrics(y, pred)
        p10 = precision_at_10(valid, np.abs(pred) if score is None else score)
        rows.append({"split": label, "model": name, "mae": mae, "rmse": rmse, "p@10": p10, "secs": secs})

    add("zero", np.zeros_like(y), score=valid["pickup_count_24h"].to_numpy() + valid["dropoff_count_24h"].to_numpy())
    add("same hour last week", valid["net_change_lag168h"].fillna(0).to_numpy())
    tr = train.assign(dow=train["day_of_week"], hod=train["hour_of_day"])
    hist = tr.groupby(["station_id", "dow", "hod"])["net_change"].mean().rename("hist")
    va = valid.assign(dow=valid["day_of_week"], hod=valid["hour_of_day"]).join(hist, on=["station_id", "dow", "hod"])
    add("hist mean station x weekday x hour", va["hist"].fillna(0).to_numpy())
    naive4 = valid["same_weekday_hour_mean_net_change_4w"].fillna(0).to_numpy()
    vol4 = (valid["same_weekday_hour_mean_pickups_4w"] + valid["same_weekday_hour_mean_dropoffs_4w"]).fillna(0)
    add("mean last 4 same-weekday hours", naive4, score=np.abs(naive4) + 0.0 * vol4.to_numpy())

    X, Xv = train[feature_cols], valid[feature_cols]
    t0 = time.perf_counter()
    m = hgb("squared_error").fit(X, train["net_change"])
    add("HGB squared error (net)", m.predict(Xv), secs=time.perf_counter() - t0)
    base_tr = train["same_weekday_hour_mean_net_change_4w"].fillna(0)
    t0 = time.perf_counter()
    m = hgb("squared_error").fit(X, train["net_change"] - base_tr)
    add("HGB squared error (net - naive4)", m.predict(Xv) + naive4, secs=time.perf_counter() - t0)
    big = {"max_iter": 500, "learning_rate": 0.1, "max_leaf_nodes": 63, "min_samples_leaf": 20}
    t0 = time.perf_counter()
    m = hgb("squared_error", **big).fit(X, train["net_change"] - base_tr)
    add("HGB squared error (net - naive4) big", m.predict(Xv) + naive4, secs=time.perf_counter() - t0)
    for loss, extra in (("poisson", {}), ("poisson", big)):
        t0 = time.perf_counter()
        mp = hgb(loss, **extra).fit(X, train["pickups"])
        md = hgb(loss, **extra).fit(X, train["dropoffs"])
        secs = time.perf_counter() - t0
        mu_p, mu_d = mp.predict(Xv), md.predict(Xv)
        vol = mu_p + mu_d
        add(f"HGB {loss}{len(extra)} p/d, mean diff", mu_d - mu_p, score=vol, secs=secs)
        add(f"HGB {loss}{len(extra)} p/d, Skellam median", skellam_median(mu_d, mu_p), score=vol, secs=secs)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="only the Jan-Jun / Jul-Sep split")
    parser.add_argument("--windows-only", action="store_true", help="only the DAG's 8-week windows")
    args = parser.parse_args()
    t0 = time.perf_counter()
    labels = hourly_counts()
    feats = features(labels, capacities())
    data = feats.merge(labels, left_on=["station_id", "as_of"], right_on=["station_id", "hour_start"])
    data = data[data["as_of"] >= pd.Timestamp("2019-01-08 05:00", tz="UTC")]  # a week of history for lags
    feature_cols = [c for c in feats.columns if c not in ("station_id", "as_of")]
    print(f"{labels['station_id'].nunique()} stations, {len(data):,} rows, prep {time.perf_counter() - t0:.1f}s")

    rows = []
    cut = pd.Timestamp("2019-07-01 04:00", tz="UTC")
    if not args.windows_only:
        rows += evaluate(data[data["as_of"] < cut], data[data["as_of"] >= cut], feature_cols, "Jan-Jun/Jul-Sep")
    if not args.quick:
        for end in ("2019-05-01", "2019-07-01", "2019-08-01", "2019-09-01", "2019-10-01"):
            t_end = pd.Timestamp(f"{end} 04:00", tz="UTC")
            window = data[(data["as_of"] >= t_end - pd.Timedelta(weeks=8)) & (data["as_of"] < t_end)]
            vcut = t_end - pd.Timedelta(days=7)
            rows += evaluate(
                window[window["as_of"] < vcut], window[window["as_of"] >= vcut], feature_cols, f"8w->{end}"
            )
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if not args.quick:
        summary = table.groupby("model")[["mae", "rmse", "p@10"]].mean()
        print("\nmean over the 8-week windows + long split:\n", summary.to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
