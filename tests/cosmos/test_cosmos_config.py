"""The cosmos configuration of bikeshare_features: what it renders and how dbt is started."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include import cosmos_config
from include.gcp.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(dataset="ds_x", project="proj-x", dbt_project_dir=tmp_path / "dbt", dbt_executable=Path("/x/dbt"))


def test_profile_comes_from_the_project_files(settings: Settings) -> None:
    profile = cosmos_config.profile_config(settings)
    assert profile.profile_name == cosmos_config.DBT_PROFILE
    assert profile.target_name == "local"
    assert Path(profile.profiles_yml_filepath) == settings.dbt_project_dir / "profiles.yml"
    gcp = Settings(profile="gcp", project="p", bucket="b", dbt_project_dir=settings.dbt_project_dir)
    assert cosmos_config.profile_config(gcp).target_name == "prod"


def test_profile_name_matches_the_dbt_project() -> None:
    text = (ROOT / "include" / "dbt" / "dbt_project.yml").read_text()
    assert f"\nprofile: {cosmos_config.DBT_PROFILE}\n" in text


def test_project_reads_a_plain_local_manifest_without_deps(settings: Settings) -> None:
    project = cosmos_config.project_config(settings)
    assert type(project.manifest_path) is type(Path())  # not an ObjectStoragePath (parse-time cost)
    assert project.manifest_path == settings.dbt_project_dir / "target" / "manifest.json"
    assert project.install_dbt_deps is False


def test_render_and_execution_choices(settings: Settings) -> None:
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    render = cosmos_config.render_config(settings)
    assert render.load_method is LoadMode.DBT_MANIFEST
    assert render.test_behavior is TestBehavior.AFTER_ALL
    assert render.emit_datasets is False
    # setup loads seeds; CI unit-tests; the monitoring models belong to bikeshare_monitoring
    assert render.exclude == ["resource_type:seed", "resource_type:unit_test", "tag:monitoring"]
    execution = cosmos_config.execution_config(settings)
    assert execution.execution_mode is ExecutionMode.LOCAL
    assert execution.invocation_mode is InvocationMode.SUBPROCESS
    assert str(execution.dbt_executable_path) == "/x/dbt"


def test_operator_args_pass_the_dbt_env_a_templated_as_of_and_the_late_event_limit(settings: Settings) -> None:
    args = cosmos_config.operator_args(settings)
    assert args["env"] == settings.dbt_env()
    assert args["append_env"] is True
    assert args["vars"] == {"as_of": "{{ data_interval_end | ts }}", "late_event_limit_minutes": 2880}
    assert args["install_deps"] is False


def test_the_late_event_limit_comes_from_the_settings(tmp_path: Path) -> None:
    """The marts reconcile late events as far back as the ingest accepts them (one setting)."""
    settings = Settings(late_event_limit_minutes=600, dbt_project_dir=tmp_path / "dbt")
    assert cosmos_config.operator_args(settings)["vars"]["late_event_limit_minutes"] == 600
    assert cosmos_config.dbt_vars(settings) == {**cosmos_config.DBT_VARS, "late_event_limit_minutes": 600}


def test_as_of_template_renders_the_interval_end() -> None:
    from airflow.sdk.definitions._internal.templater import FILTERS
    from jinja2 import Environment

    env = Environment()
    env.filters.update(FILTERS)
    end = datetime(2019, 9, 4, 8, 15, tzinfo=UTC)
    rendered = env.from_string(cosmos_config.DBT_VARS["as_of"]).render(data_interval_end=end)
    assert rendered == "2019-09-04T08:15:00+00:00"


def test_only_test_tasks_lose_their_retries() -> None:
    tasks = [
        SimpleNamespace(task_id=i, retries=2)
        for i in ("dbt.stg_raw_events_run", "dbt.dbt_test", "dbt.station_features.test", "dbt.stations_seed")
    ]
    assert cosmos_config.disable_test_retries(tasks) == ["dbt.dbt_test", "dbt.station_features.test"]
    assert [t.retries for t in tasks] == [2, 0, 0, 2]


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
    assert cosmos_config.is_live_run(now - age, now, run_type) is live


def test_a_backfill_is_recognised_by_the_task_sdk_run_type() -> None:
    from airflow.sdk.api.datamodels._generated import DagRunType

    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert cosmos_config.is_live_run(now, now, DagRunType.BACKFILL) is False
    assert cosmos_config.is_live_run(now, now, DagRunType.SCHEDULED) is True


def test_manifest_renders_one_task_per_model_and_one_test_task(tmp_path: Path) -> None:
    """A small manifest (two models, a seed, a test) rendered by cosmos with these configs."""
    from airflow.sdk import DAG
    from cosmos import DbtTaskGroup

    project = tmp_path / "dbt"
    (project / "target").mkdir(parents=True)
    (project / "models").mkdir()
    (project / "dbt_project.yml").write_text("name: bikeshare\nprofile: bikeshare\n")
    (project / "profiles.yml").write_text("bikeshare: {}\n")

    def node(kind: str, name: str, deps: list[str]) -> dict:
        return {
            "unique_id": f"{kind}.bikeshare.{name}",
            "resource_type": kind,
            "name": name,
            "package_name": "bikeshare",
            "original_file_path": f"models/{name}.sql",
            "path": f"{name}.sql",
            "fqn": ["bikeshare", name],
            "depends_on": {"nodes": deps},
            "config": {"materialized": "view", "tags": [], "meta": {}},
            "tags": [],
        }

    nodes = [
        node("seed", "stations", []),
        node("model", "stg_raw_events", []),
        node("model", "station_features", ["model.bikeshare.stg_raw_events", "seed.bikeshare.stations"]),
        node("test", "not_null_station_features_station_id", ["model.bikeshare.station_features"]),
    ]
    manifest = {"metadata": {"project_name": "bikeshare"}, "nodes": {n["unique_id"]: n for n in nodes}, "sources": {}}
    (project / "target" / "manifest.json").write_text(json.dumps(manifest))
    s = Settings(dbt_project_dir=project)

    with DAG("t", schedule=None, default_args={"owner": "o", "retries": 2}) as dag:
        group = DbtTaskGroup(
            group_id="dbt",
            project_config=cosmos_config.project_config(s),
            profile_config=cosmos_config.profile_config(s),
            execution_config=cosmos_config.execution_config(s),
            render_config=cosmos_config.render_config(s),
            operator_args=cosmos_config.operator_args(s),
        )
        cosmos_config.disable_test_retries(group)
    tasks = {t.task_id: t for t in dag.tasks}
    assert set(tasks) == {"dbt.stg_raw_events_run", "dbt.station_features_run", "dbt.dbt_test"}  # no seed task
    assert tasks["dbt.dbt_test"].retries == 0
    assert tasks["dbt.station_features_run"].retries == 2
    assert tasks["dbt.dbt_test"].upstream_task_ids == {"dbt.station_features_run"}
    assert tasks["dbt.station_features_run"].vars == cosmos_config.dbt_vars(s)
    assert tasks["dbt.dbt_test"].vars == cosmos_config.dbt_vars(s)  # the tests see the same limit
