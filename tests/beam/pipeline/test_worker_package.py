"""What setup.py ships to the Dataflow workers: the pipeline package and the event contract, nothing else.

Built as Dataflow builds it (``python setup.py sdist``), then imported from the unpacked sdist alone
(``python -I``: not from the project), as a worker would.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

SHIPPED = {
    "include/__init__.py",
    "include/beam/__init__.py",
    "include/beam/pipeline/__init__.py",
    "include/beam/pipeline/direct_pubsub.py",
    "include/beam/pipeline/local_acks.py",
    "include/beam/pipeline/options.py",
    "include/beam/pipeline/pipeline.py",
    "include/beam/pipeline/stream_drain.py",
    "include/beam/pipeline/transforms.py",
    "include/beam/pipeline/written_ids.py",
    "include/gcp/__init__.py",
    "include/gcp/events.py",
    "include/gcp/tables.py",
    "include/systems.py",
}


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, unpacked; its egg-info in the temp dir too, so the worktree stays clean."""
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run(
        [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(out), "sdist", "--dist-dir", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    (archive,) = out.glob("*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(out, filter="data")
    (unpacked,) = [p for p in out.iterdir() if p.is_dir() and (p / "setup.py").is_file()]
    return unpacked


def test_the_sdist_ships_the_pipeline_and_the_contract_only(sdist: Path) -> None:
    modules = {p.relative_to(sdist).as_posix() for p in sdist.rglob("*.py") if "egg-info" not in p.as_posix()}
    assert modules - {"setup.py"} == SHIPPED
    assert not any(m.startswith(("include/beam/control/", "dags/", "include/dbt/", "include/ml/")) for m in modules)
    assert "include/gcp/settings.py" not in modules
    assert "include/monitoring/alerts.py" not in modules


def test_the_shipped_code_imports_on_its_own(sdist: Path) -> None:
    """The pipeline, its drain wrapper and the contract import from the sdist alone, without the settings."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import include.beam.pipeline.pipeline, include.beam.pipeline.stream_drain, include.gcp.events; "
        "from include.beam.pipeline import pipeline; "
        "assert pipeline.__file__.startswith(sys.argv[1]), pipeline.__file__; "
        "assert 'include.gcp.settings' not in sys.modules; "
        "assert not [m for m in sys.modules if m.startswith(('include.beam.control', 'airflow'))]"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(sdist)], cwd=sdist.parent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
