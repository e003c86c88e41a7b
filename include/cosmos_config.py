"""How the bikeshare_features DAG renders and runs the dbt project with astronomer-cosmos.

Builders for cosmos' ProjectConfig / ProfileConfig / ExecutionConfig / RenderConfig and the operator
arguments. Everything is derived from :class:`~include.gcp.settings.Settings`, so the DAG file stays
thin and these choices are tested. Cosmos is imported inside the builders: importing this module costs
nothing at DAG parse time.

No Asset: training is hourly and waits on the feature store's run log (include/gcp/feature_runs.py),
which knows whether a run's dbt tests passed; nothing scheduled on an Asset, so the features DAG emits none.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.gcp.settings import Settings

if TYPE_CHECKING:
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig

DBT_PROFILE = "bikeshare"  # the `profile:` of include/dbt/dbt_project.yml
DBT_GROUP_ID = "dbt"
# dbt var `as_of`: the 15-minute boundary the run computes features up to (DESIGN.md §2).
# `vars` is a templated field of every cosmos dbt operator, so Airflow renders it per run; the
# settings add `late_event_limit_minutes` (dbt_vars).
DBT_VARS: dict[str, str] = {"as_of": "{{ data_interval_end | ts }}"}
# A run whose interval ended longer ago than this is a backfill or a late catch-up: freshness
# against "now" says nothing about the data of that interval, so it is not checked.
LIVE_RUN_GRACE = timedelta(hours=1)
SEEDS_SELECTOR = "resource_type:seed"
# dbt unit tests check the SQL's logic on fixed rows, not the data: they run where the code changes
# (`dbt build` in tests/dbt, CI), not in every 15-minute run, as dbt recommends for production.
UNIT_TESTS_SELECTOR = "resource_type:unit_test"
# live-model monitoring (models/monitoring): built hourly by bikeshare_monitoring, not every 15 minutes
MONITORING_SELECTOR = "tag:monitoring"
# One `dbt build` per run (models and their tests), which cosmos' watcher sensors report per model and
# test: one dbt start-up instead of one per model plus one for the tests (benchmarks/features_build.py
# --dag measures both modes). The producer task does not retry; a retried model or test sensor runs its
# own node instead.
EXECUTION_MODE = "watcher"


def manifest_path(settings: Settings) -> Path:
    """The manifest built by ``dbt parse`` in the install step and the Docker image."""
    return settings.dbt_project_dir / "target" / "manifest.json"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Variables every dbt process gets on top of the worker's environment (profiles.yml reads them)."""
    return settings.dbt_env()


def project_config(settings: Settings) -> ProjectConfig:
    """Render from the prebuilt manifest; no ``dbt deps`` at parse or run time (the image has the packages)."""
    from cosmos import ProjectConfig

    config = ProjectConfig(
        dbt_project_path=settings.dbt_project_dir,
        manifest_path=manifest_path(settings),
        install_dbt_deps=False,
    )
    # Cosmos wraps the manifest path in an ObjectStoragePath, whose first open() loads every
    # provider's filesystem (the Google one imports google-cloud-storage): +2.4 s per parse. The
    # manifest is a local file; cosmos only calls open() and exists() on it, which Path has.
    config.manifest_path = manifest_path(settings)
    return config


