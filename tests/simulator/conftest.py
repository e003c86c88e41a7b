"""Fixtures of the simulator tests: the small trip files, zipped copies, and a fake clock."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
FILE_2019 = DATA / "JC-201909-sample.csv"  # 10 usable trips, 1 missing station, 1 end before start
FILE_2021 = DATA / "JC-202107-citibike-tripdata.csv"  # 4 usable trips, 5 rejected rows


class FakeClock:
    """A clock whose sleep only advances time, so paced replays run instantly in unit tests."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


def zipped(source: Path, target_dir: Path) -> Path:
    target = target_dir / f"{source.name}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(source, source.name)
    return target
