"""The synthetic country: deterministic per (system, hour), local-time demand, heterogeneity, commute flows,
the snapshot's stations, and files the systems table and the GBFS server read."""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from include.gcp.events import EVENT_ID_PATTERN, STATION_ID_PATTERN
from include.simulator import country
from include.simulator.__main__ import main as simulator_main
from include.simulator.country import (
    MEAN_RATE,
    CountrySpec,
    country_events,
    country_systems,
    country_trips,
    layout,
    season_factor,
    station_information,
    write_systems_csv,
)
from include.simulator.trip_data import TRIP_FILES, VENDORED_STATION_INFORMATION, load_station_information
from include.systems import SYSTEM_ID_PATTERN, read_systems

JULY_MONDAY = datetime(2019, 7, 1, 4, tzinfo=UTC)  # midnight in New York
MAY_MONDAY = datetime(2019, 5, 13, 4, tzinfo=UTC)  # a week whose season factor is about 1
WEEK = timedelta(days=7)


def _by_system(trips: list) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    for t in trips:
        out[t.system_id].append(t)
    return out


def _event_bytes(spec: CountrySpec, start: datetime, end: datetime) -> bytes:
    events = country_events(spec, start, end)
    return json.dumps([{**e.to_dict(), "system_id": e.system_id} for e in events]).encode()


# ---- determinism ---------------------------------------------------------------------------------------------


def test_same_arguments_give_the_same_trips_and_byte_identical_events() -> None:
    spec = CountrySpec(3, 40, seed=5)
    start, end = JULY_MONDAY + timedelta(hours=10), JULY_MONDAY + timedelta(hours=13)
    first, first_bytes = list(country_trips(spec, start, end)), _event_bytes(spec, start, end)
    layout.cache_clear()  # nothing carried over: drawn again from the seed
    assert list(country_trips(CountrySpec(3, 40, seed=5), start, end)) == first
    assert _event_bytes(CountrySpec(3, 40, seed=5), start, end) == first_bytes
    assert len(first) > 100
    other = list(country_trips(CountrySpec(3, 40, seed=6), start, end))
    assert [(t.start_station, t.started_at) for t in other] != [(t.start_station, t.started_at) for t in first]


def test_adding_systems_or_the_nyc_system_never_changes_the_others() -> None:
    start, end = JULY_MONDAY + timedelta(hours=8), JULY_MONDAY + timedelta(hours=10)
    two = _by_system(list(country_trips(CountrySpec(2, 60, seed=3), start, end)))
    four = _by_system(list(country_trips(CountrySpec(4, 60, seed=3), start, end)))
    assert two["syn-01"] == four["syn-01"]
    assert two["syn-02"] == four["syn-02"]
    assert set(four) == {"syn-01", "syn-02", "syn-03", "syn-04"}
    with_nyc = _by_system(list(country_trips(CountrySpec(2, 60, seed=3, nyc=True), start, end)))
    assert with_nyc["syn-02"] == two["syn-02"]
    assert "syn-01" not in with_nyc
    assert len(with_nyc["syn-nyc"]) > len(two["syn-01"])


def test_an_hour_is_the_same_whatever_window_it_is_generated_in() -> None:
    spec = CountrySpec(2, 50, seed=11)
    t0 = JULY_MONDAY + timedelta(hours=12)
    whole = list(country_trips(spec, t0, t0 + timedelta(hours=2)))
    halves = list(country_trips(spec, t0, t0 + timedelta(hours=1))) + list(
        country_trips(spec, t0 + timedelta(hours=1), t0 + timedelta(hours=2))
    )
    odd_cut = t0 + timedelta(minutes=37)
    cut = list(country_trips(spec, t0, odd_cut)) + list(country_trips(spec, odd_cut, t0 + timedelta(hours=2)))
    assert whole == halves == cut
    assert [t.started_at for t in whole] == sorted(t.started_at for t in whole)
    assert all(t0 <= t.started_at < t0 + timedelta(hours=2) for t in whole)
    assert whole[0].trip_key.startswith(f"{whole[0].system_id}|{t0:%Y%m%dT%H}|")


