"""A failed dbt run names what failed and why: the model or test and its cause, a time-out called one.

The outputs under ``data/`` are real dbt 1.11 consoles against the BigQuery emulator (colours and all): the
``station_features_wide`` build with a 2-s job limit, which the emulator's synchronous jobs.insert ran into
(dbt-bigquery's creation call retried until its 600-s deadline, the failure seen at load 8-12), and a model
run without its ``as_of`` variable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.exceptions import AirflowException
from cosmos.hooks.subprocess import FullOutputSubprocessResult

from include.dbt import cosmos_tasks, failures
from include.dbt.runner import DbtError
from include.dbt.settings import DbtSettings
from include.gcp.settings import Settings

DATA = Path(__file__).parent / "data"
TIMEOUT = (DATA / "dbt_timeout_output.txt").read_text()
COMPILATION = (DATA / "dbt_compilation_error_output.txt").read_text()


def test_a_job_time_out_names_the_model_and_says_time_out_with_the_setting_to_raise() -> None:
    (failure,) = failures.failures(TIMEOUT)
    assert (failure.resource, failure.name) == ("model", "station_features_wide")
    assert failure.path == "models/marts/station_features_wide.sql"
    assert failure.timed_out
    line = failures.summary(TIMEOUT, 1)
    assert "model station_features_wide" in line
    assert "time-out" in line
    assert failures.TIMEOUT_SETTING in line
    assert "\x1b[" not in line  # no terminal colours in an alert


def test_a_compilation_error_names_the_model_and_its_cause_without_the_call_stack() -> None:
    (failure,) = failures.failures(COMPILATION)
    assert failure.name == "int_fleet_stations"
    assert failure.cause.startswith("Compilation Error: pass the run's data-interval end")
    assert not failure.timed_out
    assert "called by macro" not in failure.cause


def test_a_failed_test_is_named_as_a_test() -> None:
    out = """
10:00:01  Completed with 2 errors, 0 partial successes, and 0 warnings:
10:00:01
10:00:01  Failure in test not_null_station_features_value (models/marts/_marts.yml)
10:00:01    Got 3 results, configured to fail if != 0
10:00:01
10:00:01  Failure in model station_features (models/marts/station_features.sql)
10:00:01    Database Error in model station_features (models/marts/station_features.sql)
  Table not found: raw_events
10:00:01
10:00:01  Done. PASS=4 WARN=0 ERROR=2 SKIP=1 NO-OP=0 TOTAL=7
"""
    found = failures.failures(out)
    assert [(f.resource, f.name) for f in found] == [
        ("test", "not_null_station_features_value"),
        ("model", "station_features"),
    ]
    assert found[0].cause == "Failure: Got 3 results, configured to fail if != 0"
    assert found[1].cause == "Database Error: Table not found: raw_events"


def test_an_output_without_dbts_summary_says_so() -> None:
    assert failures.failures("Encountered an error:\nRuntime Error\n  could not connect") == []
    assert "exited with code 2" in failures.summary("nothing useful", 2)


def test_the_features_build_task_raises_the_summary_not_only_the_exit_code(tmp_path: Path) -> None:
    operator = cosmos_tasks.build_operator(
        Settings(), DbtSettings(executable=Path("/x/dbt"), project_dir=tmp_path / "dbt")
    )
    lines = TIMEOUT.splitlines()
    with pytest.raises(AirflowException, match="model station_features_wide: a BigQuery job time-out"):
        operator.handle_exception_subprocess(FullOutputSubprocessResult(1, lines[-1], lines))
    operator.handle_exception_subprocess(FullOutputSubprocessResult(0, "Done.", ["Done."]))  # success: no raise


def test_the_runner_error_names_the_failed_model(dbt_settings: Settings, tmp_path: Path) -> None:
    """Real dbt on the emulator: a model run before its upstream table exists fails, and the error says which
    and why (without dbt's "compiled code at" lines)."""
    from include.dbt.runner import run_dbt

    with pytest.raises(
        DbtError,
        match=r"model int_fleet_stations: Database Error: Not found: Table \S+stg_raw_events was not found[^\n]*US\n",
    ):
        run_dbt(["run", "--select", "int_fleet_stations"], dbt_settings, target_path=tmp_path / "target")


def test_the_local_job_limit_is_a_setting_inside_the_build_tasks_limit() -> None:
    from include.dbt.runner import profile_env
    from include.timeouts import FEATURES

    assert "DBT_BQ_JOB_TIMEOUT_SECONDS" not in profile_env(Settings(), DbtSettings())  # profiles.yml's default
    env = profile_env(Settings(), DbtSettings.from_env({"BIKESHARE_DBT_JOB_TIMEOUT_SECONDS": "2400"}))
    assert env["DBT_BQ_JOB_TIMEOUT_SECONDS"] == "2400"
    profiles = (Path(cosmos_tasks.__file__).parent / "profiles.yml").read_text()
    local_default = int(profiles.split("DBT_BQ_JOB_TIMEOUT_SECONDS', '")[1].split("'")[0])
    assert local_default < FEATURES.execution("dbt_build").total_seconds()  # dbt's error comes before the kill
