"""The GitHub workflows use no action release that runs on a deprecated runtime (node20 or older).

GitHub deprecated the node20 runtime for actions (changelog 2025-09-19, "Deprecation of Node 20 on GitHub
Actions runners"); actionlint reports a node20 action as deprecated. Each remote action the workflows use must
be in ``MINIMUM`` below, with the first release on node24 (or, for a composite action, the first release whose
own steps use none older) and where that was read. A new action, or a ref that is not a version tag (a branch,
a commit), fails here until it is added with its source.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from include.gcp.settings import PROJECT_ROOT

WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))

MINIMUM: dict[str, tuple[int, ...]] = {
    # v5.0.0 release notes: "Update actions checkout to use node 24" (actions/checkout#2226); v4.x run on node20.
    "actions/checkout": (5,),
    # v6.0.0 release notes, Breaking Changes: "Upgrade to node 24" (actions/setup-python#1164); v5.x: node20.
    "actions/setup-python": (6,),
    # v5.0.0 release notes: "actions/cache@v5 runs on the Node.js 24 runtime" (actions/cache#1630); v4.x: node20.
    "actions/cache": (5,),
    # A composite action (runs: using: composite), so on no node runtime itself; its optional checkout step
    # uses actions/checkout@v4 up to v0.11.0 and actions/checkout@v6 from v0.11.1 (its action.yaml at each tag).
    "astronomer/deploy-action": (0, 11, 1),
}

VERSION = re.compile(r"v(\d+(?:\.\d+)*)")


def remote_uses(workflow: Path) -> list[str]:
    """Every ``uses:`` of a job (a reusable workflow) or a step that names another repository's action."""
    jobs = yaml.safe_load(workflow.read_text()).get("jobs", {})
    uses = [job["uses"] for job in jobs.values() if "uses" in job]
    uses += [step["uses"] for job in jobs.values() for step in job.get("steps", []) if "uses" in step]
    return [u for u in uses if not u.startswith(("./", "docker://"))]


def problem(uses: str) -> str | None:
    """Why ``owner/repo[/path]@ref`` is not a release known to run on a supported runtime, or None."""
    action, _, ref = uses.partition("@")
    name = "/".join(action.split("/")[:2])  # actions/cache/restore is a release of actions/cache
    if name not in MINIMUM:
        return f"{uses}: {name} is not in MINIMUM (add its first node24 release and where that was read)"
    version = VERSION.fullmatch(ref)
    if not version:
        return f"{uses}: ref {ref!r} is not a version tag vN[.N[.N]], so its runtime cannot be checked"
    have = tuple(int(part) for part in version.group(1).split("."))
    if have < MINIMUM[name]:
        least = "v" + ".".join(map(str, MINIMUM[name]))
        return f"{uses}: older than {least}, the first release of {name} on a supported runtime"
    return None


def test_there_are_workflows_using_actions() -> None:
    assert WORKFLOWS, "no .github/workflows/*.yml"
    assert any(remote_uses(w) for w in WORKFLOWS)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_a_release_on_a_supported_runtime(workflow: Path) -> None:
    problems = [p for uses in remote_uses(workflow) if (p := problem(uses))]
    assert not problems, problems


@pytest.mark.parametrize(
    ("uses", "ok"),
    [
        ("actions/checkout@v4", False),
        ("actions/checkout@v4.3.0", False),
        ("actions/checkout@v5", True),
        ("actions/checkout@v6.0.2", True),
        ("actions/setup-python@v5", False),
        ("actions/cache@v4", False),
        ("actions/cache/restore@v4", False),
        ("actions/cache/restore@v5", True),
        ("astronomer/deploy-action@v0.11.0", False),
        ("astronomer/deploy-action@v0.11.1", True),
        ("astronomer/deploy-action@v0.13.0", True),
        ("actions/checkout@main", False),
        ("actions/checkout@08c6903cd8c0fde910a37f88322edcfb5dd907a8", False),
        ("someone/unknown-action@v9", False),
    ],
)
def test_the_check_tells_node20_releases_from_node24_ones(uses: str, ok: bool) -> None:
    assert (problem(uses) is None) == ok
