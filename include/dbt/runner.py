"""Run the dbt project the same way from tests, benchmarks and the Airflow tasks.

Builds the dbt command line (``--project-dir``/``--profiles-dir`` = this folder, ``--target`` from the
profile) and the process environment (:func:`profile_env`, which profiles.yml reads), so no caller
repeats that wiring; cosmos' tasks (include/dbt/cosmos_tasks.py) use the same two. dbt lives in its
own venv (:class:`~include.dbt.settings.DbtSettings`), hence a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from include.dbt import failures
from include.dbt.settings import DbtSettings
from include.gcp.settings import Settings, get_settings


class DbtError(RuntimeError):
    """A dbt command exited non-zero; the message carries the tail of its output."""


@dataclass(frozen=True)
class DbtResult:
    args: list[str]
    returncode: int
    output: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def dbt_vars(
    as_of: datetime | str | None = None,
    late_event_lookback_minutes: int | None = None,
    features_start: datetime | str | None = None,
    late_event_limit_minutes: int | None = None,
) -> dict[str, object]:
    """The project's ``--vars``; datetimes become ISO 8601 in UTC (naive ones are taken as UTC).

    :func:`run_dbt` adds ``late_event_limit_minutes`` from the settings unless given here.
    """

    def iso(value: datetime | str) -> str:
        if isinstance(value, str):
            return value
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat()

    out: dict[str, object] = {}
    if as_of is not None:
        out["as_of"] = iso(as_of)
    if late_event_lookback_minutes is not None:
        out["late_event_lookback_minutes"] = int(late_event_lookback_minutes)
    if features_start is not None:
        out["features_start"] = iso(features_start)
    if late_event_limit_minutes is not None:
        out["late_event_limit_minutes"] = int(late_event_limit_minutes)
    return out


def settings_vars(settings: Settings | None = None) -> dict[str, object]:
    """The vars every dbt command gets from the settings: the late-event limit, which the ingest
    dead-letters beyond (``too_late``) and the marts reconcile up to."""
    s = settings or get_settings()
    return dbt_vars(late_event_limit_minutes=s.late_event_limit_minutes)


def dbt_target(settings: Settings) -> str:
    """The target in include/dbt/profiles.yml: ``local`` (the emulator) or ``prod``."""
    return "local" if settings.is_local else "prod"


def profile_env(settings: Settings, dbt_settings: DbtSettings | None = None) -> dict[str, str]:
    """Variables include/dbt/profiles.yml reads (``env_var``), and no usage statistics (offline)."""
    env = {
        "DBT_BQ_PROJECT": settings.project,
        "DBT_BQ_DATASET": settings.dataset,
        "DBT_BQ_LOCATION": settings.bq_location,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    if settings.is_local:
        env["DBT_BQ_API_ENDPOINT"] = settings.bigquery.url
    job_timeout = (dbt_settings or DbtSettings.from_env()).job_timeout_seconds
    if job_timeout:
        env["DBT_BQ_JOB_TIMEOUT_SECONDS"] = str(job_timeout)
    return env


def dbt_env(settings: Settings | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a dbt process: the caller's (PATH, HOME…) plus :func:`profile_env`."""
    s = settings or get_settings()
    env = dict(os.environ if base is None else base)
    env.update(profile_env(s))
    return env


def dbt_command(
    args: Sequence[str],
    settings: Settings | None = None,
    vars: Mapping[str, object] | None = None,
    target_path: Path | None = None,
    dbt_settings: DbtSettings | None = None,
) -> list[str]:
    """``dbt <args> --project-dir … --profiles-dir … --target …`` (+ ``--vars`` as JSON, valid YAML)."""
    s = settings or get_settings()
    dbt = dbt_settings or DbtSettings.from_env()
    project = dbt.project_dir
    cmd = [str(dbt.executable), *args, "--project-dir", str(project), "--profiles-dir", str(project)]
    if args and args[0] not in ("deps", "clean"):
        cmd += ["--target", dbt_target(s)]
    if vars:
        cmd += ["--vars", json.dumps(dict(vars))]
    if target_path is not None:
        cmd += ["--target-path", str(target_path)]
    return cmd


def run_dbt(
    args: Sequence[str],
    settings: Settings | None = None,
    vars: Mapping[str, object] | None = None,
    target_path: Path | None = None,
    check: bool = True,
    timeout: float | None = 1800,
    dbt_settings: DbtSettings | None = None,
) -> DbtResult:
    """Run one dbt command; raise :class:`DbtError` with the output tail if it fails and ``check``.

    ``vars`` go on top of :func:`settings_vars`. ``target_path`` lets parallel callers (tests) keep
    their own manifest and partial-parse state instead of racing on ``include/dbt/target``, which
    cosmos reads.
    """
    s = settings or get_settings()
    dbt = dbt_settings or DbtSettings.from_env()
    cmd = dbt_command(args, s, {**settings_vars(s), **(vars or {})}, target_path, dbt)
    log_dir = target_path.parent / "logs" if target_path else dbt.project_dir / "logs"
    env = dbt_env(s)
    env["DBT_LOG_PATH"] = str(log_dir)
    started = time.monotonic()
    proc = subprocess.run(
        cmd, cwd=dbt.project_dir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    result = DbtResult(cmd, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)
    if check and not result.ok:
        tail = "\n".join(result.output.splitlines()[-60:])
        raise DbtError(f"{' '.join(args)}: {failures.summary(result.output, proc.returncode)}\n{tail}")
    return result
