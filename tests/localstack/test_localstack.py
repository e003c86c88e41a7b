"""The stack manager: a missing emulator names the install step; PID files guard against reuse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from include.gcp.settings import Settings
from include.localstack import servers, stack


def test_missing_pubsub_emulator_names_the_install_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(servers, "_sdk_roots", lambda settings: [tmp_path])
    with pytest.raises(servers.EmulatorMissing, match="gcloud components install pubsub-emulator"):
        servers._pubsub_launcher(Settings())


def test_missing_emulator_venv_names_the_install_step(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(servers, "EMULATOR_VENV", tmp_path / "nowhere")
    settings = Settings(state_dir=tmp_path)
    bigquery = next(s for s in servers.servers(settings) if s.name == "bigquery")
    with pytest.raises(servers.EmulatorMissing, match="make install"):
        servers.launch(bigquery, settings)


def test_the_gbfs_server_gets_the_trip_data_folder_with_its_meaning(monkeypatch, tmp_path: Path) -> None:
    """A provided folder stays provided (never downloaded to); the cache stays the cache."""
    monkeypatch.setenv("BIKESHARE_TRIPS_DATA_DIR", "/from/the/parent")
    for provided, variable in ((True, "BIKESHARE_TRIPS_DATA_DIR"), (False, "BIKESHARE_TRIPS_CACHE_DIR")):
        settings = Settings(state_dir=tmp_path, trips_data_dir=tmp_path / "trips", trips_data_provided=provided)
        gbfs = next(s for s in servers.servers(settings) if s.name == "gbfs")
        env = servers.launch(gbfs, settings).env
        assert env[variable] == str(tmp_path / "trips")
        assert provided or "BIKESHARE_TRIPS_DATA_DIR" not in env


def test_a_reused_pid_is_not_taken_for_our_server(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    server = servers.servers(settings)[0]
    pid_file = tmp_path / "pids" / f"{server.name}.pid"
    pid_file.parent.mkdir()
    pid_file.write_text(json.dumps({"pid": os.getpid()}))  # alive, but this is pytest, not the emulator
    assert stack._our_pid(settings, server) is None
    assert not pid_file.exists()


def test_status_of_a_stack_that_is_not_running(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "BIKESHARE_STATE_DIR": str(tmp_path),
            "BIKESHARE_PUBSUB_PORT": "1",
            "BIKESHARE_BIGQUERY_PORT": "2",
            "BIKESHARE_STORAGE_PORT": "3",
            "BIKESHARE_METADATA_PORT": "4",
            "BIKESHARE_GBFS_PORT": "5",
        }
    )
    assert [s.state for s in stack.status(settings)] == ["down"] * 5
    assert [s.state for s in stack.down(settings)] == ["down"] * 5


def test_a_bigquery_emulator_that_cannot_replay_its_log_says_what_to_do(tmp_path: Path) -> None:
    """DuckDB under the emulator sometimes cannot replay its write-ahead log after an unclean stop: the start-up
    error names the file and the two ways on, and says what the first one loses (never done silently)."""
    settings = Settings.from_env({"BIKESHARE_STATE_DIR": str(tmp_path), "BIKESHARE_BIGQUERY_PORT": "2"})
    bigquery = next(s for s in servers.servers(settings) if s.name == "bigquery")
    log = stack.log_file(settings, bigquery)
    log.parent.mkdir(parents=True)
    log.write_text('duckdb.duckdb.BinderException: Failure while replaying WAL file "x.wal": Cannot drop entry\n')
    wal = tmp_path / "bigquery" / "bqemulator.duckdb.wal"
    with pytest.raises(stack.StackError) as raised:
        stack._wait_ready(settings, bigquery, pid=0, timeout=5)  # no PID file: it exited
    message = str(raised.value)
    assert "bigquery exited during start-up" in message
    assert f"mv {wal} {wal}.unreplayable && make stack-up" in message
    assert "the writes since then are lost" in message
    assert "make clean && make stack-up" in message
    assert stack.what_to_do(settings, "bigquery", "Address already in use") == ""
    assert stack.what_to_do(settings, "pubsub", "replaying WAL") == ""
