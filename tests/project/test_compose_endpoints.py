"""`astro dev start` gets every endpoint of the local profile from docker-compose.override.yml (issue 23 §1).

The Airflow containers run the project's code with the local ``Settings`` read from their environment. For each
endpoint those settings hold, and for each variable derived from them (what child processes get:
``Settings.emulator_env()``, dbt's ``DBT_BQ_API_ENDPOINT``, the GBFS URL), the host must be a compose service and
that service's command must listen on that port, on every interface (``0.0.0.0``: another container connects).
A container left pointing at ``127.0.0.1`` would reach nothing: that is what removing a ``BIKESHARE_*_HOST``
variable, or the service itself, does, and the tests below fail then (the last test plants each removal).

No Docker engine runs here: this reads the YAML, and derives the endpoints through the project's own settings
classes, so a new endpoint in ``Settings`` needs a compose service before this passes again.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import shlex
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from include.dbt.runner import profile_env
from include.gbfs.settings import GbfsSettings
from include.gcp.settings import Endpoint, Settings
from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.override.yml"
# Astro CLI's Airflow 3 services (its compose project): each one runs DAG or plugin code that reaches the endpoints
AIRFLOW_CONTAINERS = ("scheduler", "dag-processor", "triggerer", "api-server")
# what the issue names, so that a rename in Settings.emulator_env() cannot silently drop one from the check
CHILD_VARIABLES = {
    "PUBSUB_EMULATOR_HOST",
    "BIGQUERY_EMULATOR_HOST",
    "STORAGE_EMULATOR_HOST",
    "GCE_METADATA_HOST",
    "GCE_METADATA_IP",
}
ANY_INTERFACE = "0.0.0.0"


def load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment``, in either compose form (mapping, or a list of ``KEY=value``)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def listening(service: Mapping[str, Any]) -> dict[int, str]:
    """Port → bind host of every ``--*port`` flag of the service's command (``--x-port N`` goes with ``--x-host``;
    ``--host-port=H:P`` carries both), read as the server will: ``--flag value`` or ``--flag=value``."""
    command = service.get("command") or ""
    tokens = shlex.split(command) if isinstance(command, str) else [str(t) for t in command]
    flags: dict[str, str] = {}
    for i, token in enumerate(tokens):
        if not token.startswith("--"):
            continue
        name, sep, value = token[2:].partition("=")
        if not sep and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            value = tokens[i + 1]
        flags[name] = value
    ports: dict[int, str] = {}
    for name, value in flags.items():
        if name == "host-port":
            host, _, port = value.rpartition(":")
            ports[int(port)] = host
        elif name == "port" or name.endswith("-port"):
            ports[int(value)] = flags.get(name[: -len("port")] + "host", "")
    return ports


def endpoints(settings: Settings) -> dict[str, Endpoint]:
    """Every endpoint field of ``Settings``, found by type (a new one is checked without a change here)."""
    return {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if isinstance(getattr(settings, f.name), Endpoint)
    }


def derived_addresses(settings: Settings, env: Mapping[str, str]) -> dict[str, str]:
    """The addresses the code hands on, by the name it hands them on under."""
    out = dict(settings.emulator_env())
    out["DBT_BQ_API_ENDPOINT"] = profile_env(settings)["DBT_BQ_API_ENDPOINT"]
    out["BIKESHARE_GBFS_URL"] = GbfsSettings.from_env(settings, env).url
    return out


def host_port(address: str) -> tuple[str, int]:
    """``host:port`` or a URL with a scheme → (host, port)."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"no host:port in {address!r}")
    return parts.hostname, parts.port


def resolve(compose: Mapping[str, Any], what: str, host: str, port: int) -> list[str]:
    """Why ``host:port``, as a container sees it, reaches no compose service listening there ([] if it does)."""
    services = compose.get("services") or {}
    if host not in services:
        hint = " (the container itself: set its BIKESHARE_*_HOST)" if host in ("127.0.0.1", "localhost") else ""
        return [f"{what} -> {host}:{port}: no compose service named {host!r}{hint}"]
    ports = listening(services[host])
    if port not in ports:
        return [f"{what} -> {host}:{port}: service {host!r} listens on {sorted(ports) or 'no port'} only"]
    if ports[port] != ANY_INTERFACE:
        return [f"{what} -> {host}:{port}: service {host!r} binds {ports[port]!r}, not {ANY_INTERFACE}"]
    return []