def test_trips_and_events_follow_the_contract() -> None:
    spec = CountrySpec(2, 80, seed=2)
    start, end = JULY_MONDAY + timedelta(hours=12), JULY_MONDAY + timedelta(hours=14)
    trips = list(country_trips(spec, start, end))
    assert {t.system_id for t in trips} == {"syn-01", "syn-02"}
    for t in trips[:500]:
        lay = layout(spec, spec.index_of(t.system_id))
        ids = lay.station_ids
        d = lay.distance_km(np.array([ids.index(t.start_station)]), np.array([ids.index(t.end_station)]))[0]
        assert t.ended_at - t.started_at >= timedelta(minutes=3 + d / 12 * 60) - timedelta(milliseconds=1)
    events = country_events(spec, start, end)
    assert events == sorted(events)
    assert all(start <= e.ts < end for e in events)
    assert len({(e.system_id, e.event_id) for e in events}) == len(events)
    for e in events:  # the contract's id patterns (include.gcp.events)
        assert EVENT_ID_PATTERN.fullmatch(e.event_id)
        assert STATION_ID_PATTERN.fullmatch(e.station_id)
        assert SYSTEM_ID_PATTERN.fullmatch(e.system_id)


# ---- demand ---------------------------------------------------------------------------------------------------


def _local_hour_counts(trips: list, zone: str) -> Counter[int]:
    tz = ZoneInfo(zone)
    return Counter(t.started_at.astimezone(tz).hour for t in trips if t.started_at.astimezone(tz).weekday() < 5)


@pytest.mark.parametrize(("monday", "utc_gap"), [(JULY_MONDAY, 3), (datetime(2019, 1, 7, 5, tzinfo=UTC), 2)])
def test_new_york_and_phoenix_peak_at_the_same_local_hour(monday: datetime, utc_gap: int) -> None:
    """Phoenix keeps MST all year: 3 h behind New York in July (EDT), 2 h in January (EST)."""
    spec = CountrySpec(4, 200, seed=4)
    trips = _by_system(list(country_trips(spec, monday, monday + timedelta(days=5))))
    new_york, phoenix = trips["syn-01"], trips["syn-04"]
    assert layout(spec, 0).time_zone == "America/New_York"
    assert layout(spec, 3).time_zone == "America/Phoenix"
    peak_ny = _local_hour_counts(new_york, "America/New_York").most_common(1)[0][0]
    peak_phx = _local_hour_counts(phoenix, "America/Phoenix").most_common(1)[0][0]
    assert peak_ny == peak_phx == int(np.argmax(country.WEEKDAY_PROFILE)) == 8
    utc_ny = Counter(t.started_at.hour for t in new_york).most_common(1)[0][0]
    utc_phx = Counter(t.started_at.hour for t in phoenix).most_common(1)[0][0]
    assert (utc_phx - utc_ny) % 24 == utc_gap


def test_stations_are_heterogeneous() -> None:
    spec = CountrySpec(1, 500, seed=8)
    pickups = Counter(t.start_station for t in country_trips(spec, MAY_MONDAY, MAY_MONDAY + WEEK))
    counts = np.array([pickups[s] for s in layout(spec, 0).station_ids], dtype=float)
    # Poisson alone at the same mean would give a CV near 1/sqrt(160) = 0.08; the lognormal λ_s makes it > 1
    assert counts.std() / counts.mean() > 0.8


def test_a_weeks_mean_pickups_per_station_hour_is_jersey_citys() -> None:
    spec = CountrySpec(5, 200, seed=9)
    trips = list(country_trips(spec, MAY_MONDAY, MAY_MONDAY + WEEK))
    new_york = ZoneInfo("America/New_York")
    local = [(MAY_MONDAY + timedelta(hours=h)).astimezone(new_york) for h in range(168)]
    season = np.mean([season_factor(t.timetuple().tm_yday - 1 + t.hour / 24) for t in local])
    assert season == pytest.approx(1.0, abs=0.05)
    per_station_hour = len(trips) / (5 * 200 * 168)
    assert per_station_hour == pytest.approx(MEAN_RATE, rel=0.15)
    assert per_station_hour / season == pytest.approx(MEAN_RATE, rel=0.15)


