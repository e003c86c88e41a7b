"""Risk calibration on replayed days (include/rebalancing/calibration.py): hand-counted outcomes, a baseline
that never peeks, Brier and reliability bins on known values, the PNG, and the behavioural check: on events
drawn from the chain itself the chain beats the frequency baseline and sits on the diagonal. Pure: no stack."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from include.gcp import paths
from include.rebalancing import calibration as cal
from include.rebalancing.inventory import DROPOFF, PICKUP
from include.systems import DEFAULT_SYSTEM

T0 = datetime(2019, 9, 1, tzinfo=UTC)


def at(hours: float) -> pd.Timestamp:
    return pd.Timestamp(T0) + pd.Timedelta(hours=hours)


def frame(rows: list[tuple[str, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"station_id": [r[0] for r in rows], "ts": [at(r[1]) for r in rows], "delta": [r[2] for r in rows]}
    )


# A (capacity 4) starts at 2, B (capacity 2) at 1: the start snapshot, capacity // 2.
HAND = frame(
    [
        ("B", 5 / 60, PICKUP),  # B 1 -> 0
        ("B", 6 / 60, PICKUP),  # B at 0: a failed pickup
        ("A", 10 / 60, PICKUP),  # A 2 -> 1
        ("A", 20 / 60, PICKUP),  # A 1 -> 0: empty within hour 0
        ("A", 30 / 60, DROPOFF),  # A 0 -> 1
        ("X", 40 / 60, PICKUP),  # no capacity: not modelled
        ("C", 45 / 60, PICKUP),  # capacity 0: not modelled
        ("A", 1.5, DROPOFF),  # A 1 -> 2
        ("A", 2.25, DROPOFF),  # A 2 -> 3
        ("B", 2.5, DROPOFF),  # B 0 -> 1
        ("B", 2.5 + 1 / 60, DROPOFF),  # B 1 -> 2: full
        ("B", 2.5 + 2 / 60, DROPOFF),  # B full: a failed return
        ("A", 2.75, DROPOFF),  # A 3 -> 4: full within hour 2
        ("A", 3.0, PICKUP),  # A 4 -> 3 at 03:00 sharp: in hour 3, after the count at 03:00 (4)
        ("B", 4 + 10 / 60, PICKUP),  # B 2 -> 1
        ("A", 5.5, PICKUP),  # A 3 -> 2
        ("A", 7.5, PICKUP),  # after the replay (hours 0..3 + 3): ignored
    ]
)
CAPACITY = {"A": 4, "B": 2, "C": 0}


def test_outcomes_are_the_hand_counted_hits() -> None:
    out = cal.replay_outcomes(HAND, CAPACITY, T0, T0 + timedelta(hours=4))
    assert out.station_ids == ("A", "B")
    assert list(out.hours) == [at(h) for h in range(4)]
    np.testing.assert_array_equal(out.bikes, [[2, 1], [1, 0], [2, 0], [4, 2]])
    # columns A, B; rows the hours 00..03. B is at 0 at 01:00 and 02:00: empty by the risk's convention
    np.testing.assert_array_equal(out.empty[1], [[1, 1], [0, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(out.empty[3], [[1, 1], [0, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(out.full[1], [[0, 0], [0, 0], [1, 1], [1, 1]])
    np.testing.assert_array_equal(out.full[3], [[1, 1], [1, 1], [1, 1], [1, 1]])
    np.testing.assert_array_equal(out.failed_pickups, [[0, 1], [0, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(out.failed_returns, [[0, 0], [0, 0], [0, 1], [0, 0]])
    assert out.outside_events == 2  # X and C; the 07:30 event is outside the replay's hours, not counted
    assert out.events == 14


def test_a_three_hour_window_reaches_past_the_hour() -> None:
    """A empties only at 02:20; the 3-hour window from 00:00 sees it, the 1-hour one does not."""
    events = frame([("A", 2 + 10 / 60, PICKUP), ("A", 2 + 20 / 60, PICKUP)])
    out = cal.replay_outcomes(events, {"A": 4}, T0, T0 + timedelta(hours=3))
    assert out.empty[1][:, 0].tolist() == [False, False, True]
    assert out.empty[3][:, 0].tolist() == [True, True, True]


def test_kind_column_and_events_frame_agree() -> None:
    from include.gcp.events import Event

    events = [Event(at(0.1).to_pydatetime(), "e1", "A", "pickup"), Event(at(0.2).to_pydatetime(), "e2", "A", "dropoff")]
    by_delta = cal.events_frame(events)
    by_kind = by_delta.drop(columns="delta").assign(kind=["pickup", "dropoff"])
    a = cal.replay_outcomes(by_delta, {"A": 2}, T0, T0 + timedelta(hours=1))
    b = cal.replay_outcomes(by_kind, {"A": 2}, T0, T0 + timedelta(hours=1))
    assert a.empty[1].tolist() == b.empty[1].tolist() == [[True]]  # 1 -> 0 -> 1


def test_the_baseline_uses_only_closed_windows_before_the_hour() -> None:
    hours = pd.date_range(T0, periods=24 * 5, freq="h")
    rng = np.random.default_rng(1)
    outcome = rng.random((len(hours), 3)) < 0.3
    base = cal.frequency_baseline(hours, outcome, horizon=3, history_from=24, time_zone="UTC")
    # the first three hours after the history starts have no closed window yet
    assert np.isnan(base[:27]).all()
    assert not np.isnan(base[27:]).any()
    for i in range(27, len(hours)):
        same = [j for j in range(24, i) if j % 24 == i % 24]
        expected = outcome[same].mean(axis=0) if same else outcome[24 : i - 2].mean(axis=0)
        np.testing.assert_allclose(base[i], expected)
    future = outcome.copy()
    future[60:] = ~future[60:]  # rewrite the future: the past's forecasts do not move
    np.testing.assert_array_equal(cal.frequency_baseline(hours, future, 3, 24, "UTC")[:61], base[:61])


def test_the_baseline_waits_for_the_repeated_hour_at_the_autumn_clock_change() -> None:
    """2019-11-03: 01:00 New York time comes twice, an hour apart; the second must not read the first's
    3-hour window, still open."""
    hours = pd.date_range("2019-11-02 04:00", periods=60, freq="h", tz="UTC")
    outcome = np.zeros((60, 1), dtype=bool)
    first_one = hours.get_loc(pd.Timestamp("2019-11-03 05:00", tz="UTC"))  # 01:00 EDT
    outcome[first_one] = True
    base = cal.frequency_baseline(hours, outcome, 3, 0, "America/New_York")
    assert base[first_one + 1, 0] == 0.0  # 01:00 EST: only the day before's 01:00 is closed
    next_day = hours.get_loc(pd.Timestamp("2019-11-04 06:00", tz="UTC"))  # 01:00 EST: all three 01:00s
    assert base[next_day, 0] == pytest.approx(1 / 3)


def test_the_count_baseline_reads_closed_hours_with_the_same_count() -> None:
    hours = pd.date_range(T0, periods=8, freq="h")
    bikes = np.array([[0], [1], [0], [1], [0], [2], [1], [0]])
    outcome = np.array([[1], [0], [1], [1], [0], [0], [1], [1]], dtype=bool)
    base = cal.count_baseline(hours, bikes, outcome, horizon=1)
    assert np.isnan(base[0, 0])  # nothing closed yet
    assert base[1, 0] == 1.0  # count 1 never seen: the station's frequency over hour 0
    assert base[2, 0] == 1.0  # count 0: hour 0
    assert base[3, 0] == 0.0  # count 1: hour 1
    assert base[4, 0] == 1.0  # count 0: hours 0, 2
    assert base[5, 0] == pytest.approx(3 / 5)  # count 2 unseen: hours 0..4
    assert base[6, 0] == pytest.approx(1 / 2)  # count 1: hours 1, 3
    assert base[7, 0] == pytest.approx(2 / 3)  # count 0: hours 0, 2, 4
    later = cal.count_baseline(hours, bikes, outcome, horizon=3)
    assert later[3, 0] == 1.0  # count 1 unseen among the closed (hour 0 only): the station's frequency


def test_brier_on_known_values() -> None:
    assert cal.brier(np.array([0.0, 1.0, 0.5]), np.array([0, 1, 1])) == pytest.approx(0.25 / 3)
    o = np.array([1] * 20 + [0] * 80)
    assert cal.brier(np.full(100, 0.2), o) == pytest.approx(0.16)  # the base rate scores r (1 - r)
    assert cal.brier(o.astype(float), o) == 0.0
    assert np.isnan(cal.brier(np.array([]), np.array([])))
    with pytest.raises(ValueError, match="shape"):
        cal.brier(np.zeros(2), np.zeros(3))


def test_reliability_bins_sum_to_the_count() -> None:
    rng = np.random.default_rng(3)
    p = np.concatenate([rng.random(997), [0.0, 1.0, 0.1]])
    o = rng.random(1000) < p
    bins = cal.reliability_bins(p, o, 10)
    assert bins.count.sum() == 1000
    np.testing.assert_allclose(bins.edges, np.linspace(0, 1, 11))
    lo, hi = bins.edges[:-1], bins.edges[1:]
    used = bins.count > 0
    assert np.all((bins.predicted[used] >= lo[used]) & (bins.predicted[used] <= hi[used]))
    assert bins.gap() < 0.1
    one = cal.reliability_bins(np.array([1.0, 0.95, 0.0]), np.array([1, 0, 0]), 10)
    assert one.count.tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]  # 1.0 is in the last bin
    assert one.predicted[-1] == pytest.approx(0.975)
    assert one.observed[-1] == 0.5
    assert np.isnan(one.observed[1])
    with pytest.raises(ValueError, match="forecasts in"):
        cal.reliability_bins(np.array([1.2]), np.array([1]))


# --- the behavioural check: events drawn from the chain itself ----------------------------------------------

# capacity, pickups/hour, dropoffs/hour: constant, so the frequency baseline is the station's long-run rate
STATIONS = {
    "s1": (8, 2.0, 2.0),
    "s2": (10, 3.0, 2.5),
    "s3": (12, 2.0, 3.0),
    "s4": (6, 1.0, 1.2),
    "s5": (15, 4.0, 4.0),
    "s6": (9, 1.5, 1.0),
}
DAYS_BEFORE, DAYS_SCORED = 8, 12  # 1 day warm-up + 7 of history, then the scored days
START = T0 + timedelta(days=DAYS_BEFORE)
END = START + timedelta(days=DAYS_SCORED)


def chain_events(rng: np.random.Generator) -> pd.DataFrame:
    """Poisson pickup and return attempts at constant rates; replayed clamped, they are the chain exactly
    (an attempt at an empty or full dock changes nothing, as the chain's rate 0 there)."""
    hours = (END - T0) / timedelta(hours=1) + 3
    parts = []
    for sid, (_, pickups, dropoffs) in STATIONS.items():
        for rate, delta in ((pickups, PICKUP), (dropoffs, DROPOFF)):
            t = np.sort(rng.uniform(0, hours, rng.poisson(rate * hours)))
            parts.append(pd.DataFrame({"station_id": sid, "ts": [at(x) for x in t], "delta": delta}))
    return pd.concat(parts, ignore_index=True)


def true_rates() -> pd.DataFrame:
    hours = pd.date_range(START, END, freq="h", inclusive="left")
    return pd.DataFrame(
        [
            {"station_id": sid, "hour": h, "horizon": k, "pickups": p, "dropoffs": d}
            for sid, (_, p, d) in STATIONS.items()
            for h in hours
            for k in (1, 2, 3)
        ]
    )


@pytest.fixture(scope="module")
def chain_calibration() -> cal.Calibration:
    events = chain_events(np.random.default_rng(22))
    capacity = {sid: c for sid, (c, _, _) in STATIONS.items()}
    return cal.calibrate(events, capacity, true_rates(), START, END, replay_from=T0)


def test_on_its_own_events_the_chain_beats_the_baseline_and_is_calibrated(chain_calibration) -> None:
    c = chain_calibration
    assert (c.stations, c.hours, c.unscored) == (len(STATIONS), DAYS_SCORED * 24, 0)
    assert len(c.frame) == len(STATIONS) * DAYS_SCORED * 24
    for score in c.scores:
        case = (score.target, score.horizon)
        assert 0.05 < score.hits / score.n < 0.95, case  # both outcomes common: the test has teeth
        assert score.brier_chain <= score.brier_baseline, case
        assert score.brier_chain_inside <= score.brier_baseline_inside, case
        assert score.chain_bins.gap() < 0.04, case  # on the diagonal within sampling noise
        used = score.chain_bins.count >= 150  # hours of one station are correlated: a loose per-bin bound
        np.testing.assert_allclose(
            score.chain_bins.observed[used], score.chain_bins.predicted[used], atol=0.1, err_msg=str(case)
        )
        assert score.chain_bins.count.sum() == score.baseline_bins.count.sum() == score.n
    # a station at its boundary at T: the chain says 1 and the outcome agrees
    at_zero = c.frame["bikes"] == 0
    assert at_zero.any()
    assert (c.frame.loc[at_zero, "p_empty_1h"] == 1.0).all()
    assert c.frame.loc[at_zero, "hit_empty_1h"].all()


def test_the_summary_is_json(chain_calibration) -> None:
    import json

    summary = json.loads(json.dumps(chain_calibration.summary()))
    assert summary["station_hours"] == len(chain_calibration.frame)
    assert {(s["target"], s["horizon_hours"]) for s in summary["scores"]} == {
        (t, h) for t in ("empty", "full") for h in (1, 3)
    }
    first = summary["scores"][0]
    assert sum(first["bins_chain"]["count"]) == first["station_hours"]


def test_the_png_is_a_png(chain_calibration) -> None:
    data = cal.reliability_png(chain_calibration, "chain events, true rates")
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.verify()
    assert min(image.size) > 600


def test_wrong_rates_leave_the_diagonal() -> None:
    """The check has teeth: rates 4x too high put every panel off the diagonal (the true rates' gaps are
    below 0.04), though knowing the bikes still beats the plain frequency on most of them."""
    events = chain_events(np.random.default_rng(5))
    capacity = {sid: c for sid, (c, _, _) in STATIONS.items()}
    rates = true_rates()
    rates[["pickups", "dropoffs"]] *= 4
    result = cal.calibrate(events, capacity, rates, START, END, replay_from=T0)
    gaps = [s.chain_bins.gap() for s in result.scores]
    assert min(gaps) > 0.1, gaps


# --- inputs ------------------------------------------------------------------------------------------------


def test_missing_horizons_are_unscored_or_filled_from_horizon_one() -> None:
    rates = true_rates()
    partial = rates[~((rates["station_id"] == "s1") & (rates["horizon"] == 3))]
    events = chain_events(np.random.default_rng(7))
    capacity = {sid: c for sid, (c, _, _) in STATIONS.items()}
    stray = rates[rates["station_id"] == "s2"].assign(station_id="s9")  # forecast, but no capacity
    result = cal.calibrate(events, capacity, pd.concat([partial, stray]), START, END, replay_from=T0)
    assert result.unscored == 2 * DAYS_SCORED * 24
    assert result.no_capacity == ("s9",)
    assert set(result.frame["station_id"]) == set(STATIONS) - {"s1"}

    only_first = rates[rates["horizon"] == 1]
    filled, which = cal.fill_horizons(only_first)
    assert which == [2, 3]
    assert len(filled) == len(rates)
    assert (filled.groupby("horizon")["pickups"].sum().to_numpy() == only_first["pickups"].sum()).all()


def test_too_little_history_is_refused() -> None:
    events = frame([("A", 0.5, PICKUP)])
    with pytest.raises(ValueError, match="baseline history"):
        cal.calibrate(events, {"A": 4}, true_rates(), T0 + timedelta(hours=36), T0 + timedelta(hours=40))
    with pytest.raises(ValueError, match="not on the hour"):
        cal.replay_outcomes(events, {"A": 4}, T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    with pytest.raises(ValueError, match="no station"):
        cal.replay_outcomes(events, {"A": 0}, T0, T0 + timedelta(hours=2))


class NextHourOnly:
    """A model from before the horizons: ``predict`` only."""

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"pickups": features["x"] * 2.0, "dropoffs": features["x"]}, index=features.index)


