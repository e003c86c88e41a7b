"""The Citi Bike data the project runs on, pinned by sha256: the Jersey City trip files and a station snapshot.

- **Trip files** (:data:`TRIP_FILES`): Citi Bike's monthly Jersey City files for 2019-01..2019-09, as
  published in its public trip-data bucket (:data:`BASE_URL`). :func:`ensure_trip_files` gives their paths:
  from ``BIKESHARE_TRIPS_DATA_DIR`` when it is set (a folder that holds them, e.g. an offline copy; nothing
  is downloaded to it), else from the download cache (``BIKESHARE_TRIPS_CACHE_DIR``, default
  ``.local/data/citibike-jc``), each missing file downloaded once, atomically (a temporary file renamed
  into place). Every file used is checked against its sha256: a missing or different file is a
  :class:`TripDataError` naming the file, the expected and the actual hash, never a file read anyway.
- **station_information.json**: a GBFS snapshot of Citi Bike's stations (2021-11-17), not in the trip
  bucket; the live feed changes, so no download could be pinned. It is vendored, gzipped, beside this module
  (``data/``, provenance in ``data/README.md``) and used when the trip data folder has no snapshot of its own
  (:func:`station_information_file`, :func:`load_station_information`).

Prefetch (e.g. before going offline)::

    python -m include.simulator.trip_data                      # every pinned month
    python -m include.simulator.trip_data --months 2019-09     # one
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.gcp.settings import EnvReader, trips_data_location

BASE_URL = "https://s3.amazonaws.com/tripdata"  # Citi Bike System Data: https://citibikenyc.com/system-data
DOWNLOAD_TIMEOUT_SECONDS = 60.0
_CHUNK = 1 << 20
_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")


class TripDataError(RuntimeError):
    """A pinned data file is missing, cannot be downloaded, or is not the pinned file; the message says which."""


@dataclass(frozen=True)
class PinnedFile:
    """A file by name, byte size and sha256 (of the file as stored: the zip, the uncompressed JSON)."""

    name: str
    size: int
    sha256: str


def _trip_file(stamp: str, size: int, sha256: str) -> tuple[str, PinnedFile]:
    return stamp, PinnedFile(f"JC-{stamp}-citibike-tripdata.csv.zip", size, sha256)


# YYYYMM -> the month's file. Hashes of the public files (the same as CI's reference copies).
TRIP_FILES: dict[str, PinnedFile] = dict(
    [
        _trip_file("201901", 535_317, "44b3e72fb80adf4a759feda29116a2655ed81bf8f7b80733ca5b9d28a44cd69a"),
        _trip_file("201902", 491_166, "4051f6d68878f0e1d6f805bc9512d6e9af09f9dba15fd946e1b6d51f1640669f"),
        _trip_file("201903", 623_509, "ce7eb816e7edb6311eb4115e6ef962ee05578f472a37a4ff3cb771cf4463d788"),
        _trip_file("201904", 867_370, "ba2498a6822f3ca06649a2532ec6fb8593918a5aca5c22662b768bf4473d5332"),
        _trip_file("201905", 931_693, "d381780cd10f1b0a67a2259437d1579c88c1c8062e003dddf2859e5aa23e5684"),
        _trip_file("201906", 1_018_935, "44c5db5ec8408b102bf8e45acc22d8fe0aeda96b1c61a58bf3a84c8492f5dfad"),
        _trip_file("201907", 1_131_502, "e30a389a4ceada3e8a8a14d824b98c21c04cd97903d80f20d7516974efce1746"),
        _trip_file("201908", 1_258_122, "68062a126bf537af56e53b7bf3baa86eb844536839a3d7003b398d1ee6958bb1"),
        _trip_file("201909", 1_271_064, "99193580d4d757e5a1eb1196c495e831cd440d18ff9ee52dc715ec93e64f5b15"),
    ]
)

# The GBFS snapshot (uncompressed size and sha256) and its vendored, gzipped copy.
STATION_INFORMATION = PinnedFile(
    "station_information.json", 803_634, "3f637956df753043d6ed4f64066f801691dcb8e8b18512a397482b42d201c341"
)
VENDORED_STATION_INFORMATION = Path(__file__).resolve().parent / "data" / "station_information.json.gz"

_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256: each file hashed once per process


def month_stamp(month: str) -> str:
    """``YYYYMM`` of ``2019-09`` or ``201909``; ValueError otherwise."""
    match = _MONTH.match(month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {month!r}: expected YYYY-MM")
    return match.group(1) + match.group(2)


def pinned_months(manifest: Mapping[str, PinnedFile] = TRIP_FILES) -> str:
    """The manifest's months as text for messages, e.g. ``2019-01, ..., 2019-09``."""
    return ", ".join(f"{m[:4]}-{m[4:]}" for m in sorted(manifest))


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mismatch(pinned: PinnedFile, where: str, size: int, actual: str) -> TripDataError:
    return TripDataError(
        f"{pinned.name} ({where}) is not the pinned file: sha256 {actual} ({size:,} bytes), "
        f"expected sha256 {pinned.sha256} ({pinned.size:,} bytes)"
    )


