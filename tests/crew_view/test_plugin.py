"""The plugin as Airflow itself loads it: registered by the plugins manager, mounted in the API server's
app behind Airflow's authentication, and light to import. Each check runs in a fresh interpreter, because
Airflow caches plugins and the auth manager per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from include.gcp.settings import Settings
from tests.conftest import AIRFLOW_CLI, ROOT
from tests.crew_view import fixtures

pytestmark = pytest.mark.airflow


def run_python(code: str, env: dict[str, str] | None = None, timeout: int = 180) -> dict:
    """Run ``code`` in a new interpreter of the venv; its last stdout line is JSON."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_plugin_import_is_light():
    result = run_python(
        """
        import json, runpy, sys
        import airflow.plugins_manager  # what every process that loads plugins has already imported
        before = set(sys.modules)
        runpy.run_path("plugins/crew_view.py")
        new = set(sys.modules) - before
        heavy = sorted(m for m in new if m.split(".")[0] in ("fastapi", "numpy", "pandas", "google")
                       or m.startswith(("include.crew_view.app", "include.crew_view.sources", "include.gcp")))
        print(json.dumps({"heavy": heavy}))
        """
    )
    assert result["heavy"] == []


def test_airflow_registers_the_plugin():
    out = subprocess.run(
        [str(AIRFLOW_CLI), "plugins", "--output", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        check=True,
    )
    plugins = {p["name"]: p for p in json.loads(out.stdout.strip().splitlines()[-1])}
    crew = plugins["crew_view"]
    assert crew["source"] == "$PLUGINS_FOLDER/crew_view.py"
    assert crew["fastapi_apps"] == [
        {"app": "include.crew_view.lazy.LazyASGIApp", "url_prefix": "/crew-view", "name": "Rebalancing crews"}
    ]
    (view,) = crew["external_views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("crew-view/", "crew-view", "nav")


@pytest.fixture(scope="module")
def world(test_settings: Settings) -> Iterator[fixtures.World]:
    w = fixtures.build_world(test_settings, "crew_plugin", with_performance=False)
    yield w
    fixtures.drop(w.settings)


@pytest.mark.integration
def test_api_server_serves_the_view_to_authenticated_users_only(world):
    env = {"BIKESHARE_BQ_DATASET": world.settings.dataset, "BIKESHARE_GCS_BUCKET": world.settings.bucket}
    result = run_python(
        """
        import json
        from fastapi.testclient import TestClient
        from airflow.api_fastapi.app import create_app, get_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

        client = TestClient(create_app("core"))
        token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="crew", role="viewer"))
        anonymous = client.get("/crew-view/")
        page = client.get("/crew-view/", cookies={"_token": token})  # what the UI's iframe sends
        api = client.get("/crew-view/view.json", headers={"Authorization": f"Bearer {token}"})
        plugins = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"}).json()
        views = [v for p in plugins["plugins"] for v in p["external_views"] if p["name"] == "crew_view"]
        print(json.dumps({
            "anonymous": anonymous.status_code, "page": page.status_code, "html": page.text,
            "top": api.json()["forecast"]["stations"][0]["station_id"], "views": views,
        }))
        """,
        env=env,
    )
    assert result["anonymous"] == 401
    assert result["page"] == 200
    assert result["top"] == fixtures.RANKED[0]
    assert 'id="plan-hour" data-hour="2019-09-30T11:00Z"' in result["html"]  # the newest served plan hour
    assert result["html"].count('class="station"') == len(fixtures.SEED) + len(fixtures.RISK) - 1  # both maps
    assert "no live performance yet" in result["html"]  # no model_performance table in this world
    assert result["views"][0]["url_route"] == "crew-view"