def container_problems(compose: Mapping[str, Any], container: str) -> list[str]:
    """Everything that would keep ``container`` from reaching an endpoint of its local Settings."""
    services = compose.get("services") or {}
    if container not in services:
        return [f"no service {container!r} in the override: it would keep the image's defaults (127.0.0.1)"]
    env = environment(services[container] or {})
    settings = Settings.from_env(env)
    if not settings.is_local:
        return [f"{container}: BIKESHARE_PROFILE={settings.profile!r}, expected the local profile"]
    problems: list[str] = []
    for name, endpoint in endpoints(settings).items():
        problems += resolve(compose, f"{container} Settings.{name}", endpoint.host, endpoint.port)
    for name, address in derived_addresses(settings, env).items():
        problems += resolve(compose, f"{container} {name}={address}", *host_port(address))
    return problems


def test_the_settings_hand_on_every_variable_the_issue_names() -> None:
    settings = Settings.from_env(environment(load_compose()["services"]["scheduler"]))
    assert set(settings.emulator_env()) >= CHILD_VARIABLES
    assert set(endpoints(settings)) >= {"pubsub", "bigquery", "bigquery_grpc", "storage", "metadata", "gbfs"}


@pytest.mark.parametrize("container", AIRFLOW_CONTAINERS)
def test_every_endpoint_of_the_local_profile_is_a_compose_service(container: str) -> None:
    assert container_problems(load_compose(), container) == []


def test_the_gbfs_server_reads_the_events_from_the_pubsub_service() -> None:
    """The feed's stock comes from its own subscription on the topic: its Settings.pubsub must be a service too."""
    compose = load_compose()
    settings = Settings.from_env(environment(compose["services"]["gbfs-server"]))
    assert resolve(compose, "gbfs-server Settings.pubsub", settings.pubsub.host, settings.pubsub.port) == []


def test_the_servers_serve_the_project_the_containers_use() -> None:
    """The Pub/Sub and BigQuery emulators and the metadata stand-in are started for one project id."""
    compose = load_compose()
    project = Settings.from_env(environment(compose["services"]["scheduler"])).project
    given = {}
    for name, service in compose["services"].items():
        command = service.get("command") or ""
        found = re.findall(r"--project[ =](\S+)", command if isinstance(command, str) else " ".join(command))
        if found:
            given[name] = found
    assert {"pubsub-emulator", "bigquery-emulator", "metadata-server"} <= set(given)
    assert {name: ids for name, ids in given.items() if ids != [project]} == {}


def _without_service(compose: dict[str, Any], name: str) -> dict[str, Any]:
    del compose["services"][name]
    return compose


def _without_variable(compose: dict[str, Any], variable: str) -> dict[str, Any]:
    for container in AIRFLOW_CONTAINERS:
        compose["services"][container]["environment"].pop(variable, None)  # one anchor: a shared mapping
    return compose


def _listening_elsewhere(compose: dict[str, Any], name: str) -> dict[str, Any]:
    service = compose["services"][name]
    service["command"] = re.sub(r"0\.0\.0\.0", "127.0.0.1", service["command"])
    return compose


SERVING = ("pubsub-emulator", "bigquery-emulator", "storage-emulator", "metadata-server", "gbfs-server")
HOST_VARIABLES = (
    "BIKESHARE_PUBSUB_HOST",
    "BIKESHARE_BIGQUERY_HOST",
    "BIKESHARE_BIGQUERY_GRPC_HOST",
    "BIKESHARE_STORAGE_HOST",
    "BIKESHARE_METADATA_HOST",
    "BIKESHARE_GBFS_HOST",
)


@pytest.mark.parametrize(
    "mutation",
    [*(f"service:{s}" for s in SERVING), *(f"variable:{v}" for v in HOST_VARIABLES), "bind:bigquery-emulator"],
)
def test_the_check_fails_when_a_service_or_variable_is_removed(mutation: str) -> None:
    """The check above is not vacuous: each removal (or a server bound to loopback) is a problem it names."""
    kind, _, name = mutation.partition(":")
    compose = copy.deepcopy(load_compose())
    mutate = {"service": _without_service, "variable": _without_variable, "bind": _listening_elsewhere}[kind]
    problems = container_problems(mutate(compose, name), "scheduler")
    assert problems, mutation