def test_model_rates_of_a_next_hour_model_hold_horizon_one() -> None:
    features = pd.DataFrame({"station_id": ["a", "b"], "as_of": [at(0), at(0)], "x": [1.0, 3.0]})
    rates, forecast = cal.model_rates(NextHourOnly(), features)
    assert forecast == 1
    assert sorted(rates["horizon"].unique()) == [1, 2, 3]
    assert rates[rates["station_id"] == "b"]["pickups"].tolist() == [6.0, 6.0, 6.0]
    assert (rates["hour"] == at(0)).all()


def test_the_bucket_paths_sit_beside_the_model() -> None:
    assert paths.model_risk_reliability("dev", "20190901T0800Z") == "dev/models/20190901T0800Z/risk_reliability.png"
    assert paths.model_risk_calibration("dev", "20190901T0800Z") == "dev/models/20190901T0800Z/risk_calibration.json"


# --- a registered model on the stack -----------------------------------------------------------------------


def _load_rows(settings, table: str, rows: list[dict]) -> None:
    """Append NDJSON rows to an existing table with a load job (the emulator's reliable write)."""
    import json

    from google.cloud import bigquery

    from include.gcp import clients

    data = "\n".join(json.dumps(r) for r in rows).encode()
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON)
    clients.bigquery_client(settings).load_table_from_file(
        io.BytesIO(data), settings.table_id(table), job_config=config
    ).result()


