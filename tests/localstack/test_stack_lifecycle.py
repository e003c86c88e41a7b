"""A second stack on other ports: up starts it, up again finds it, down stops exactly it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from include.gcp.settings import Settings
from include.localstack import stack

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_up_is_idempotent_and_down_stops_what_up_started(tmp_path: Path, local_stack: Settings) -> None:
    ports = {name: str(_free_port()) for name in ("PUBSUB", "BIGQUERY", "BIGQUERY_GRPC", "STORAGE", "METADATA", "GBFS")}
    settings = Settings.from_env(
        {"BIKESHARE_STATE_DIR": str(tmp_path)} | {f"BIKESHARE_{k}_PORT": v for k, v in ports.items()}
    )
    try:
        first = stack.up(settings)
        assert [s.state for s in first] == ["started"] * 5
        second = stack.up(settings)
        assert [s.state for s in second] == ["running"] * 5
        assert [s.pid for s in second] == [s.pid for s in first]
        for name in ("pubsub", "bigquery", "storage", "metadata", "gbfs"):
            assert (tmp_path / "logs" / f"{name}.log").stat().st_size > 0
            assert (tmp_path / "pids" / f"{name}.pid").exists()
    finally:
        stopped = stack.down(settings)
    assert [s.state for s in stopped] == ["stopped"] * 5
    assert [s.state for s in stack.status(settings)] == ["down"] * 5
    assert not list((tmp_path / "pids").iterdir())
    # the session's own stack on the default ports was not touched
    assert all(s.state in ("running", "external") for s in stack.status(local_stack))
