"""The dbt command line and environment built from the settings (no dbt process needed)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

from include.dbt import runner, seed_data
from include.dbt.runner import dbt_command, dbt_env, dbt_vars, settings_vars
from include.dbt.settings import PROJECT_DIR, DbtSettings
from include.gcp.settings import PROJECT_ROOT, Settings


def test_command_points_at_the_project_profile_and_target() -> None:
    settings = Settings(dataset="ds_x")
    dbt = DbtSettings(executable=Path("/opt/dbt_venv/bin/dbt"), project_dir=Path("/srv/dbt"))
    args = ["run", "--select", "station_features"]
    cmd = dbt_command(args, settings, vars={"as_of": "2019-09-01T08:00:00+00:00"}, dbt_settings=dbt)
    assert cmd[0] == "/opt/dbt_venv/bin/dbt"
    assert cmd[1:4] == ["run", "--select", "station_features"]
    assert cmd[cmd.index("--project-dir") + 1] == "/srv/dbt"
    assert cmd[cmd.index("--profiles-dir") + 1] == "/srv/dbt"
    assert cmd[cmd.index("--target") + 1] == "local"
    assert json.loads(cmd[cmd.index("--vars") + 1]) == {"as_of": "2019-09-01T08:00:00+00:00"}


def test_env_carries_the_profile_variables() -> None:
    env = dbt_env(Settings(dataset="ds_y", project="p1"), base={"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["DBT_BQ_DATASET"] == "ds_y"
    assert env["DBT_BQ_PROJECT"] == "p1"
    assert env["DBT_BQ_API_ENDPOINT"].startswith("http://")


def test_vars_are_utc_iso() -> None:
    local = datetime(2019, 9, 1, 4, 0, tzinfo=timezone(timedelta(hours=-4)))
    assert dbt_vars(as_of=local) == {"as_of": "2019-09-01T08:00:00+00:00"}
    assert dbt_vars(as_of=datetime(2019, 9, 1), late_event_lookback_minutes=30) == {
        "as_of": "2019-09-01T00:00:00+00:00",
        "late_event_lookback_minutes": 30,
    }
    assert dbt_vars() == {}
    assert dbt_vars(late_event_limit_minutes=600) == {"late_event_limit_minutes": 600}


def test_every_command_gets_the_late_event_limit_of_the_settings(monkeypatch) -> None:
    """The marts reconcile late events as far back as the ingest accepts them (the same setting)."""
    assert settings_vars(Settings()) == {"late_event_limit_minutes": 2880}
    assert settings_vars(Settings(late_event_limit_minutes=600)) == {"late_event_limit_minutes": 600}
    commands: list[list[str]] = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    settings = Settings(late_event_limit_minutes=600)
    runner.run_dbt(["parse"], settings)
    runner.run_dbt(["run"], settings, vars=dbt_vars(as_of=datetime(2019, 9, 1)))
    runner.run_dbt(["run"], settings, vars={"late_event_limit_minutes": 30})  # a caller's value wins
    passed = [json.loads(cmd[cmd.index("--vars") + 1]) for cmd in commands]
    assert passed == [
        {"late_event_limit_minutes": 600},
        {"late_event_limit_minutes": 600, "as_of": "2019-09-01T00:00:00+00:00"},
        {"late_event_limit_minutes": 30},
    ]


def test_project_files_are_where_the_settings_say() -> None:
    assert (PROJECT_DIR / "dbt_project.yml").is_file()
    assert DbtSettings.from_env({}) == DbtSettings(PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt", PROJECT_DIR)
    image = DbtSettings.from_env({"BIKESHARE_DBT_EXECUTABLE": "/usr/local/airflow/dbt_venv/bin/dbt"})
    assert image.executable == Path("/usr/local/airflow/dbt_venv/bin/dbt")  # what the Dockerfile sets
    assert image.project_dir == PROJECT_DIR


def test_federal_holidays_use_observed_days() -> None:
    rows = {(r["holiday_name"], r["holiday_date"].year): r for r in seed_data.federal_holidays()}
    assert rows[("Labor Day", 2019)]["holiday_date"].isoformat() == "2019-09-02"
    assert rows[("Thanksgiving Day", 2019)]["holiday_date"].isoformat() == "2019-11-28"
    assert rows[("Memorial Day", 2019)]["holiday_date"].isoformat() == "2019-05-27"
    assert rows[("Independence Day", 2021)]["observed_date"].isoformat() == "2021-07-05"  # a Sunday
    assert rows[("Christmas Day", 2021)]["observed_date"].isoformat() == "2021-12-24"  # a Saturday
    assert ("Juneteenth National Independence Day", 2020) not in rows
    assert sum(1 for name, year in rows if year == 2026) == 11


def test_committed_seeds_match_the_generator(tmp_path: Path) -> None:
    generated = tmp_path / "h.csv"
    seed_data.write_csv(generated, seed_data.federal_holidays())
    assert generated.read_text() == (seed_data.SEEDS_DIR / "us_federal_holidays.csv").read_text()
    assert (seed_data.SEEDS_DIR / "stations.csv").read_text().startswith("system_id,station_id,name,lat,lon,capacity\n")
