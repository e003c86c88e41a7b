"""The pinned Citi Bike data: downloads from a real local HTTP server into a cache, checked by sha256; a provided
folder (BIKESHARE_TRIPS_DATA_DIR) used without a request; the pinned manifest against the real files."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest

from include.gcp.settings import PROJECT_ROOT, Settings
from include.simulator import sources, trip_data
from include.simulator.trip_data import PinnedFile, TripDataError, ensure_trip_files

CONTENT = {"201901": b"january trips\n" * 100, "201902": b"february trips\n" * 80}


def pinned(stamp: str, content: bytes) -> PinnedFile:
    return PinnedFile(f"JC-{stamp}-citibike-tripdata.csv.zip", len(content), hashlib.sha256(content).hexdigest())


MANIFEST = {stamp: pinned(stamp, content) for stamp, content in CONTENT.items()}


@dataclass
class FileServer:
    """A real HTTP server on 127.0.0.1 serving ``root``; ``requests`` lists the paths asked for."""

    root: Path
    url: str = ""
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FileServer]:
    root = tmp_path / "bucket"
    root.mkdir()
    served = FileServer(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append(self.path)
            super().do_GET()

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}/tripdata"
    (root / "tripdata").mkdir()
    served.root = root / "tripdata"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_provided_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test decides: CI and the dev machine set BIKESHARE_TRIPS_DATA_DIR."""
    monkeypatch.delenv("BIKESHARE_TRIPS_DATA_DIR", raising=False)
    monkeypatch.delenv("BIKESHARE_TRIPS_CACHE_DIR", raising=False)
    trip_data._verified.clear()


def publish(server: FileServer, contents: dict[str, bytes] = CONTENT) -> None:
    for stamp, content in contents.items():
        (server.root / MANIFEST[stamp].name).write_bytes(content)


def test_downloads_each_file_once_into_the_cache_and_checks_it(server: FileServer, tmp_path: Path) -> None:
    publish(server)
    cache = tmp_path / "cache"
    paths = ensure_trip_files(["2019-02", "201901"], cache, server.url, manifest=MANIFEST)
    assert paths == [cache / MANIFEST["201902"].name, cache / MANIFEST["201901"].name]
    assert [p.read_bytes() for p in paths] == [CONTENT["201902"], CONTENT["201901"]]
    assert sorted(server.requests) == sorted(f"/tripdata/{m.name}" for m in MANIFEST.values())
    assert sorted(p.name for p in cache.iterdir()) == sorted(m.name for m in MANIFEST.values())  # no temp file left

    assert ensure_trip_files(None, cache, server.url, manifest=MANIFEST) == sorted(paths)  # every month: cache hits
    assert len(server.requests) == 2


