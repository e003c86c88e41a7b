"""The image pins that cannot be built here (no Docker engine) stay in step with requirements.txt."""

from __future__ import annotations

import re

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
