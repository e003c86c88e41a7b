"""The two packages' imports: job control never imports the pipeline's code nor Beam, the pipeline
never imports job control or the settings, and the control modules import one another without a cycle
(the backends import the job types, the factory imports the backends)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

BEAM = ROOT / "include" / "beam"


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function (``from a import b``: ``a`` and ``a.b``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def graph() -> dict[str, set[str]]:
    """include.beam module → the include.beam modules it imports."""
    modules = {_module(p): p for p in BEAM.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != name} for name, path in modules.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(edges.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(edges):
        visit(node, [])
    return found


def test_the_ingest_modules_import_each_other_without_a_cycle() -> None:
    edges = graph()  # package __init__ files included: they import nothing back
    assert cycles(edges) == []
    for backend in ("include.beam.control.stream_local", "include.beam.control.stream_dataflow"):
        assert "include.beam.control.job" in edges[backend]
        assert "include.beam.control.job_control" not in edges[backend]
    assert {"include.beam.control.stream_local", "include.beam.control.stream_dataflow"} <= edges[
        "include.beam.control.job_control"
    ]


def test_job_control_and_pipeline_stay_apart() -> None:
    edges = graph()
    for path in (BEAM / "control").rglob("*.py"):
        assert not {m for m in imports(path) if m.startswith("apache_beam")}, path
        # the pipeline's code only by module name (PIPELINE_MODULE, from its __init__): never its modules
        assert not {m for m in edges[_module(path)] if m.startswith("include.beam.pipeline.")}, path
    for path in (BEAM / "pipeline").rglob("*.py"):
        mods = imports(path)
        assert not {m for m in mods if m.startswith(("include.beam.control", "include.gcp.settings", "airflow"))}, path


def test_every_control_module_imports_alone_without_beam() -> None:
    """Each module first in a fresh interpreter: a cycle would fail one of them; none loads Beam."""
    for path in sorted((BEAM / "control").glob("*.py")):
        code = (
            f"import sys; import {_module(path)}; "
            "assert not [m for m in sys.modules if m.startswith('apache_beam')], 'Beam imported'"
        )
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{_module(path)}:\n{done.stderr}"
