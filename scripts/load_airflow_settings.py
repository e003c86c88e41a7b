"""Load airflow_settings.yaml into the virtualenv's Airflow, as `astro dev start` does in Docker.

Converts the Astro file's connections and variables to the JSON that `airflow connections import`
and `airflow variables import` read, and imports them with overwrite (so a rerun is a no-op).
Run with the venv's python after `airflow db migrate` (make airflow-db does both).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def convert(settings: dict) -> tuple[dict, dict]:
    airflow = (settings or {}).get("airflow") or {}
    connections = {}
    for conn in airflow.get("connections") or []:
        entry = {"conn_type": conn["conn_type"]}
        for key in ("host", "schema", "login", "password", "port"):
            if conn.get(f"conn_{key}") not in (None, ""):
                entry[key] = conn[f"conn_{key}"]
        if conn.get("conn_extra"):
            entry["extra"] = json.dumps(conn["conn_extra"])
        connections[conn["conn_id"]] = entry
    variables = {v["variable_name"]: v["variable_value"] for v in airflow.get("variables") or []}
    return connections, variables


def main() -> int:
    connections, variables = convert(yaml.safe_load((ROOT / "airflow_settings.yaml").read_text()))
    airflow = shutil.which("airflow") or str(Path(sys.executable).with_name("airflow"))
    with tempfile.TemporaryDirectory() as tmp:
        for kind, items in (("connections", connections), ("variables", variables)):
            if not items:
                continue
            path = Path(tmp) / f"{kind}.json"
            path.write_text(json.dumps(items))
            extra = ["--overwrite"] if kind == "connections" else []
            subprocess.run([airflow, kind, "import", str(path), *extra], check=True, capture_output=True)
            print(f"airflow_settings.yaml: {len(items)} {kind} loaded ({', '.join(sorted(items))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