def test_season_is_lower_in_winter_than_in_summer() -> None:
    spec = CountrySpec(1, 300, seed=1)
    january = sum(1 for _ in country_trips(spec, datetime(2019, 1, 7, 5, tzinfo=UTC), datetime(2019, 1, 14, 5)))
    august = sum(1 for _ in country_trips(spec, datetime(2019, 8, 5, 4, tzinfo=UTC), datetime(2019, 8, 12, 4)))
    assert 1.6 < august / january < 2.6  # Jersey City: about 2.1


def test_morning_commute_fills_business_stations_and_empties_residential_ones() -> None:
    spec = CountrySpec(1, 500, seed=12)
    lay = layout(spec, 0)
    business = dict(zip(lay.station_ids, lay.business.tolist(), strict=True))
    assert 0.25 < np.mean(lay.business) < 0.55
    net: dict[str, dict[str, int]] = {"morning": Counter(), "evening": Counter()}
    tz = ZoneInfo(lay.time_zone)
    for t in country_trips(spec, JULY_MONDAY, JULY_MONDAY + timedelta(days=5)):
        local = t.started_at.astimezone(tz).hour
        period = "morning" if local in country.MORNING else "evening" if local in country.EVENING else None
        if period:
            net[period][t.start_station] -= 1
            net[period][t.end_station] += 1

    def mean_net(period: str, is_business: bool) -> float:
        return float(np.mean([net[period][s] for s, b in business.items() if b == is_business]))

    assert mean_net("morning", True) > 5
    assert mean_net("morning", False) < -3
    assert mean_net("evening", True) < -3
    assert mean_net("evening", False) > 3


# ---- stations, files ------------------------------------------------------------------------------------------


def _snapshot() -> list[dict]:
    return load_station_information(VENDORED_STATION_INFORMATION)["data"]["stations"]


def test_station_ids_repeat_across_systems_but_not_within_one() -> None:
    spec = CountrySpec(5, 400, seed=0)
    ids = [set(layout(spec, k).station_ids) for k in range(5)]
    assert all(len(s) == 400 for s in ids)
    shared = Counter(i for s in ids for i in s)
    assert max(shared.values()) >= 2
    assert {layout(spec, k).time_zone for k in range(5)} == {z for z, *_ in country.ZONES}


def test_the_nyc_system_is_the_whole_snapshot_in_place() -> None:
    spec = CountrySpec(2, 100, seed=1, nyc=True)
    doc = station_information(spec, "syn-nyc")
    real = {s["station_id"]: s for s in _snapshot()}
    stations = doc["data"]["stations"]
    assert len(stations) == len(real) == 1587
    assert {s["station_id"]: s["capacity"] for s in stations} == {i: s["capacity"] for i, s in real.items()}
    assert all(abs(s["lat"] - real[s["station_id"]]["lat"]) < 1e-7 for s in stations)
    assert sum(s["capacity"] for s in stations) == 47_615
    assert len(station_information(spec, "syn-02")["data"]["stations"]) == 100


def test_sampled_systems_keep_real_spacing_and_capacities_at_their_city() -> None:
    spec = CountrySpec(4, 150, seed=3)
    real = {s["station_id"]: s for s in _snapshot()}
    for k in range(4):
        doc = station_information(spec, spec.system_id(k))["data"]["stations"]
        _, _, lat0, lon0 = country.ZONES[k]
        lat, lon = np.array([s["lat"] for s in doc]), np.array([s["lon"] for s in doc])
        assert abs(lat.mean() - lat0) < 1e-6
        assert abs(lon.mean() - lon0) < 1e-6
        assert all(s["capacity"] == real[s["station_id"]]["capacity"] for s in doc)
        moved = np.column_stack([lat, lon])
        before = np.array([(real[s["station_id"]]["lat"], real[s["station_id"]]["lon"]) for s in doc])
        moved_km, before_km = _km_from_first(moved), _km_from_first(before)
        np.testing.assert_allclose(moved_km, before_km, rtol=0.01, atol=0.01)
        assert np.sort(moved_km)[1] < 1.0  # a real neighbour within a kilometre: a patch, not a scatter


