"""Alerts a person can act on: every kind the code emits is in the registry, every registered kind has its
entry in docs/runbook.md (anchor = the kind), and every alert carries the entry's link and the next step."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from include.gcp.settings import Settings
from include.monitoring import alerts

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
SOURCES = ("include", "dags", "plugins")
SECTIONS = (
    "**Meaning.**",
    "**Detection.**",
    "**First checks.**",
    "**Likely causes.**",
    "**Fix.**",
    "**Resolved when**",
)


def runbook_entries(text: str) -> dict[str, str]:
    """``{anchor: body}`` of the runbook's second-level headings (``## <kind>``: GitHub's anchor is the kind)."""
    parts = re.split(r"^## +(.+?) *$", text, flags=re.MULTILINE)
    return {heading.strip(): body for heading, body in zip(parts[1::2], parts[2::2], strict=True)}


def _kind_argument(call: ast.Call) -> ast.expr | None:
    """The ``kind`` of ``Alert(kind, ...)`` / ``Alert.from_context(kind, ...)``, positional or keyword."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    is_alert = name == "Alert" or (
        name == "from_context" and isinstance(func, ast.Attribute) and _name(func.value) == "Alert"
    )
    if not is_alert:
        return None
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "kind"), None)


def _name(node: ast.expr) -> str | None:
    return node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None


def emitted_kinds(roots: tuple[Path, ...]) -> tuple[dict[str, list[str]], list[str]]:
    """The kinds passed to the alert emitter anywhere under ``roots``: ``{kind: [file:line, ...]}``, and the
    call sites whose kind is not a literal. The failure callback's kinds are :func:`alerts.kind_of_failure`'s
    returned literals."""
    found: dict[str, list[str]] = {}
    dynamic: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("*.py")) if root.is_dir() else ():
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            where = path.relative_to(ROOT).as_posix()
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef) and node.name == "kind_of_failure":
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Return) and sub.value is not None:
                            for const in ast.walk(sub.value):
                                if isinstance(const, ast.Constant) and isinstance(const.value, str):
                                    found.setdefault(const.value, []).append(f"{where}:{const.lineno}")
                if isinstance(node, ast.Call) and (kind := _kind_argument(node)) is not None:
                    if isinstance(kind, ast.Constant) and isinstance(kind.value, str):
                        found.setdefault(kind.value, []).append(f"{where}:{node.lineno}")
                    else:
                        dynamic.append(f"{where}:{node.lineno}")
    return found, dynamic


@pytest.fixture(scope="module")
def entries() -> dict[str, str]:
    return runbook_entries(RUNBOOK.read_text(encoding="utf-8"))


def test_every_registered_kind_has_a_complete_runbook_entry(entries: dict[str, str]) -> None:
    missing = sorted(set(alerts.REGISTRY) - set(entries))
    assert not missing, f"kinds without a '## <kind>' entry in docs/runbook.md: {missing}"
    for kind in alerts.REGISTRY:
        absent = [s for s in SECTIONS if s not in entries[kind]]
        assert not absent, f"docs/runbook.md#{kind} lacks {absent}"


def test_every_runbook_entry_is_a_registered_kind(entries: dict[str, str]) -> None:
    assert sorted(set(entries) - set(alerts.REGISTRY)) == [], "a runbook entry for a kind nobody emits"


def test_a_removed_entry_is_noticed() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    without = re.sub(r"^## predictions_late *$", "## predictions_late_removed", text, flags=re.MULTILINE)
    assert "predictions_late" in runbook_entries(text)
    assert "predictions_late" not in runbook_entries(without)


def test_every_emitted_kind_is_registered_and_every_registered_kind_is_emitted() -> None:
    found, dynamic = emitted_kinds(tuple(ROOT / d for d in SOURCES))
    unknown = {kind: sites for kind, sites in found.items() if kind not in alerts.REGISTRY}
    assert not unknown, f"kinds emitted but not in alerts.REGISTRY: {unknown}"
    assert sorted(set(alerts.REGISTRY) - set(found)) == [], "registered kinds no code emits"
    # a kind that is not a literal is the alert module's own plumbing (from_context, the failure callback)
    assert all(site.startswith("include/monitoring/alerts.py:") for site in dynamic), dynamic
    # the scan sees the emitters it must see
    assert any(s.startswith("include/monitoring/hourly.py:") for s in found["predictions_late"])
    assert any(s.startswith("include/monitoring/stockouts.py:") for s in found["unflagged_stockout"])
    assert any(s.startswith("include/monitoring/alerts.py:") for s in found["stream_unhealthy"])


