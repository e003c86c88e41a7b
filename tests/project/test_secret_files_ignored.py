"""Secret-looking files planted in the working tree are ignored by git (``git check-ignore``, the real
rules); the example environment file is not. The Docker context's ``.dockerignore`` lists the same
patterns (no Docker engine here to build a context with: checked as text)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = [
    ".env",
    ".env.prod",
    "include/.env.local",
    "gcp-credentials.json",
    "include/ml/application_default_credentials.json",
    "sa-key.json",
    "dags/service_account_key.json",
    "server.pem",
    "include/certs/client.pem",
]


def ignored(paths: list[str]) -> set[str]:
    out = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert out.returncode in (0, 1), out.stderr
    return set(out.stdout.split())


@pytest.fixture
def planted() -> list[str]:
    created = []
    for rel in SECRETS:
        path = ROOT / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not a real secret\n")
            created.append(path)
    yield SECRETS
    for path in created:
        path.unlink()
        with_parent = path.parent
        if with_parent != ROOT and not any(with_parent.iterdir()):
            with_parent.rmdir()


def test_git_ignores_planted_secret_files_but_not_the_env_example(planted: list[str]) -> None:
    assert ignored(planted) == set(planted)
    assert ignored([".env.example"]) == set()
    untracked = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", *planted], cwd=ROOT, capture_output=True, text=True
    ).stdout
    assert untracked == ""


def test_the_docker_context_excludes_the_same_patterns() -> None:
    rules = (ROOT / ".dockerignore").read_text().split()
    for pattern in (".env*", "!.env.example", "**/*credentials*.json", "**/*key*.json", "**/*.pem"):
        assert pattern in rules
    assert rules.index("!.env.example") > rules.index(".env*")  # the exception comes after the rule
