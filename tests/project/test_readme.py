"""The README stays a five-minute read whose every command works as written, and no doc links to nothing.

Each shell command in the README's fenced ``bash``/``sh`` blocks is checked from a fresh login shell (``bash -lc``
with only ``PATH`` without this repo's venvs, ``HOME`` and ``LANG``; no venv activated, nothing of
``scripts/dev_env.sh`` exported), in the repository root, without running it:

- ``make <target> ...``: every target is listed by ``make help`` and ``make -n <target>`` succeeds (a dry run:
  no recipe runs);
- ``.venv/bin/python -m <module> ...``: ``.venv/bin/python -m <module> --help`` exits 0 (the module imports and
  parses its arguments).

Leading ``NAME=value`` assignments are kept in front of the check. A command that fits no rule fails
:func:`test_readme_command_works_from_a_fresh_shell`: add a rule here for it, so that no README command goes
unchecked. In the Astro image (``astro dev pytest``) the command checks are skipped with their reason: the
image holds no ``.venv`` (``.dockerignore``), so the README's commands are not for it.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import unicodedata
from functools import cache
from itertools import takewhile
from pathlib import Path

import pytest

from include.gcp.settings import PROJECT_ROOT
from tests.conftest import IMAGE_ENV

README = PROJECT_ROOT / "README.md"
MAX_LINES = 150
SHELL_FENCES = {"bash", "sh", "shell"}
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
SHELL_SYNTAX = re.compile(r"[;&|<>$`()]")
TIMEOUT = 60
outside_the_image = pytest.mark.skipif(
    os.environ.get(IMAGE_ENV) == "1",
    reason=f"runs .venv/bin and make from a fresh shell; the image has no .venv ({IMAGE_ENV}=1, astro dev pytest)",
)


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block."""
    return re.findall(r"^```([\w-]*)[^\n]*\n(.*?)^```", text, re.M | re.S)


def readme_commands() -> list[str]:
    """The README's shell commands, one per logical line (continuations joined), comments dropped."""
    commands = []
    for language, body in fenced_blocks(README.read_text()):
        if language not in SHELL_FENCES:
            continue
        for line in body.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def fresh_env(home: Path) -> dict[str, str]:
    """A new user's shell: the caller's PATH without this repo's venvs (``make test`` puts .venv/bin first)."""
    path = [p for p in os.environ["PATH"].split(os.pathsep) if p and not Path(p).resolve().is_relative_to(PROJECT_ROOT)]
    return {"PATH": os.pathsep.join(path), "HOME": str(home), "LANG": "C.UTF-8"}


def fresh_shell(command: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-lc", command],
        env=fresh_env(home),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def checks_for(command: str) -> list[str]:
    """The shell commands that prove ``command`` works as written, without running it; [] if no rule fits."""
    if SHELL_SYNTAX.search(command):  # pipes, lists, redirections, expansions: more than one command to check
        return []
    words = shlex.split(command)
    assignments = list(takewhile(ASSIGNMENT.match, words))
    rest = words[len(assignments) :]
    prefix = shlex.join(assignments) + " " if assignments else ""
    if rest[:1] == ["make"] and len(rest) > 1 and not any(w.startswith("-") or "=" in w for w in rest[1:]):
        return [prefix + shlex.join(["make", "-n", target]) for target in rest[1:]]
    if len(rest) > 2 and rest[:2] == [".venv/bin/python", "-m"]:
        return [prefix + shlex.join([".venv/bin/python", "-m", rest[2], "--help"])]
    return []


@cache
def make_help_targets() -> frozenset[str]:
    out = subprocess.run(["make", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True).stdout
    return frozenset(line.split()[0] for line in out.splitlines() if line.strip())


COMMANDS = readme_commands()


def test_readme_is_short() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES}): move detail to docs/"


def test_the_two_commands_come_first() -> None:
    assert COMMANDS[:2] == ["make demo", "make test"], COMMANDS[:2]


def test_ci_runs_the_readme_test_command() -> None:
    """CI runs what the README tells a newcomer to run: ``make test``, a line of its own in .ci/run."""
    ci = (PROJECT_ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run no longer runs `make test`"


def test_unknown_commands_are_refused() -> None:
    """The rules fail closed: anything but ``make`` targets and ``.venv/bin/python -m`` needs a new rule."""
    refused = ["python -m benchmarks.monitoring_week", "airflow standalone", "make", "make -C x demo", "ls"]
    refused += ["make demo && make airflow", ".venv/bin/python -m x | head", "make $(echo demo)"]
    for command in refused:
        assert checks_for(command) == [], command
    assert checks_for("A=1 make airflow") == ["A=1 make -n airflow"]
    assert checks_for(".venv/bin/python -m x.y --days 3") == [".venv/bin/python -m x.y --help"]


@outside_the_image
@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_works_from_a_fresh_shell(command: str, tmp_path: Path) -> None:
    checks = checks_for(command)
    assert checks, f"no rule checks the README command {command!r}: add one to {Path(__file__).name}"
    words = shlex.split(command)
    if "make" in words:
        targets = words[words.index("make") + 1 :]
        missing = [t for t in targets if t not in make_help_targets()]
        assert not missing, f"{missing} not listed by `make help` (give the target a ## comment)"
    for check in checks:
        result = fresh_shell(check, tmp_path)
        assert result.returncode == 0, f"{check!r} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


@outside_the_image
def test_a_bare_python_fails_the_fresh_shell(tmp_path: Path) -> None:
    """The fresh shell is really fresh: without the venv the project's modules do not import."""
    result = fresh_shell("python3 -c 'import airflow' || python -c 'import airflow'", tmp_path)
    assert result.returncode != 0, "the fresh shell found Airflow outside .venv: the command checks prove little"


# --- links --------------------------------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|(?:src|href)=\"([^\"]+)\"")
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...


def without_code(text: str) -> str:
    """Markdown without fenced blocks and inline code spans, where brackets are not links."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"`[^`\n]*`", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.replace("`", "")).strip().lower()
    kept = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LN")
    return kept.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    text = path.read_text()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.sub(r"^```.*?^```", "", text, flags=re.M | re.S), re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    found.update(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", text))
    return frozenset(found)


def doc_files() -> list[Path]:
    return [README, *sorted((PROJECT_ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_relative_links_point_to_existing_files(doc: Path) -> None:
    broken = []
    for match in LINK.finditer(without_code(doc.read_text())):
        target = match.group(1) or match.group(2)
        if EXTERNAL.match(target):
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (doc.parent / path_part).resolve() if path_part else doc
        if not resolved.exists():
            broken.append(f"{target} (no {resolved})")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.relative_to(PROJECT_ROOT)})")
    assert not broken, f"{doc.relative_to(PROJECT_ROOT)}: broken links:\n" + "\n".join(broken)


def test_links_are_found() -> None:
    """The link pattern finds the README's picture and docs links, so an empty result is not a pass."""
    targets = [m.group(1) or m.group(2) for m in LINK.finditer(without_code(README.read_text()))]
    assert "docs/screenshots/crew-view-in-airflow.png" in targets
    assert "docs/benchmarks.md" in targets