def verified_file(path: Path, pinned: PinnedFile) -> Path:
    """``path`` when it is the pinned file; a :class:`TripDataError` when it is missing or differs."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise TripDataError(f"{pinned.name} is missing: no {path} (expected sha256 {pinned.sha256})") from None
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    actual = _verified.get(key) or _hash_file(path)
    if actual != pinned.sha256:
        raise _mismatch(pinned, str(path), stat.st_size, actual)
    _verified[key] = actual
    return path


def download_file(folder: Path, pinned: PinnedFile, base_url: str | None = None) -> Path:
    """``folder/<name>``, downloaded from ``base_url/<name>`` (default :data:`BASE_URL`) when absent, then checked.

    The download goes to a temporary file in ``folder`` that is renamed into place only once its sha256
    is the pinned one; on any failure nothing is left behind. A file already there is checked, not
    replaced: a different one is an error (delete it to download it again)."""
    target = folder / pinned.name
    if target.exists():
        return verified_file(target, pinned)
    folder.mkdir(parents=True, exist_ok=True)
    url = f"{(base_url or BASE_URL).rstrip('/')}/{pinned.name}"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{pinned.name}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
                    while chunk := response.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
            except urllib.error.HTTPError as err:
                raise TripDataError(f"{pinned.name}: download from {url} failed: HTTP {err.code} {err.reason}") from err
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                raise TripDataError(
                    f"{pinned.name}: download from {url} failed ({reason}); offline? Set BIKESHARE_TRIPS_DATA_DIR "
                    "to a folder that holds the trip files"
                ) from err
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != pinned.sha256:
            raise _mismatch(pinned, f"downloaded from {url}, not kept", size, digest.hexdigest())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def ensure_trip_files(
    months: Iterable[str] | None = None,
    dest: str | Path | None = None,
    base_url: str | None = None,
    *,
    manifest: Mapping[str, PinnedFile] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Path]:
    """The checked trip files of ``months`` (``YYYY-MM`` / ``YYYYMM``; None: every pinned month), in order.

    With ``BIKESHARE_TRIPS_DATA_DIR`` set the files are that folder's, never downloaded; else each missing
    one is downloaded from ``base_url`` (default :data:`BASE_URL`) into ``dest`` (default
    ``BIKESHARE_TRIPS_CACHE_DIR`` or ``.local/data/citibike-jc``). A month not in ``manifest`` (default
    :data:`TRIP_FILES`), a missing or a different file: :class:`TripDataError`."""
    folder, provided = trips_data_location(EnvReader(os.environ if environ is None else environ))
    if not provided and dest:
        folder = Path(dest)
    return trip_files_in(folder, months, provided=provided, base_url=base_url, manifest=manifest)


def trip_files_in(
    folder: Path,
    months: Iterable[str] | None,
    *,
    provided: bool,
    base_url: str | None = None,
    manifest: Mapping[str, PinnedFile] | None = None,
) -> list[Path]:
    """:func:`ensure_trip_files` for a given folder: ``provided`` (``BIKESHARE_TRIPS_DATA_DIR``) is only
    checked, else it is the cache and missing files are downloaded into it."""
    manifest = TRIP_FILES if manifest is None else manifest
    stamps = sorted(manifest) if months is None else [month_stamp(m) for m in months]
    unknown = [s for s in stamps if s not in manifest]
    if unknown:
        raise TripDataError(f"no pinned trip file for {', '.join(unknown)} (pinned: {pinned_months(manifest)})")
    if not provided:
        return [download_file(folder, manifest[s], base_url) for s in stamps]
    try:
        return [verified_file(folder / manifest[s].name, manifest[s]) for s in stamps]
    except TripDataError as err:
        raise TripDataError(f"{err} [BIKESHARE_TRIPS_DATA_DIR={folder}; unset it to download the files]") from None


def station_information_file(data_dir: str | Path | None = None) -> Path:
    """The GBFS snapshot to read: ``station_information.json`` of ``data_dir`` (default: the trip data
    folder) when it has one, else the vendored copy (gzipped: read it with :func:`load_station_information`)."""
    folder = Path(data_dir) if data_dir else trips_data_location()[0]
    own = folder / STATION_INFORMATION.name
    return own if own.exists() else VENDORED_STATION_INFORMATION


def load_station_information(path: str | Path | None = None) -> dict[str, Any]:
    """The parsed snapshot at ``path`` (default :func:`station_information_file`), gzipped or not; the vendored
    copy is checked against its sha256."""
    path = Path(path) if path else station_information_file()
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if path.resolve() == VENDORED_STATION_INFORMATION:
        actual = hashlib.sha256(raw).hexdigest()
        if actual != STATION_INFORMATION.sha256:
            raise _mismatch(STATION_INFORMATION, f"vendored, {path}", len(raw), actual)
    return json.loads(raw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m include.simulator.trip_data",
        description="Download (or check) the pinned Citi Bike trip files: into the cache, or check "
        "BIKESHARE_TRIPS_DATA_DIR when it is set.",
    )
    parser.add_argument("--months", nargs="+", metavar="YYYY-MM", help=f"default: all ({pinned_months()})")
    parser.add_argument("--dest", type=Path, help="the cache folder (default: BIKESHARE_TRIPS_CACHE_DIR or .local/...)")
    parser.add_argument("--base-url", default=BASE_URL, help=f"where the files are published (default {BASE_URL})")
    args = parser.parse_args(argv)
    try:
        paths = ensure_trip_files(args.months, args.dest, args.base_url)
    except (TripDataError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"ok {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
