"""docs/backfills.md against the installed Airflow: its REST bodies are accepted by the API's own models and its
CLI flags exist, so the way to backfill (and unpause first) that it gives works as written."""

from __future__ import annotations

import json
import re
import shlex

from tests.conftest import ROOT

DOC = ROOT / "docs" / "backfills.md"


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_the_backfill_body_is_accepted_by_the_api() -> None:
    from airflow.api_fastapi.core_api.datamodels.backfills import BackfillPostBody

    (block,) = re.findall(r"```json\n(.*?)```", _text(), flags=re.S)
    body = BackfillPostBody.model_validate(json.loads(block))  # strict: an unknown field is refused
    assert body.dag_id == "bikeshare_train_predict"
    assert body.from_date < body.to_date
    assert body.reprocess_behavior.value == "completed"


def test_the_unpause_body_and_the_endpoints_exist() -> None:
    from airflow.api_fastapi.core_api.datamodels.dags import DAGPatchBody
    from airflow.api_fastapi.core_api.routes.public.backfills import backfills_router

    text = _text()
    (patch,) = re.findall(r"-X PATCH \"\$AF/api/v2/dags/\w+\".*?-d '(\{.*?\})'", text, flags=re.S)
    assert DAGPatchBody.model_validate(json.loads(patch)).is_paused is False
    routes = {(method, route.path) for route in backfills_router.routes for method in route.methods}
    for method, path in [("POST", "/backfills"), ("POST", "/backfills/dry_run"), ("PUT", "/backfills/{id}/pause")]:
        assert (method, path.replace("{id}", "{backfill_id}")) in routes, (method, path)
        assert path.replace("/backfills", "/api/v2/backfills", 1) in text.replace("$AF", "")


def test_the_cli_flags_exist() -> None:
    from airflow.cli.cli_config import BACKFILL_COMMANDS

    (create,) = [c for c in BACKFILL_COMMANDS if c.name == "create"]
    flags = {flag for arg in create.args for flag in arg.flags}
    (command,) = re.findall(r"airflow backfill create (.*?)(?:#|\n\n|```)", _text().replace("\\\n", " "), flags=re.S)
    used = {word for word in shlex.split(command) if word.startswith("--")}
    assert used, command
    assert used <= flags, used - flags
    assert ".venv/bin/airflow dags unpause bikeshare_train_predict" in _text()