def _km_from_first(latlon: np.ndarray) -> np.ndarray:
    km = country._km_offsets(latlon, latlon.mean(axis=0))
    return np.hypot(km[:, 0] - km[0, 0], km[:, 1] - km[0, 1])


def test_systems_csv_round_trips_through_read_systems(tmp_path: Path) -> None:
    systems = country_systems(CountrySpec(6, 10, seed=2, nyc=True), "http://127.0.0.1:8097/")
    path = write_systems_csv(systems, tmp_path / "systems.csv")
    read = read_systems(path)
    assert read == {s.system_id: s for s in systems}
    assert list(read) == ["syn-nyc", "syn-02", "syn-03", "syn-04", "syn-05", "syn-06"]
    assert read["syn-03"].gbfs_url == "http://127.0.0.1:8097/syn-03/gbfs.json"
    assert read["syn-06"].time_zone == read["syn-nyc"].time_zone == "America/New_York"
    header = (Path(__file__).parents[2] / "include" / "dbt" / "seeds" / "systems.csv").read_text().splitlines()[0]
    assert path.read_text().splitlines()[0] == header


def test_cli_writes_the_country_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--country", "2x25", "--seed", "4", "--out", str(tmp_path), "--from", "2019-07-01T12:00", "--to"]
    assert simulator_main([*argv, "2019-07-01T13:00"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["files"]["stations"] == {"syn-01": 25, "syn-02": 25}
    assert sum(out["trips"].values()) == len(
        list(country_trips(CountrySpec(2, 25, 4), datetime(2019, 7, 1, 12, tzinfo=UTC), datetime(2019, 7, 1, 13)))
    )
    assert set(read_systems(tmp_path / "systems.csv")) == {"syn-01", "syn-02"}
    doc = json.loads((tmp_path / "syn-02" / "station_information.json").read_text())
    assert doc == station_information(CountrySpec(2, 25, 4), "syn-02")


def test_bad_specs_are_refused() -> None:
    with pytest.raises(ValueError, match="systems >= 1"):
        CountrySpec(0, 10)
    with pytest.raises(ValueError, match="at most 1587"):
        CountrySpec(1, 1588)
    with pytest.raises(ValueError, match="KxN"):
        country.parse_size("10by500")
    assert country.parse_size("10\u00d7500") == (10, 500)
    with pytest.raises(KeyError, match="syn-09"):
        station_information(CountrySpec(2, 10), "syn-09")


def test_5000_stations_generate_an_hour_quickly() -> None:
    import time

    spec = CountrySpec(10, 500, seed=1)
    began = time.perf_counter()
    trips = list(country_trips(spec, JULY_MONDAY + timedelta(hours=8), JULY_MONDAY + timedelta(hours=9)))
    assert len(trips) > 5_000
    assert time.perf_counter() - began < 10


# ---- the fitted constants ------------------------------------------------------------------------------------


def _full_trip_folder() -> Path | None:
    shared = Path(__file__).parents[2].parent / "shared" / "data" / "citibike-jc"
    for candidate in (os.environ.get("BIKESHARE_TRIPS_DATA_DIR"), shared):
        if candidate and all((Path(candidate) / pin.name).exists() for pin in TRIP_FILES.values()):
            return Path(candidate)
    return None


@pytest.mark.skipif(_full_trip_folder() is None, reason="needs all nine Jersey City trip files")
def test_the_constants_are_the_fit_of_the_jersey_city_trips() -> None:
    folder = _full_trip_folder()
    assert folder is not None
    fit = country.fit_demand(country.jersey_city_trips(folder))
    np.testing.assert_allclose(fit.weekday, country.WEEKDAY_PROFILE, atol=1e-3)
    np.testing.assert_allclose(fit.weekend, country.WEEKEND_PROFILE, atol=1e-3)
    np.testing.assert_allclose(fit.season, country.SEASON, atol=1e-3)
    assert fit.mean_rate == pytest.approx(country.MEAN_RATE, abs=1e-3)
    assert fit.log_sigma == pytest.approx(country.LOG_RATE_SIGMA, abs=1e-3)
    weekly = (5 * sum(country.WEEKDAY_PROFILE) + 2 * sum(country.WEEKEND_PROFILE)) / 168
    assert weekly == pytest.approx(1.0, abs=1e-3)
