"""The Dockerfile takes Beam's expansion-service jar only once its checksum matched (the pinned SHA-512, or
until it is pinned Maven Central's published SHA-1), and marks the image for the tests.

No Docker engine here: the jar step's shell is cut out of the Dockerfile and run with ``sh`` against a local
stand-in for Maven Central (file://), so what is checked is the step's own logic.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from include.gcp.settings import PROJECT_ROOT
from tests.conftest import IMAGE_ENV

DOCKERFILE = (PROJECT_ROOT / "Dockerfile").read_text()
JAR_NAME = "beam-sdks-java-io-google-cloud-platform-expansion-service-2.77.0.jar"


def jar_step() -> str:
    """The RUN instruction that fetches the jar, as the shell sees it (continuation lines joined)."""
    step = re.search(r"^RUN (jar=.*?)(?=\n\n|\n#|\nENV|\nARG|\nRUN)", DOCKERFILE, re.S | re.M)
    assert step, "no RUN step fetching the expansion jar"
    return step.group(1).replace("\\\n", "")


JAR_BYTES = b"a stand-in for the expansion-service jar\n" * 100


def run_step(tmp_path: Path, pin: str, published_sha1: str | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    source = tmp_path / "maven" / JAR_NAME
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(JAR_BYTES)
    if published_sha1 is not None:  # Maven Central's <jar>.sha1 (the hex digest, sometimes a file name after it)
        source.with_name(JAR_NAME + ".sha1").write_text(published_sha1)
    home = tmp_path / "airflow"
    script = jar_step().replace("/usr/local/airflow", str(home))
    script = re.sub(r"https://repo\.maven\.apache\.org/maven2/\S+", f"file://{source}", script)
    proc = subprocess.run(
        ["sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", "BEAM_VERSION": "2.77.0", "BEAM_EXPANSION_JAR_SHA512": pin},
        capture_output=True,
        text=True,
        check=False,
    )
    return proc, home / ".apache_beam" / "cache" / "jars" / JAR_NAME


def test_the_expansion_jar_is_fetched_from_maven_central_at_the_beam_pin() -> None:
    assert "https://repo.maven.apache.org/maven2/org/apache/beam/" in jar_step()
    assert re.search(r"^ARG BEAM_EXPANSION_JAR_SHA512=", DOCKERFILE, re.M)


@pytest.mark.parametrize("pin", ["not-a-checksum", "A" * 128])
def test_a_malformed_pin_fails_the_build(tmp_path: Path, pin: str) -> None:
    proc, jar = run_step(tmp_path, pin, hashlib.sha1(JAR_BYTES).hexdigest())
    assert proc.returncode != 0
    assert "BEAM_EXPANSION_JAR_SHA512 is not a SHA-512" in proc.stderr
    assert not jar.exists()


def test_without_a_pin_the_published_sha1_is_checked_and_the_build_says_so(tmp_path: Path) -> None:
    proc, jar = run_step(tmp_path, "", hashlib.sha1(JAR_BYTES).hexdigest() + "  " + JAR_NAME)
    assert proc.returncode == 0, proc.stderr
    assert "BEAM_EXPANSION_JAR_SHA512 is not pinned" in proc.stderr
    assert jar.read_bytes() == JAR_BYTES


@pytest.mark.parametrize("published", ["0" * 40, "", None])
def test_without_a_pin_a_jar_that_does_not_match_the_published_sha1_is_refused(tmp_path: Path, published) -> None:
    proc, jar = run_step(tmp_path, "", published)  # wrong, empty, or no .sha1 at all
    assert proc.returncode != 0
    assert not jar.exists()


def test_a_jar_that_does_not_match_the_pin_is_refused(tmp_path: Path) -> None:
    proc, jar = run_step(tmp_path, "0" * 128)
    assert proc.returncode != 0
    assert not jar.exists()  # never in Beam's cache, where the pipeline would pick it up


def test_the_jar_matching_the_pin_lands_in_beams_cache(tmp_path: Path) -> None:
    pin = hashlib.sha512(JAR_BYTES).hexdigest()
    proc, jar = run_step(tmp_path, pin)
    assert proc.returncode == 0, proc.stderr
    assert hashlib.sha512(jar.read_bytes()).hexdigest() == pin


def test_the_pin_once_set_is_a_sha512() -> None:
    pin = re.search(r"^ARG BEAM_EXPANSION_JAR_SHA512=(\S*)$", DOCKERFILE, re.M).group(1)
    assert pin == "" or re.fullmatch(r"[0-9a-f]{128}", pin), pin


def test_the_image_tells_the_tests_where_they_run() -> None:
    """tests/conftest.py skips the emulator tests only where this is set: in the image (astro dev pytest)."""
    assert re.search(rf"^ENV {IMAGE_ENV}=1$", DOCKERFILE, re.M)
