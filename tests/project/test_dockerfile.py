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


def test_the_emulators_publish_their_ports_on_loopback_only() -> None:
    """The emulators take anonymous requests: reachable from this host, never from the network."""
    import yaml

    compose = yaml.safe_load((PROJECT_ROOT / "docker-compose.override.yml").read_text())
    published = [(name, p) for name, svc in compose["services"].items() for p in svc.get("ports", [])]
    assert published  # the three emulators
    assert [(name, p) for name, p in published if not str(p).startswith("127.0.0.1:")] == []