def test_calibrate_version_writes_the_plot_and_summary_beside_the_model(test_settings) -> None:
    """The stack's path end to end: events in raw_events (a copy of some, deduplicated), capacities in
    station_information, features and labels of the contract's shape, a committed model; the plot and the JSON
    land beside it, and the outcomes are the replay of the events themselves."""
    from include.gcp import bucket
    from include.gcp.events import Event
    from include.gcp.raw_events import load_raw_events
    from include.gcp.tables import STATION_INFORMATION
    from include.ml import registry
    from include.ml.model import StationFlowModel
    from tests.ml.conftest import START as FEATURES_START
    from tests.ml.conftest import load_feature_store, make_features

    origin = FEATURES_START  # make_features' grid starts there
    settings = test_settings
    stations = {"s1": STATIONS["s1"], "s3": STATIONS["s3"], "s5": STATIONS["s5"]}
    rng = np.random.default_rng(9)
    horizon_end = 10 * 24 + 3  # hours of events: 8 days before the scored day, the day, its last windows
    rows = []
    for sid, (_, pickups, dropoffs) in stations.items():
        for rate, kind in ((pickups, "pickup"), (dropoffs, "dropoff")):
            for n, x in enumerate(np.sort(rng.uniform(0, horizon_end, rng.poisson(rate * horizon_end)))):
                rows.append(Event(origin + timedelta(hours=float(x)), f"{sid}-{kind}-{n}", sid, kind))  # type: ignore[arg-type]
    load_raw_events([e.to_dict() for e in rows], settings)
    load_raw_events([e.to_dict() for e in rows[:40]], settings, ingested_at=origin + timedelta(days=30))  # copies
    fetched = (origin + timedelta(days=40)).isoformat()
    _load_rows(
        settings,
        STATION_INFORMATION,
        [
            {
                "system_id": settings.system_id,
                "station_id": sid,
                "name": sid,
                "lat": 40.7,
                "lon": -74.0,
                "capacity": c,
                "fetched_at": fetched,
            }
            for sid, (c, _, _) in stations.items()
        ],
    )

    events = cal.events_frame(rows)
    grid = pd.date_range(origin, periods=horizon_end, freq="h")
    counts = (
        events.assign(hour_start=events["ts"].dt.floor("h"), kind=np.where(events["delta"] < 0, "pickups", "dropoffs"))
        .pivot_table(index=["station_id", "hour_start"], columns="kind", aggfunc="size", fill_value=0)
        .reindex(pd.MultiIndex.from_product([list(stations), grid], names=["station_id", "hour_start"]), fill_value=0)
        .reset_index()
    )
    counts["net_change"] = counts["dropoffs"] - counts["pickups"]
    labels = counts[["station_id", "hour_start", "pickups", "dropoffs", "net_change"]].assign(system_id=DEFAULT_SYSTEM)
    features = make_features(labels, grid[-1].to_pydatetime())
    load_feature_store(settings, labels, features)

    version_hour = origin + timedelta(days=9)
    full = features[features["as_of"].dt.minute == 0].merge(
        labels, left_on=["system_id", "station_id", "as_of"], right_on=["system_id", "station_id", "hour_start"]
    )
    columns = [c for c in features.columns if c not in ("system_id", "station_id", "as_of")]
    model = StationFlowModel(columns, params={"max_iter": 20, "random_state": 0}).fit(
        full[full["as_of"] < pd.Timestamp(version_hour)]
    )
    version = registry.version_for(version_hour)
    registry.commit(version, {registry.MODEL_SHA256: registry.save_model(version, model, settings)}, settings)

    result, png = cal.calibrate_version(version, 1, settings, history=timedelta(days=7))

    assert bucket.read_bytes(paths.model_risk_reliability(settings.system_root, version), settings) == png
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    import json

    summary = json.loads(bucket.read_bytes(paths.model_risk_calibration(settings.system_root, version), settings))
    assert summary["model_version"] == version
    assert summary["horizons_forecast"] == getattr(model, "horizons", 1)
    assert summary["station_hours"] == len(result.frame) == 3 * 24
    assert summary["replay_from"] == (pd.Timestamp(version_hour) - pd.Timedelta(days=8)).isoformat()
    # the copies were dropped: the outcomes are those of the events replayed here
    capacity = {sid: c for sid, (c, _, _) in stations.items()}
    expected = cal.replay_outcomes(events, capacity, version_hour - timedelta(days=8), version_hour + timedelta(days=1))
    i = ((result.frame["hour"] - expected.hours[0]) / pd.Timedelta(hours=1)).to_numpy(int)
    s = result.frame["station_id"].map({sid: k for k, sid in enumerate(expected.station_ids)}).to_numpy(int)
    np.testing.assert_array_equal(result.frame["bikes"], expected.bikes[i, s])
    np.testing.assert_array_equal(result.frame["hit_empty_3h"], expected.empty[3][i, s])
    np.testing.assert_array_equal(result.frame["hit_full_1h"], expected.full[1][i, s])

    # the hourly run's step: once per version (already written here), nothing for a run that trained nothing
    assert cal.calibrate_run(version_hour, version, trained=True, settings=settings)["skipped"] == "calibrated already"
    assert cal.calibrate_run(version_hour, version, trained=False, settings=settings)["skipped"].startswith("no model")
