"""The demo's reason to rebuild the feature tables is true: the files that changed, or why it cannot tell."""

from __future__ import annotations

from pathlib import Path

from include.dbt import code_stamp


def _project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_same_code_needs_no_rebuild(tmp_path: Path) -> None:
    dbt = _project(tmp_path, {"models/a.sql": "select 1", "macros/m.sql": "{% macro m() %}{% endmacro %}"})
    current = code_stamp.fingerprint(dbt)
    assert set(current) == {"models/a.sql", "macros/m.sql"}
    assert code_stamp.why_rebuild(code_stamp.stamp(current), current) is None


def test_a_changed_file_is_named(tmp_path: Path) -> None:
    dbt = _project(tmp_path, {"models/a.sql": "select 1", "models/b.sql": "select 2"})
    before = code_stamp.stamp(code_stamp.fingerprint(dbt))
    (dbt / "models/b.sql").write_text("select 3")
    (dbt / "models/c.sql").write_text("select 4")
    reason = code_stamp.why_rebuild(before, code_stamp.fingerprint(dbt))
    assert reason is not None
    assert "changed: models/b.sql" in reason
    assert "added: models/c.sql" in reason
    assert "models/a.sql" not in reason


def test_no_stamp_says_no_run_finished_not_that_the_code_changed(tmp_path: Path) -> None:
    current = code_stamp.fingerprint(_project(tmp_path, {"models/a.sql": "select 1"}))
    reason = code_stamp.why_rebuild(None, current)
    assert reason is not None
    assert "no features run has finished" in reason
    assert "changed" not in reason


def test_an_old_single_hash_stamp_is_not_called_a_code_change(tmp_path: Path) -> None:
    current = code_stamp.fingerprint(_project(tmp_path, {"models/a.sql": "select 1"}))
    reason = code_stamp.why_rebuild("0f" * 32, current)
    assert reason is not None
    assert "older demo" in reason
