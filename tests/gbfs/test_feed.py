"""The GBFS feed contract (include/gbfs/feed.py): every payload gives valid rows or dead letters with a reason,
never an exception, never a bad row."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.gbfs.feed import (
    MAX_PAYLOAD_CHARS,
    REASONS,
    STATION_STATUS,
    DeadLetter,
    Discovery,
    StationInformation,
    StationStatus,
    read_discovery,
    read_information,
    read_status,
)

NOW = datetime(2019, 9, 29, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
LEAD = timedelta(minutes=5)
CAPACITY = {"3186": 20, "3187": 10}


def doc(stations: list[Any], last_updated: int = T, ttl: int = 60, **extra: Any) -> bytes:
    return json.dumps(
        {"last_updated": last_updated, "ttl": ttl, "version": "2.3", "data": {"stations": stations}, **extra}
    ).encode()


def status(station_id: str = "3186", **fields: Any) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "num_bikes_available": 5,
        "num_docks_available": 15,
        "is_installed": True,
        "is_renting": True,
        "is_returning": True,
        "last_reported": T - 30,
        **fields,
    }


def info(station_id: str = "3186", **fields: Any) -> dict[str, Any]:
    return {
        "station_id": station_id,
        "name": "Grove St PATH",
        "lat": 40.7196,
        "lon": -74.0431,
        "capacity": 20,
        **fields,
    }


def read(body: bytes, stored: dict[str, datetime] | None = None, clock: datetime | None = None):
    return read_status(body, capacity=CAPACITY, stored=stored or {}, clock=clock, max_lead=LEAD)


def check_letters(letters: list[DeadLetter]) -> None:
    for letter in letters:
        assert letter.reason in REASONS
        assert letter.reason != "unexpected_error", letter.detail
        assert len(letter.payload) <= MAX_PAYLOAD_CHARS + 40
        row = letter.row("http://127.0.0.1/x", NOW)
        json.dumps(row, ensure_ascii=False).encode("utf-8")  # writable: no lone surrogate anywhere


def check_rows(rows: list[StationStatus], stored: dict[str, datetime], clock: datetime) -> None:
    """The invariant: nothing stored breaks a rule."""
    for row in rows:
        assert row.num_bikes_available >= 0
        assert row.num_docks_available is None or row.num_docks_available >= 0
        cap = CAPACITY.get(row.station_id)
        assert cap is None or row.num_bikes_available <= cap
        assert row.last_reported - clock <= LEAD
        assert row.station_id not in stored or row.last_reported > stored[row.station_id]
    assert len({r.station_id for r in rows}) == len(rows)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_give_dead_letters_never_an_exception(body: bytes) -> None:
    assert isinstance(read_discovery(body), Discovery | DeadLetter)
    info_result, status_result = read_information(body), read(body)
    check_letters(info_result.dead_letters + status_result.dead_letters)
    check_rows(status_result.rows, {}, NOW)


@settings(max_examples=300)
@given(json_values)
def test_arbitrary_json_gives_dead_letters_never_an_exception(value: object) -> None:
    body = json.dumps(value).encode()
    found = read_discovery(body)
    if isinstance(found, DeadLetter):
        check_letters([found])
    check_letters(read_information(body).dead_letters)
    result = read(body)
    check_letters(result.dead_letters)
    check_rows(result.rows, {}, NOW)


@settings(max_examples=400)
@given(st.sampled_from(list(status())), json_values, st.sampled_from([None, NOW]))
def test_any_value_in_any_status_field_gives_a_row_or_that_stations_dead_letter(
    name: str, value: object, clock: datetime | None
) -> None:
    stored = {"3187": datetime.fromtimestamp(T - 600, UTC)}
    body = doc([status(**{name: value}), status("3187")])
    result = read(body, stored, clock)
    assert result.meta is not None
    check_letters(result.dead_letters)
    check_rows(result.rows, stored, NOW)
    assert [r.station_id for r in result.rows].count("3187") == (0 if name == "station_id" and value == "3187" else 1)
    assert len(result.rows) + len(result.dead_letters) + result.unchanged + result.stale == 2


@settings(max_examples=300)
@given(st.sampled_from(list(info())), json_values)
def test_any_value_in_any_information_field_gives_a_station_or_its_dead_letter(name: str, value: object) -> None:
    result = read_information(doc([info(**{name: value}), info("3187")]))
    check_letters(result.dead_letters)
    assert len(result.stations) + len(result.dead_letters) == 2
    for station in result.stations:
        assert -90 <= station.lat <= 90
        assert -180 <= station.lon <= 180
        assert station.capacity is None or station.capacity >= 0


station_ids = st.from_regex(r"\A[!-~]{1,64}\Z")
counts = st.integers(min_value=-3, max_value=30)
ages = st.integers(min_value=-900, max_value=7200)  # seconds before NOW: some in the future


@settings(max_examples=300)
@given(
    st.lists(st.tuples(station_ids, counts, counts, ages, st.booleans()), max_size=8),
    st.dictionaries(station_ids, ages, max_size=4),
)
def test_drawn_stations_store_only_rule_abiding_rows(
    drawn: list[tuple[str, int, int, int, bool]], stored_ages: dict[str, int]
) -> None:
    stored = {sid: NOW - timedelta(seconds=age) for sid, age in stored_ages.items()}
    stations = [
        status(sid, num_bikes_available=bikes, num_docks_available=docks, last_reported=T - age, is_renting=flag)
        for sid, bikes, docks, age, flag in drawn
    ]
    result = read_status(doc(stations), capacity=CAPACITY, stored=stored, clock=NOW, max_lead=LEAD)
    check_letters(result.dead_letters)
    check_rows(result.rows, stored, NOW)
    assert len(result.rows) + len(result.dead_letters) + result.unchanged + result.stale == len(stations)


@given(
    st.lists(
        st.tuples(station_ids, st.integers(0, 60), st.integers(0, 60), st.integers(0, 3600)),
        max_size=6,
        unique_by=lambda t: t[0],
    )
)
def test_valid_status_rows_round_trip(drawn: list[tuple[str, int, int, int]]) -> None:
    stations = [
        status(sid, num_bikes_available=b, num_docks_available=d, last_reported=T - a) for sid, b, d, a in drawn
    ]
    result = read_status(doc(stations), capacity={}, stored={}, clock=None, max_lead=LEAD)
    assert result.dead_letters == []
    assert result.unknown_stations == sorted({sid for sid, *_ in drawn})
    assert [(r.station_id, r.num_bikes_available, r.num_docks_available, r.last_reported) for r in result.rows] == [
        (sid, b, d, datetime.fromtimestamp(T - a, UTC)) for sid, b, d, a in drawn
    ]
    for row in result.rows:
        assert row.row(NOW)["last_reported"] == row.last_reported.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize(
    ("station", "reason"),
    [
        (status(num_bikes_available=21), "bikes_over_capacity"),
        (status(num_bikes_available=-1), "negative_count"),
        (status(num_docks_available=-2), "negative_count"),
        (status(num_bikes_disabled=-1), "negative_count"),
        (status(num_bikes_available="5"), "schema"),
        (status(num_bikes_available=True), "schema"),
        (status(num_bikes_available=None), "schema"),
        (status(is_renting="yes"), "schema"),
        (status(is_renting=2), "schema"),
        (status(last_reported=1.5), "schema"),
        (status(last_reported=-5), "schema"),
        (status(last_reported=10**20), "schema"),
        (status(station_id="has space"), "schema"),
        (status(station_id=""), "schema"),
        (status(station_id=7), "schema"),
        (status(last_reported=T + 301), "reported_in_future"),
        (status(last_reported=T - 3600), "reported_before_stored"),
        ([1, 2], "schema"),
    ],
)
def test_each_bad_station_is_dead_lettered_with_its_reason(station: Any, reason: str) -> None:
    stored = {"3186": datetime.fromtimestamp(T - 600, UTC)}
    result = read(doc([station, status("3187")]), stored)
    assert [d.reason for d in result.dead_letters] == [reason]
    assert [r.station_id for r in result.rows] == ["3187"]
    assert result.dead_letters[0].feed == STATION_STATUS


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "bad_json"),
        (b"<html>502 Bad Gateway</html>", "bad_json"),
        (b"\xff\xfe{}", "bad_json"),
        (b'{"last_updated": NaN, "ttl": 1, "data": {"stations": []}}', "bad_json"),
        (b'{"ttl": 1, "ttl": 2, "last_updated": 1, "data": {"stations": []}}', "bad_json"),
        (b"[]", "schema"),
        (json.dumps({"ttl": 60, "data": {"stations": []}}).encode(), "schema"),
        (json.dumps({"last_updated": T, "ttl": -1, "data": {"stations": []}}).encode(), "schema"),
        (json.dumps({"last_updated": T, "ttl": 60, "data": {"stations": {}}}).encode(), "schema"),
        (json.dumps({"last_updated": T, "ttl": 60, "data": []}).encode(), "schema"),
        (json.dumps({"last_updated": str(T), "ttl": 60, "data": {"stations": []}}).encode(), "schema"),
    ],
)
def test_each_bad_file_is_one_dead_letter(body: bytes, reason: str) -> None:
    for result in (read(body), read_information(body)):
        assert result.meta is None
        assert [d.reason for d in result.dead_letters] == [reason]
    found = read_discovery(body)
    assert isinstance(found, DeadLetter)
    assert found.reason == reason


def test_the_same_station_twice_refuses_every_copy() -> None:
    result = read(doc([status(), status(num_bikes_available=6), status("3187")]))
    assert [d.reason for d in result.dead_letters] == ["duplicate_station", "duplicate_station"]
    assert [r.station_id for r in result.rows] == ["3187"]


def test_stored_unchanged_and_stale_rows_are_not_new() -> None:
    stored = {"3186": datetime.fromtimestamp(T - 30, UTC)}
    old = status("3187", last_reported=T - 49 * 3600)
    result = read(doc([status(), old, status("9999")]), stored)
    assert result.unchanged == 1
    assert result.stale == 1
    assert [r.station_id for r in result.rows] == ["9999"]
    assert result.unknown_stations == ["9999"]


def test_the_clock_is_the_wall_or_the_feed() -> None:
    ahead = doc([status(last_reported=T + 600)], last_updated=T + 900)
    assert read(ahead).rows  # the feed's own clock (local replay): 10 min after NOW but before last_updated
    on_the_wall = read(ahead, clock=NOW)  # the wall clock: the file itself is 15 min ahead
    assert [d.reason for d in on_the_wall.dead_letters] == ["reported_in_future"]
    assert on_the_wall.meta is None


def test_discovery_picks_the_language_and_needs_both_feeds() -> None:
    feeds = [{"name": n, "url": f"https://example.com/{n}.json"} for n in ("station_information", "station_status")]
    body = json.dumps(
        {"last_updated": T, "ttl": 0, "version": "2.3", "data": {"fr": {"feeds": feeds[:1]}, "en": {"feeds": feeds}}}
    )
    found = read_discovery(body.encode(), language="de")
    assert isinstance(found, Discovery)
    assert found.urls["station_status"] == "https://example.com/station_status.json"
    assert found.meta.ttl == 0
    missing = read_discovery(body.encode(), language="fr")
    assert isinstance(missing, DeadLetter)
    assert missing.reason == "schema"
    bad_url = json.dumps(
        {"last_updated": T, "ttl": 0, "data": {"en": {"feeds": [{"name": "station_status", "url": "ftp://x"}]}}}
    )
    assert read_discovery(bad_url.encode()).reason == "schema"  # type: ignore[union-attr]


def test_information_rows_and_extensions() -> None:
    result = read_information(
        doc([info(_custom=1, short_name="JC052"), info("3187", capacity=None), info("x", lat=91)])
    )
    assert result.stations == [
        StationInformation("3186", "Grove St PATH", 40.7196, -74.0431, 20),
        StationInformation("3187", "Grove St PATH", 40.7196, -74.0431, None),
    ]
    assert [d.reason for d in result.dead_letters] == ["schema"]
    assert result.dead_letters[0].station_id == "x"


def test_a_huge_payload_is_cut_in_its_dead_letter() -> None:
    body = b'{"x": "' + b"a" * (3 * MAX_PAYLOAD_CHARS) + b'"'
    letter = read(body).dead_letters[0]
    assert letter.reason == "bad_json"
    assert "cut" in letter.payload
    assert len(letter.payload) < MAX_PAYLOAD_CHARS + 100
