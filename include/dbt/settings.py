"""Where dbt and its project are: the executable and the project folder.

dbt's own settings, apart from :class:`~include.gcp.settings.Settings` and read the same way
(:class:`~include.gcp.settings.EnvReader`). dbt lives in its own venv (its dependencies clash with
Airflow's), so it runs as a subprocess by path: ``.venv-dbt`` locally, the image's ``dbt_venv``
under Astro (the Dockerfile sets ``BIKESHARE_DBT_EXECUTABLE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from include.gcp.settings import PROJECT_ROOT, EnvReader

PROJECT_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DbtSettings:
    """dbt's executable and project folder (which also holds ``profiles.yml``)."""

    executable: Path = PROJECT_ROOT / ".venv-dbt" / "bin" / "dbt"
    project_dir: Path = PROJECT_DIR
    # BigQuery's job limit (creation and execution), s; None: profiles.yml's default per target (local 1500:
    # the emulator on a busy machine, inside the dbt_build task's 30-min limit; prod 900)
    job_timeout_seconds: int | None = None

    @property
    def profiles_yml(self) -> Path:
        return self.project_dir / "profiles.yml"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DbtSettings:
        """Read ``BIKESHARE_DBT_EXECUTABLE``, ``_PROJECT_DIR`` and ``_JOB_TIMEOUT_SECONDS``."""
        read = EnvReader() if environ is None else EnvReader(environ)
        default = cls()
        return cls(
            executable=read.path("DBT_EXECUTABLE", default.executable),
            project_dir=read.path("DBT_PROJECT_DIR", default.project_dir),
            job_timeout_seconds=read.integer("DBT_JOB_TIMEOUT_SECONDS", 0) or None,
        )
