"""How Airflow starts dbt through cosmos: the features run's one ``dbt build``, seeds, freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.dbt import cosmos_tasks
from include.dbt.runner import profile_env
from include.dbt.settings import DbtSettings
from include.gcp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings() -> Settings:
    return Settings(dataset="ds_x", project="proj-x")


@pytest.fixture
def dbt(tmp_path: Path) -> DbtSettings:
    return DbtSettings(executable=Path("/x/dbt"), project_dir=tmp_path / "dbt")


def test_profile_comes_from_the_project_files(settings: Settings, dbt: DbtSettings) -> None:
    profile = cosmos_tasks.profile_config(settings, dbt)
    assert profile.profile_name == cosmos_tasks.DBT_PROFILE
    assert profile.target_name == "local"
    assert Path(profile.profiles_yml_filepath) == dbt.project_dir / "profiles.yml"
    gcp = Settings(profile="gcp", project="p", bucket="b")
    assert cosmos_tasks.profile_config(gcp, dbt).target_name == "prod"


def test_profile_name_matches_the_dbt_project() -> None:
    text = (ROOT / "include" / "dbt" / "dbt_project.yml").read_text()
    assert f"\nprofile: {cosmos_tasks.DBT_PROFILE}\n" in text


def test_the_build_is_one_dbt_build_of_the_marts_and_their_tests(settings: Settings, dbt: DbtSettings) -> None:
    """One dbt start-up per run: seeds (bikeshare_setup), unit tests (CI) and the monitoring models
    (bikeshare_monitoring) are left out; dbt from its venv with the runner's profile variables."""
    from airflow.sdk import DAG
    from cosmos.constants import InvocationMode

    with DAG("t", schedule=None, default_args={"owner": "o", "retries": 2}):
        build = cosmos_tasks.build_operator(settings, dbt)
    assert build.task_id == cosmos_tasks.BUILD_TASK_ID
    assert build.base_cmd == ["build"]
    assert build.exclude.split() == ["resource_type:seed", "resource_type:unit_test", "tag:monitoring"]
    assert build.select is None
    assert build.retries == 0  # a failed test is a data problem; the next run repairs the rest
    assert build.invocation_mode is InvocationMode.SUBPROCESS
    assert str(build.dbt_executable_path) == "/x/dbt"
    assert build.project_dir == str(dbt.project_dir)
    assert build.env == profile_env(settings)
    assert build.append_env is True
    assert build.install_deps is False
    assert build.vars == {"as_of": "{{ data_interval_end | ts }}", "late_event_limit_minutes": 2880}


def test_the_late_event_limit_comes_from_the_settings() -> None:
    """The marts reconcile late events as far back as the ingest accepts them (one setting)."""
    settings = Settings(late_event_limit_minutes=600)
    assert cosmos_tasks.dbt_vars(settings) == {**cosmos_tasks.DBT_VARS, "late_event_limit_minutes": 600}


def test_as_of_template_renders_the_interval_end() -> None:
    from airflow.sdk.definitions._internal.templater import FILTERS
    from jinja2 import Environment

    env = Environment()
    env.filters.update(FILTERS)
    end = datetime(2019, 9, 4, 8, 15, tzinfo=UTC)
    rendered = env.from_string(cosmos_tasks.DBT_VARS["as_of"]).render(data_interval_end=end)
    assert rendered == "2019-09-04T08:15:00+00:00"


@pytest.mark.parametrize(
    ("age", "run_type", "live"),
    [
        (timedelta(minutes=1), "scheduled", True),
        (timedelta(minutes=59), "manual", True),
        (timedelta(hours=2), "scheduled", False),  # a late catch-up
        (timedelta(minutes=1), "backfill", False),
        (timedelta(days=400), "manual", False),
    ],
)
def test_freshness_is_checked_only_for_live_runs(age: timedelta, run_type: str, live: bool) -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert cosmos_tasks.is_live_run(now - age, now, run_type) is live


def test_a_backfill_is_recognised_by_the_task_sdk_run_type() -> None:
    from airflow.sdk.api.datamodels._generated import DagRunType

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert cosmos_tasks.is_live_run(now, now, DagRunType.BACKFILL) is False
    assert cosmos_tasks.is_live_run(now, now, DagRunType.SCHEDULED) is True