def profile_config(settings: Settings) -> ProfileConfig:
    """The project's own profiles.yml; the target (``local``/``prod``) follows the profile setting."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=settings.dbt_target,
        profiles_yml_filepath=settings.dbt_project_dir / "profiles.yml",
    )


def execution_config(settings: Settings, mode: str = EXECUTION_MODE) -> ExecutionConfig:
    """dbt from its own venv, started as a subprocess (dbt is not importable in Airflow's venv).

    ``mode`` is a cosmos ExecutionMode value: ``watcher`` (the default: one ``dbt build`` whose
    progress per-model sensor tasks report) or ``local`` (one dbt invocation per model).
    """
    from cosmos import ExecutionConfig
    from cosmos.constants import ExecutionMode, InvocationMode

    execution_mode = ExecutionMode(mode)
    return ExecutionConfig(
        execution_mode=execution_mode,
        invocation_mode=InvocationMode.SUBPROCESS,
        dbt_executable_path=str(settings.dbt_executable),
    )


def render_config(settings: Settings, mode: str = EXECUTION_MODE) -> RenderConfig:
    """Render from the manifest (no dbt at parse time), one test task after all models.

    ``AFTER_ALL`` costs one ``dbt test`` per run instead of one per tested model (~4 s each here)
    and keeps test tasks apart from model tasks, so models retry and tests do not. Sources are not
    rendered: freshness is a separate task that knows whether the run is live. Seeds are not
    rendered either: they are reference data that bikeshare_setup loads (:func:`load_seeds`), not
    something to reload every 15 minutes at two dbt start-ups a run. The test task leaves out dbt's
    unit tests (cosmos forwards ``exclude`` to it): they test code, not data. The monitoring models
    (``tag:monitoring``) belong to bikeshare_monitoring.
    """
    from cosmos import RenderConfig
    from cosmos.constants import LoadMode, SourceRenderingBehavior, TestBehavior

    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.AFTER_EACH if mode == "watcher" else TestBehavior.AFTER_ALL,
        source_rendering_behavior=SourceRenderingBehavior.NONE,
        exclude=[SEEDS_SELECTOR, UNIT_TESTS_SELECTOR, MONITORING_SELECTOR],
        emit_datasets=False,  # no Assets: training waits on feature_store_runs (see the module docstring)
    )


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The ``--vars`` of every cosmos dbt task: the run's ``as_of`` (templated) and the late-event
    limit, the same one the ingest dead-letters beyond (``too_late``)."""
    return {**DBT_VARS, "late_event_limit_minutes": settings.late_event_limit_minutes}


def operator_args(settings: Settings) -> dict[str, Any]:
    """Arguments every cosmos dbt task gets: the dbt env on top of the worker's, and the dbt vars."""
    return {
        "env": dbt_env(settings),
        "append_env": True,  # keep PATH, HOME and the emulator variables of the worker
        "vars": dbt_vars(settings),
        "install_deps": False,
    }


def is_test_task(task_id: str) -> bool:
    """dbt test tasks: cosmos names them ``<project>_test`` (AFTER_ALL) or ``<model>.test``."""
    return task_id.endswith("_test") or ".test" in task_id


def disable_test_retries(tasks: Iterable[Any]) -> list[str]:
    """Set retries=0 on the dbt test tasks (a failed test is a data problem a retry cannot fix).

    Cosmos gives every task the same operator args, so the per-task override is done here after
    rendering. Returns the ids changed.
    """
    changed = []
    for t in tasks:
        if is_test_task(t.task_id):
            t.retries = 0
            changed.append(t.task_id)
    return changed


def is_live_run(data_interval_end: datetime, now: datetime, run_type: object = "scheduled") -> bool:
    """True for a run that processes the interval that just ended (a scheduled or manual run).

    Source freshness compares the newest event with the warehouse's current time, which is only
    meaningful for such runs; a backfill of a past day would always fail it. ``run_type`` is the
    run's DagRunType (the Task SDK's enum has no ``__str__``, so its value is compared) or a string.
    """
    if getattr(run_type, "value", run_type) == "backfill":
        return False
    return now - data_interval_end <= LIVE_RUN_GRACE


def run_source_freshness(settings: Settings) -> str:
    """``dbt source freshness`` through the project's runner; raises if a source is past ``error_after``.

    Its artefacts go to a temporary target path, never over the manifest cosmos renders from.
    """
    from include.dbt.runner import run_dbt

    with tempfile.TemporaryDirectory(prefix="dbt-freshness-") as tmp:
        return run_dbt(["source", "freshness"], settings, target_path=Path(tmp) / "target").output


def load_seeds(settings: Settings) -> str:
    """``dbt build`` of the seeds (load + their tests): the stations and holidays the models join.

    Run by bikeshare_setup, idempotent (a seed replaces its table). Artefacts go to a temporary
    target path, never over the manifest cosmos renders from.
    """
    from include.dbt.runner import run_dbt

    with tempfile.TemporaryDirectory(prefix="dbt-seeds-") as tmp:
        return run_dbt(["build", "--select", SEEDS_SELECTOR], settings, target_path=Path(tmp) / "target").output
