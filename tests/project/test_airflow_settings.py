"""airflow_settings.yaml holds local values only, and converts to Airflow's import format."""

from __future__ import annotations

import importlib.util
import json

import yaml

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("load_airflow_settings", ROOT / "scripts" / "load_airflow_settings.py")
loader = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(loader)


def test_google_connection_is_local_and_keyless() -> None:
    connections, _ = loader.convert(yaml.safe_load((ROOT / "airflow_settings.yaml").read_text()))
    gcp = connections["google_cloud_default"]
    assert gcp["conn_type"] == "google_cloud_platform"
    extra = json.loads(gcp["extra"])
    assert extra == {"project": "local-project"}
    assert "password" not in gcp


def test_convert_maps_astro_fields() -> None:
    settings = {
        "airflow": {
            "connections": [
                {
                    "conn_id": "c",
                    "conn_type": "http",
                    "conn_host": "h",
                    "conn_port": 80,
                    "conn_login": "",
                    "conn_extra": {},
                }
            ],
            "variables": [{"variable_name": "v", "variable_value": "1"}],
        }
    }
    connections, variables = loader.convert(settings)
    assert connections == {"c": {"conn_type": "http", "host": "h", "port": 80}}
    assert variables == {"v": "1"}
