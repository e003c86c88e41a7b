"""The systems table: the seed is valid, a bad row is refused with its line, lookups never guess."""

from __future__ import annotations

from pathlib import Path

import pytest

from include import systems
from include.systems import DEFAULT_SYSTEM, SystemsError, read_systems

HEADER = "system_id,name,time_zone,gbfs_url,trip_source,trucks,truck_capacity,depot_lat,depot_lon,enabled\n"


def _csv(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "systems.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return path


def test_the_seed_serves_jersey_city_on_new_york_time() -> None:
    seed = read_systems(systems.SYSTEMS_SEED)
    assert DEFAULT_SYSTEM in seed
    jc = seed[DEFAULT_SYSTEM]
    assert (jc.time_zone, jc.trucks, jc.truck_capacity, jc.enabled) == ("America/New_York", 2, 20, True)
    assert jc.depot_lat is None
    assert jc.depot_lon is None
    assert list(seed) == [DEFAULT_SYSTEM]


def test_other_systems_come_from_the_file_the_variable_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _csv(
        tmp_path,
        "ny,New York,America/New_York,http://127.0.0.1:1/ny/gbfs.json,syn,2,20,,,true",
        "phx,Phoenix,America/Phoenix,http://127.0.0.1:1/phx/gbfs.json,syn,3,15,33.45,-112.07,true",
        "off,Switched off,America/Chicago,http://127.0.0.1:1/off/gbfs.json,syn,2,20,,,false",
    )
    monkeypatch.setenv(systems.SYSTEMS_FILE_VARIABLE, str(path))
    assert systems.enabled_system_ids() == ["ny", "phx"]
    assert systems.time_zone("phx") == "America/Phoenix"
    assert systems.get_system("phx").depot_lat == pytest.approx(33.45)
    assert systems.is_known("off")
    assert not systems.is_known("citibike-jc")
    with pytest.raises(SystemsError, match=r"no system 'citibike-jc'.*known: ny, phx, off"):
        systems.time_zone("citibike-jc")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("NY,x,America/New_York,http://h/gbfs.json,s,2,20,,,true", "system_id='NY'"),
        ("ny,x,America/Gotham,http://h/gbfs.json,s,2,20,,,true", "not an IANA time zone"),
        ("ny,x,America/New_York,ftp://h/gbfs.json,s,2,20,,,true", "not an http"),
        ("ny,x,America/New_York,http://h/gbfs.json,s,two,20,,,true", "trucks='two'"),
        ("ny,x,America/New_York,http://h/gbfs.json,s,2,0,,,true", "truck_capacity >= 1"),
        ("ny,x,America/New_York,http://h/gbfs.json,s,2,20,40.7,,true", "both depot_lat and depot_lon"),
        ("ny,x,America/New_York,http://h/gbfs.json,s,2,20,,,yes", "enabled='yes'"),
    ],
)
def test_a_bad_row_is_refused_naming_its_line(tmp_path: Path, row: str, message: str) -> None:
    with pytest.raises(SystemsError, match=rf"systems.csv:2: .*{message}"):
        read_systems(_csv(tmp_path, row))


def test_an_id_twice_or_no_rows_is_refused(tmp_path: Path) -> None:
    row = "ny,x,America/New_York,http://h/gbfs.json,s,2,20,,,true"
    with pytest.raises(SystemsError, match="appears twice"):
        read_systems(_csv(tmp_path, row, row))
    with pytest.raises(SystemsError, match="no systems"):
        read_systems(_csv(tmp_path))
