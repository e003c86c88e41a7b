"""Which tests need the emulators, and where they are skipped (tests/conftest.py).

A test that uses ``local_stack`` or ``test_settings`` (directly or through another fixture) is marked
``integration`` at collection, so ``pytest -m "not integration"`` (CI's unit job) needs no emulator. Only in
the project's Astro image (``IN_BIKESHARE_IMAGE=1``, set by the Dockerfile: ``astro dev pytest``) are they
skipped, with the reason; anywhere else they run, and a missing emulator fails them.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from tests.conftest import (
    EMULATOR_FIXTURES,
    IMAGE_ENV,
    OUTSIDE_THE_IMAGE,
    ROOT,
    emulator_skip_reason,
    mark_emulator_tests,
)


@dataclass
class FakeItem:
    """What the hook reads and writes of a pytest item."""

    nodeid: str
    fixturenames: list[str]
    markers: list[pytest.MarkDecorator] = field(default_factory=list)

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.markers.append(marker)

    def get_closest_marker(self, name: str):
        return next((m.mark for m in self.markers if m.name == name), None)

    def marks(self) -> dict[str, dict]:
        return {m.name: m.kwargs for m in self.markers}


def items() -> list[FakeItem]:
    return [
        FakeItem("tests/x.py::direct", ["local_stack"]),
        FakeItem("tests/x.py::transitive", ["stream_settings", "local_stack", "tmp_path"]),
        FakeItem("tests/x.py::session_names", ["test_settings", "local_stack"]),
        FakeItem("tests/x.py::marked_by_hand", [], [pytest.mark.integration]),
        FakeItem("tests/x.py::pure", ["tmp_path"]),
        FakeItem(next(iter(OUTSIDE_THE_IMAGE)), []),
    ]


@pytest.mark.parametrize("environ", [{}, {IMAGE_ENV: "0"}, {IMAGE_ENV: ""}, {"ASTRONOMER_ENVIRONMENT": "local"}])
def test_outside_the_image_emulator_tests_are_marked_and_never_skipped(environ: dict[str, str]) -> None:
    assert emulator_skip_reason(environ) is None
    tests = items()
    mark_emulator_tests(tests, environ)
    assert [sorted(t.marks()) for t in tests] == [["integration"]] * 4 + [[], []]


def test_in_the_image_emulator_tests_and_tests_of_absent_files_are_skipped_with_the_reason() -> None:
    environ = {IMAGE_ENV: "1"}
    reason = emulator_skip_reason(environ)
    assert reason is not None
    assert "needs the local emulators (make test)" in reason
    assert "astro dev pytest" in reason
    tests = items()
    mark_emulator_tests(tests, environ)
    for t in tests[:4]:
        assert t.marks() == {"integration": {}, "skip": {"reason": reason}}
    assert tests[4].marks() == {}  # a test that needs no emulator runs in the image too
    assert "not in the image" in tests[5].marks()["skip"]["reason"]


def test_every_collected_test_using_an_emulator_fixture_is_marked_integration(request: pytest.FixtureRequest) -> None:
    """The hook as applied to this very session (under -m 'not integration' no such test is even selected)."""
    unmarked = [
        i.nodeid
        for i in request.session.items
        if EMULATOR_FIXTURES & set(i.fixturenames) and i.get_closest_marker("integration") is None
    ]
    assert unmarked == []


def test_tests_skipped_for_absent_files_exist() -> None:
    """A renamed test would silently stop being skipped in the image: each entry names a real test function."""
    for nodeid in OUTSIDE_THE_IMAGE:
        path, name = nodeid.split("::")
        tree = ast.parse((ROOT / path).read_text())
        assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, nodeid


def test_astro_dev_pytest_context_end_to_end() -> None:
    """A real pytest run of one file as the image runs it: fixture users skipped with the reason (also the two
    that use local_stack only through stream_settings and carry no marker of their own); the rest passes."""
    env = {**os.environ, IMAGE_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "tests/beam/control/test_local_job.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # the file's emulator-free tests pass (the stop-time ones since a997b0d), the six emulator users skip
    assert "2 passed, 6 skipped" in out.stdout, out.stdout
    skipped = [line for line in out.stdout.splitlines() if line.startswith("SKIPPED [")]
    assert skipped, out.stdout
    assert all(line.endswith(emulator_skip_reason({IMAGE_ENV: "1"})) for line in skipped), skipped