def test_the_registry_is_complete() -> None:
    for kind, entry in alerts.REGISTRY.items():
        assert entry.kind == kind == entry.anchor
        assert all((entry.title, entry.meaning, entry.next_step)), kind
        assert entry.severity in ("critical", "error", "warning"), kind
    assert {k: e.meaning for k, e in alerts.REGISTRY.items()} == alerts.KINDS


def test_an_alert_carries_its_runbook_link_and_next_step(tmp_path: Path, monkeypatch, caplog) -> None:
    monkeypatch.delenv(alerts.RUNBOOK_BASE_URL_VAR, raising=False)
    s = Settings(alert_log=tmp_path / "alerts.jsonl")
    alert = alerts.Alert("feature_drift", "capacity PSI 0.4")
    with caplog.at_level("ERROR", logger=alerts.log.name):
        assert alerts.send(alert, settings=s) == ["task_log", "file"]
    (logged,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT ")]
    assert "\n" not in logged
    assert f"Next step: {alerts.REGISTRY['feature_drift'].next_step}" in logged
    assert logged.endswith("Runbook: docs/runbook.md#feature_drift")
    (line,) = alerts.read_log(s)
    assert line["runbook"] == "docs/runbook.md#feature_drift"
    assert line["next_step"] == alerts.REGISTRY["feature_drift"].next_step
    assert line["severity"] == "warning"
    assert f"Next step: {line['next_step']}" in alert.text
    assert "Runbook: docs/runbook.md#feature_drift" in alert.text
    assert "\n" not in alert.headline


def test_the_runbook_base_url_is_configurable(monkeypatch) -> None:
    base = "https://github.com/example/bikeshare-mlops/blob/main/docs/runbook.md"
    monkeypatch.setenv(alerts.RUNBOOK_BASE_URL_VAR, base)
    alert = alerts.Alert("predictions_late", "no predictions for 10:00")
    assert alert.runbook == f"{base}#predictions_late"
    assert f"Runbook: {base}#predictions_late" in alert.text
    assert alerts.runbook_url("station_error", {alerts.RUNBOOK_BASE_URL_VAR: base + "#top"}) == f"{base}#station_error"


def test_the_failure_callback_links_the_runbook_and_the_stream_problems(tmp_path: Path, monkeypatch) -> None:
    from types import SimpleNamespace

    from include.beam.control.stream_health import Problem, ProblemKind, StreamUnhealthy
    from include.gcp import settings as settings_module

    monkeypatch.setenv("BIKESHARE_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    monkeypatch.delenv(alerts.RUNBOOK_BASE_URL_VAR, raising=False)
    settings_module.get_settings.cache_clear()
    try:
        error = StreamUnhealthy("station status is stale", [Problem(ProblemKind.STATION_STATUS_STALE, "stale")])
        ti = SimpleNamespace(dag_id="bikeshare_stream", task_id="monitor", run_id="r1", try_number=3, log_url="u")
        alerts.AlertNotifier().notify({"exception": error, "ti": ti})
        (line,) = alerts.read_log()
    finally:
        settings_module.get_settings.cache_clear()
    assert (line["kind"], line["task_id"]) == ("stream_unhealthy", "monitor")
    assert line["details"]["problems"] == ["station_status_stale"]
    assert line["runbook"] == "docs/runbook.md#stream_unhealthy"
    assert line["next_step"] == alerts.REGISTRY["stream_unhealthy"].next_step


def test_every_alert_record_is_json_with_the_link(tmp_path: Path) -> None:
    s = Settings(alert_log=tmp_path / "alerts.jsonl")
    for kind in alerts.REGISTRY:
        alerts.send(alerts.Alert(kind, f"probe {kind}"), settings=s)
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(x) for x in lines]
    assert [r["kind"] for r in records] == list(alerts.REGISTRY)
    assert all(r["runbook"].endswith(f"#{r['kind']}") and r["next_step"] for r in records)
