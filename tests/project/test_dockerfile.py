"""The image pins that cannot be built here (no Docker engine) stay in step with requirements.txt, and the
Dockerfiles keep hadolint's DL4006 (pipefail) and DL3003 (WORKDIR, not cd)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import shutil
import subprocess

import pytest

from include.gcp.settings import PROJECT_ROOT


def pin(package: str) -> str:
    text = (PROJECT_ROOT / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(package)}(?:\[[^\]]*\])?==(\S+)$", text, re.M).group(1)


def test_expansion_service_jar_matches_the_beam_pin() -> None:
    """Beam refuses an expansion service of another version; the jar is baked in for the Storage Write API."""
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG BEAM_VERSION=(\S+)$", dockerfile, re.M).group(1) == pin("apache-beam")


def test_java_is_installed_for_the_cross_language_write() -> None:
    packages = (PROJECT_ROOT / "packages.txt").read_text().split()
    assert "default-jre-headless" in packages


def test_the_emulators_publish_their_ports_on_loopback_only() -> None:
    """The emulators take anonymous requests: reachable from this host, never from the network."""
    import yaml

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.override.yml").read_text())
    published = [(name, p) for name, svc in compose["services"].items() for p in svc.get("ports", [])]
    assert published  # the three emulators
    assert [(name, p) for name, p in published if not str(p).startswith("127.0.0.1:")] == []


# hadolint's DL4006 and DL3003, checked here without hadolint (the project installs no hadolint binary; where
# one is on PATH, the last test runs it too).
DOCKERFILES = [PROJECT_ROOT / "Dockerfile", PROJECT_ROOT / "docker" / "emulators.Dockerfile"]
PIPE = re.compile(r"(?<!\|)\|(?!\|)")  # a pipe, not ||
CD = re.compile(r"(?:^|[;&|(]|\bthen\b|\bdo\b|\belse\b)\s*cd(?:\s|$)")


def instructions(path) -> list[tuple[str, str]]:
    """(INSTRUCTION, its arguments) of a Dockerfile, continuation lines joined and comment lines dropped."""
    out, current = [], ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or (not current and not line.strip()):
            continue
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (current + line).strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        current = ""
    return out


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_every_run_with_a_pipe_runs_under_pipefail(path) -> None:
    """hadolint DL4006: without pipefail a pipe's status is its last command's (curl failing into cut passes)."""
    shell, unguarded = None, []
    for keyword, args in instructions(path):
        if keyword == "SHELL":
            shell = json.loads(args)
        elif keyword == "FROM":
            shell = None  # a new stage starts with the default /bin/sh -c
        elif keyword == "RUN" and not args.startswith("[") and PIPE.search(args):
            pipefail = shell is not None and any(pair == ("-o", "pipefail") for pair in itertools.pairwise(shell))
            if not pipefail:
                unguarded.append(args[:80])
    assert not unguarded, unguarded


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_no_run_changes_directory_with_cd(path) -> None:
    """hadolint DL3003: WORKDIR, not `cd`, sets where a step runs."""
    assert [a[:80] for k, a in instructions(path) if k == "RUN" and CD.search(a)] == []


def test_the_image_keeps_the_base_images_working_directory() -> None:
    """The project lands in /usr/local/airflow (the base's ONBUILD `COPY . .`): the only WORKDIR is that one."""
    workdirs = [a for k, a in instructions(PROJECT_ROOT / "Dockerfile") if k == "WORKDIR"]
    assert workdirs
    assert set(workdirs) == {"/usr/local/airflow"}


def test_the_checks_above_catch_what_hadolint_reports(tmp_path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text('FROM x\nRUN a | b\nRUN cd /tmp && make\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]\nRUN a || b\n')
    runs = [a for k, a in instructions(bad) if k == "RUN"]
    assert [bool(PIPE.search(a)) for a in runs] == [True, False, False]
    assert [bool(CD.search(a)) for a in runs] == [False, True, False]
    with pytest.raises(AssertionError):
        test_every_run_with_a_pipe_runs_under_pipefail(bad)
    with pytest.raises(AssertionError):
        test_no_run_changes_directory_with_cd(bad)


def image_shell() -> list[str]:
    shells = [json.loads(a) for k, a in instructions(PROJECT_ROOT / "Dockerfile") if k == "SHELL"]
    assert len(shells) == 1
    return shells[0]


@pytest.mark.parametrize(
    "case",
    ["pinned", "wrong pin", "malformed pin", "published sha1", "wrong sha1", "no sha1 published"],
)
def test_the_jar_step_does_the_same_under_the_images_shell_as_under_sh(tmp_path, case: str) -> None:
    """The SHELL line changes no outcome of the jar step (tests/project/test_dockerfile_checksum.py runs it with
    sh, the shell before it): same exit status, same jar in Beam's cache."""
    from tests.project.test_dockerfile_checksum import JAR_BYTES, JAR_NAME, jar_step

    pin, published = {
        "pinned": (hashlib.sha512(JAR_BYTES).hexdigest(), None),
        "wrong pin": ("0" * 128, None),
        "malformed pin": ("A" * 128, hashlib.sha1(JAR_BYTES).hexdigest()),
        "published sha1": ("", hashlib.sha1(JAR_BYTES).hexdigest() + "  " + JAR_NAME),
        "wrong sha1": ("", "0" * 40),
        "no sha1 published": ("", None),
    }[case]
    source = tmp_path / "maven" / JAR_NAME
    source.parent.mkdir()
    source.write_bytes(JAR_BYTES)
    if published is not None:
        source.with_name(JAR_NAME + ".sha1").write_text(published)
    outcomes = []
    for name, shell in (("sh", ["sh", "-c"]), ("image", image_shell())):
        home = tmp_path / name / "airflow"
        script = jar_step().replace("/usr/local/airflow", str(home))
        script = re.sub(r"https://repo\.maven\.apache\.org/maven2/\S+", f"file://{source}", script)
        proc = subprocess.run(
            [*shell, script],
            env={"PATH": "/usr/bin:/bin", "BEAM_VERSION": "2.77.0", "BEAM_EXPANSION_JAR_SHA512": pin},
            capture_output=True,
            text=True,
            check=False,
        )
        jar = home / ".apache_beam" / "cache" / "jars" / JAR_NAME
        outcomes.append((proc.returncode == 0, jar.exists() and jar.read_bytes() == JAR_BYTES))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] == ((True, True) if case in ("pinned", "published sha1") else (False, False))


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="no hadolint on PATH (the checks above stand in)")
@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_passes(path) -> None:
    proc = subprocess.run(["hadolint", "--no-color", str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