def test_the_cache_folder_defaults_to_the_setting(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    publish(server)
    monkeypatch.setenv("BIKESHARE_TRIPS_CACHE_DIR", str(tmp_path / "env-cache"))
    assert ensure_trip_files(["2019-01"], None, server.url, manifest=MANIFEST) == [
        tmp_path / "env-cache" / MANIFEST["201901"].name
    ]
    monkeypatch.delenv("BIKESHARE_TRIPS_CACHE_DIR")
    assert trip_data.trips_data_location() == (PROJECT_ROOT / ".local" / "data" / "citibike-jc", False)


def test_a_corrupted_download_is_an_error_naming_both_hashes_and_is_not_kept(server: FileServer, tmp_path) -> None:
    publish(server, {"201901": CONTENT["201901"][:-1] + b"X"})
    actual = hashlib.sha256(CONTENT["201901"][:-1] + b"X").hexdigest()
    cache = tmp_path / "cache"
    with pytest.raises(TripDataError) as err:
        ensure_trip_files(["2019-01"], cache, server.url, manifest=MANIFEST)
    message = str(err.value)
    assert MANIFEST["201901"].name in message
    assert MANIFEST["201901"].sha256 in message
    assert actual in message
    assert list(cache.iterdir()) == []  # neither the file nor its temporary copy

    publish(server)  # fixed upstream: the next call downloads it again
    assert ensure_trip_files(["2019-01"], cache, server.url, manifest=MANIFEST)[0].read_bytes() == CONTENT["201901"]


def test_a_missing_file_upstream_is_a_clear_error(server: FileServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(TripDataError, match=r"JC-201901-citibike-tripdata\.csv\.zip: download from .* HTTP 404"):
        ensure_trip_files(["2019-01"], cache, server.url, manifest=MANIFEST)
    assert list(cache.iterdir()) == []


def test_an_unreachable_server_is_a_clear_error_that_names_the_offline_setting(tmp_path: Path) -> None:
    with pytest.raises(TripDataError, match=r"JC-201901.*BIKESHARE_TRIPS_DATA_DIR"):
        ensure_trip_files(["2019-01"], tmp_path / "cache", "http://127.0.0.1:1/tripdata", manifest=MANIFEST)


def test_a_changed_file_in_the_cache_is_an_error_not_a_silent_read(server: FileServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / MANIFEST["201901"].name).write_bytes(b"edited")
    with pytest.raises(TripDataError, match=MANIFEST["201901"].sha256):
        ensure_trip_files(["2019-01"], cache, server.url, manifest=MANIFEST)
    assert server.requests == []


def test_a_month_that_is_not_pinned_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TripDataError, match=r"201812 \(pinned: 2019-01, 2019-02\)"):
        ensure_trip_files(["2018-12"], tmp_path, "http://127.0.0.1:1", manifest=MANIFEST)
    with pytest.raises(ValueError, match="YYYY-MM"):
        ensure_trip_files(["2019-13"], tmp_path, "http://127.0.0.1:1", manifest=MANIFEST)


def test_a_provided_folder_is_used_without_any_request(server: FileServer, tmp_path: Path, monkeypatch) -> None:
    publish(server)
    provided = tmp_path / "offline"
    provided.mkdir()
    for stamp, content in CONTENT.items():
        (provided / MANIFEST[stamp].name).write_bytes(content)
    monkeypatch.setenv("BIKESHARE_TRIPS_DATA_DIR", str(provided))
    cache = tmp_path / "cache"
    paths = ensure_trip_files(None, cache, server.url, manifest=MANIFEST)
    assert paths == [provided / MANIFEST[s].name for s in sorted(MANIFEST)]
    assert server.requests == []
    assert not cache.exists()


def test_a_bad_or_missing_file_in_the_provided_folder_is_an_error(server: FileServer, tmp_path, monkeypatch) -> None:
    publish(server)
    provided = tmp_path / "offline"
    provided.mkdir()
    (provided / MANIFEST["201901"].name).write_bytes(b"truncated")
    monkeypatch.setenv("BIKESHARE_TRIPS_DATA_DIR", str(provided))
    with pytest.raises(TripDataError) as err:
        ensure_trip_files(["2019-01"], tmp_path / "cache", server.url, manifest=MANIFEST)
    message = str(err.value)
    assert MANIFEST["201901"].sha256 in message
    assert hashlib.sha256(b"truncated").hexdigest() in message
    assert "BIKESHARE_TRIPS_DATA_DIR" in message
    with pytest.raises(TripDataError, match=r"JC-201902-citibike-tripdata\.csv\.zip is missing"):
        ensure_trip_files(["2019-02"], tmp_path / "cache", server.url, manifest=MANIFEST)
    assert server.requests == []


def test_the_cli_prefetches_and_reports_errors(server: FileServer, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(trip_data, "TRIP_FILES", MANIFEST)
    publish(server)
    cache = tmp_path / "cache"
    assert trip_data.main(["--months", "2019-02", "--dest", str(cache), "--base-url", server.url]) == 0
    assert capsys.readouterr().out == f"ok {cache / MANIFEST['201902'].name}\n"
    assert trip_data.main(["--months", "2018-01", "--dest", str(cache), "--base-url", server.url]) == 1
    assert "no pinned trip file for 201801" in capsys.readouterr().err


def test_month_files_downloads_a_pinned_month_into_the_cache_setting(server: FileServer, tmp_path, monkeypatch) -> None:
    """The replay's lookup (include.simulator.sources) goes through the same download and check."""
    publish(server)
    monkeypatch.setattr(trip_data, "TRIP_FILES", MANIFEST)
    monkeypatch.setattr(trip_data, "BASE_URL", server.url)
    cache = tmp_path / "cache"
    monkeypatch.setattr(sources, "get_settings", lambda: Settings(trips_data_dir=cache))
    assert sources.month_files("2019-01") == [cache / MANIFEST["201901"].name]
    assert sources.month_files("2019-01", cache) == [cache / MANIFEST["201901"].name]
    assert server.requests == [f"/tripdata/{MANIFEST['201901'].name}"]

    provided = Settings(trips_data_dir=tmp_path / "offline", trips_data_provided=True)
    monkeypatch.setattr(sources, "get_settings", lambda: provided)
    with pytest.raises(TripDataError, match=r"is missing.*BIKESHARE_TRIPS_DATA_DIR"):
        sources.month_files("2019-02")
    assert len(server.requests) == 1


def test_month_files_checks_a_pinned_file_in_another_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(trip_data, "TRIP_FILES", MANIFEST)
    other = tmp_path / "other"
    other.mkdir()
    (other / MANIFEST["201901"].name).write_bytes(CONTENT["201901"])
    (other / MANIFEST["201902"].name).write_bytes(b"not the pinned file")
    assert sources.month_files("2019-01", other) == [other / MANIFEST["201901"].name]
    with pytest.raises(TripDataError, match=MANIFEST["201902"].sha256):
        sources.month_files("2019-02", other)


def test_the_vendored_station_snapshot_is_the_pinned_one() -> None:
    raw = gzip.decompress(trip_data.VENDORED_STATION_INFORMATION.read_bytes())
    assert (len(raw), hashlib.sha256(raw).hexdigest()) == (
        trip_data.STATION_INFORMATION.size,
        trip_data.STATION_INFORMATION.sha256,
    )
    assert len(trip_data.load_station_information(trip_data.VENDORED_STATION_INFORMATION)["data"]["stations"]) == 1587
    assert (trip_data.VENDORED_STATION_INFORMATION.parent / "README.md").exists()  # provenance and licence


def test_the_station_snapshot_is_the_data_folders_else_the_vendored_one(tmp_path: Path) -> None:
    assert trip_data.station_information_file(tmp_path) == trip_data.VENDORED_STATION_INFORMATION
    own = tmp_path / "station_information.json"
    own.write_text(json.dumps({"data": {"stations": []}}))
    assert trip_data.station_information_file(tmp_path) == own
    assert trip_data.load_station_information(own) == {"data": {"stations": []}}


def _reference_folder() -> Path | None:
    """A folder with copies of the real files: BIKESHARE_TRIPS_DATA_DIR (GitHub's CI downloads two months),
    else ../shared/data/citibike-jc (this machine's and .ci/run's)."""
    shared = PROJECT_ROOT.parent / "shared" / "data" / "citibike-jc"
    for candidate in (os.environ.get("BIKESHARE_TRIPS_DATA_DIR"), shared):
        if candidate and any((Path(candidate) / pin.name).exists() for pin in trip_data.TRIP_FILES.values()):
            return Path(candidate)
    return None


REFERENCE = _reference_folder()


@pytest.mark.skipif(REFERENCE is None, reason="no copy of the real files (BIKESHARE_TRIPS_DATA_DIR, ../shared/data)")
def test_the_pinned_manifest_matches_the_real_files() -> None:
    assert REFERENCE is not None
    assert sorted(trip_data.TRIP_FILES) == [f"2019{m:02d}" for m in range(1, 10)]
    checked = []
    for stamp, pin in trip_data.TRIP_FILES.items():
        assert pin.name == f"JC-{stamp}-citibike-tripdata.csv.zip"
        path = REFERENCE / pin.name
        if path.exists():  # all nine in ../shared; a partial copy is checked as far as it goes
            assert (path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest()) == (pin.size, pin.sha256)
            checked.append(stamp)
    assert checked
    snapshot = REFERENCE / "station_information.json"
    if snapshot.exists():  # the vendored copy is this one
        assert hashlib.sha256(snapshot.read_bytes()).hexdigest() == trip_data.STATION_INFORMATION.sha256
