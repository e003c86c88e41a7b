"""How Airflow runs the dbt project through astronomer-cosmos: the features build, seeds, freshness.

Beside the runner (include/dbt/runner.py), which the same settings drive, so cosmos' tasks and the
runner's subprocesses start dbt alike: same executable, project, profile target and environment
(:func:`~include.dbt.runner.profile_env`). Cosmos is imported inside the builders: importing this
module costs nothing at DAG parse time.

One ``dbt build`` per 15-minute run (:func:`build_operator`): the marts and every data test in one
dbt start-up, in dbt's order (a model's tests right after it; a failing test skips what depends on
it). Cosmos' per-model task group cost one start-up (~4 s) per model and one for the tests, and its
watcher mode, which reports one build per model, deadlocks under ``dag.test()`` (a sensor may be
picked before the producer and waits inline for it).

No Asset: training is hourly and waits on the feature store's run log (include/gcp/feature_runs.py),
which knows whether a run's dbt tests passed; nothing scheduled on an Asset, so the features DAG emits none.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from include.dbt import failures
from include.dbt.runner import dbt_target, profile_env, run_dbt, settings_vars
from include.dbt.settings import DbtSettings
from include.gcp.settings import Settings

if TYPE_CHECKING:
    from cosmos import ProfileConfig
    from cosmos.operators.local import DbtBuildLocalOperator

DBT_PROFILE = "bikeshare"  # the `profile:` of include/dbt/dbt_project.yml
BUILD_TASK_ID = "dbt_build"
# dbt var `as_of`: the 15-minute boundary the run computes features up to (docs/design.md §2.3).
# `vars` is a templated field of every cosmos dbt operator, so Airflow renders it per run; the
# settings add `late_event_limit_minutes` (settings_vars).
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
# What the 15-minute build leaves out: seeds (bikeshare_setup loads them), unit tests, monitoring.
BUILD_EXCLUDE = (SEEDS_SELECTOR, UNIT_TESTS_SELECTOR, MONITORING_SELECTOR)


def profile_config(settings: Settings, dbt_settings: DbtSettings | None = None) -> ProfileConfig:
    """The project's own profiles.yml; the target (``local``/``prod``) follows the profile setting."""
    from cosmos import ProfileConfig

    return ProfileConfig(
        profile_name=DBT_PROFILE,
        target_name=dbt_target(settings),
        profiles_yml_filepath=(dbt_settings or DbtSettings.from_env()).profiles_yml,
    )


def dbt_vars(settings: Settings) -> dict[str, Any]:
    """The ``--vars`` of the build: the run's ``as_of`` (templated) and the late-event limit, the
    same one the ingest dead-letters beyond (``too_late``)."""
    return {**DBT_VARS, **settings_vars(settings)}


def build_operator(
    settings: Settings, dbt_settings: DbtSettings | None = None, **task_args: Any
) -> DbtBuildLocalOperator:
    """The features run's one cosmos task: ``dbt build`` of everything but :data:`BUILD_EXCLUDE`.

    dbt from its own venv as a subprocess (dbt is not importable in Airflow's venv), with the
    profile variables on top of the worker's environment (PATH, HOME, the emulator variables). No
    retries: a failed build is a data problem a retry cannot fix (a test) or a passing one that the
    next run, 15 minutes later, repairs (each run builds every missing as_of); either way the
    training gate stays closed until a run passes.
    """
    from airflow.exceptions import AirflowException
    from cosmos import settings as cosmos_settings
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator

    dbt = dbt_settings or DbtSettings.from_env()

    class FeatureBuildOperator(DbtBuildLocalOperator):
        """Cosmos' build, whose failure names the failed models and tests and their causes (the exception is
        the alert's text), not only dbt's exit code."""

        def handle_exception_subprocess(self, result: Any) -> None:
            if result.exit_code not in (0, self.skip_exit_code):
                self.log.error("\n".join(result.full_output))
                raise AirflowException(failures.summary(result.full_output, result.exit_code))
            super().handle_exception_subprocess(result)

    return FeatureBuildOperator(
        task_id=BUILD_TASK_ID,
        project_dir=str(dbt.project_dir),
        profile_config=profile_config(settings, dbt),
        dbt_executable_path=str(dbt.executable),
        invocation_mode=InvocationMode.SUBPROCESS,
        install_deps=False,
        exclude=" ".join(BUILD_EXCLUDE),
        vars=dbt_vars(settings),
        env=profile_env(settings, dbt),
        append_env=True,
        emit_datasets=False,  # no Assets: training waits on feature_store_runs (see the module docstring)
        # where cosmos keeps dbt's partial-parse state between runs (else every run parses in full)
        cache_dir=Path(cosmos_settings.cache_dir) / "bikeshare_features",
        retries=0,
        **task_args,
    )


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

    Its artefacts go to a temporary target path, never over the project's own target.
    """
    with tempfile.TemporaryDirectory(prefix="dbt-freshness-") as tmp:
        return run_dbt(["source", "freshness"], settings, target_path=Path(tmp) / "target").output


def load_seeds(settings: Settings) -> str:
    """``dbt build`` of the seeds (load + their tests): the stations and holidays the models join.

    Run by bikeshare_setup, idempotent (a seed replaces its table). Artefacts go to a temporary
    target path, never over the project's own target.
    """
    with tempfile.TemporaryDirectory(prefix="dbt-seeds-") as tmp:
        return run_dbt(["build", "--select", SEEDS_SELECTOR], settings, target_path=Path(tmp) / "target").output
