"""Issue 23 §3: an outage of any Google service alerts within 5 minutes, naming the service.

The fault per service is a closed local port (nothing listens: what a stopped emulator looks like to the
client) for that one service, the others on the running emulators; the shared emulators are never stopped.
Real clients, the real DAG (``dag.test()``): the check ends failed with one ``google_service_unreachable``
alert that names the service, in well under a minute. The decision logic is tested without I/O.
"""

from __future__ import annotations

import dataclasses
import socket
import time
import urllib.error
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions as gx
from google.auth.exceptions import DefaultCredentialsError

from include.gcp.settings import Endpoint, Settings, get_settings
from include.monitoring import alerts, services
from tests.conftest import DAGS_FOLDER

SERVICES = ("pubsub", "bigquery", "storage", "metadata")
ENV_NAME = {"pubsub": "PUBSUB", "bigquery": "BIGQUERY", "storage": "STORAGE", "metadata": "METADATA"}
WITHIN = 60.0  # seconds a check may take with a service down (the bound is 5 min from the outage)


def closed_port() -> int:
    """A local port nothing listens on (bound, then closed): connection refused, as with a stopped emulator."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- pure: classification and the alert ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (gx.ServiceUnavailable("failed to connect to all addresses; Connection refused"), "unreachable"),
        (gx.DeadlineExceeded("Deadline Exceeded"), "unreachable"),
        (gx.GatewayTimeout("504"), "unreachable"),
        (gx.RetryError("Timeout of 20.0s exceeded", gx.ServiceUnavailable("503")), "unreachable"),
        (gx.RetryError("Timeout of 20.0s exceeded", None), "unreachable"),
        (requests.ConnectionError("Connection refused"), "unreachable"),
        (requests.ReadTimeout("read timed out"), "unreachable"),
        (urllib.error.URLError(ConnectionRefusedError(111, "Connection refused")), "unreachable"),
        (TimeoutError("timed out"), "unreachable"),
        (gx.InternalServerError("500"), "error"),
        (gx.RetryError("Timeout", gx.InternalServerError("500")), "error"),
        (RuntimeError("no Metadata-Flavor header"), "error"),
        (gx.Forbidden("403 caller does not have bigquery.datasets.get"), "denied"),
        (gx.PermissionDenied("403"), "denied"),
        (gx.Unauthorized("401"), "denied"),
        (DefaultCredentialsError("no credentials"), "denied"),
        (gx.NotFound("404 Topic not found"), "missing"),
        (urllib.error.HTTPError("http://x", 404, "Not Found", {}, None), "missing"),  # type: ignore[arg-type]
        (urllib.error.HTTPError("http://x", 500, "boom", {}, None), "error"),  # type: ignore[arg-type]
    ],
)
def test_what_an_error_means(error: BaseException, status: str) -> None:
    assert services.classify(error) == status


def result(service: str, status: str, error: str = "") -> services.ServiceResult:
    return services.ServiceResult(service, status, 1.5, f"http://127.0.0.1:1/{service}", "", error)


def test_nothing_down_no_alert_and_a_missing_resource_does_not_alert() -> None:
    s = Settings()
    assert services.unreachable_alert([result(n, "ok") for n in SERVICES], s) is None
    missing = [result("pubsub", "missing", "NotFound: 404 Topic not found"), result("bigquery", "ok")]
    assert services.unreachable_alert(missing, s) is None


def test_the_alert_names_the_services_down_their_endpoint_error_and_next_step() -> None:
    found = [
        result("pubsub", "unreachable", "RetryError: ... Connection refused"),
        result("bigquery", "ok"),
        result("storage", "denied", "Forbidden: 403"),
    ]
    alert = services.unreachable_alert(found, Settings(), seconds=20.3)
    assert alert is not None
    assert alert.kind == "google_service_unreachable"
    assert alert.severity == "critical"
    assert alert.summary.startswith("Pub/Sub, Cloud Storage are down (local profile): ")
    assert "Pub/Sub unreachable at http://127.0.0.1:1/pubsub after 1.5 s: RetryError: ... Connection refused" in (
        alert.summary
    )
    assert "Cloud Storage denied at http://127.0.0.1:1/storage" in alert.summary
    assert "BigQuery" not in alert.summary
    assert "`make stack-status`" in alert.summary
    assert "`make stack-up`" in alert.summary
    assert alert.details["down"] == ["pubsub", "storage"]
    assert alert.details["services"]["bigquery"]["status"] == "ok"
    assert alert.details["check_seconds"] == 20.3
    assert alert.runbook.endswith("#google_service_unreachable")

    gcp = Settings(profile="gcp", project="p", bucket="b", alert_log=None)
    alert = services.unreachable_alert([result("bigquery", "unreachable", "DeadlineExceeded")], gcp)
    assert alert is not None
    assert "status.cloud.google.com" in alert.summary
    assert "IAM" in alert.summary
    assert "make stack" not in alert.summary


def test_the_services_of_each_profile_and_their_endpoints() -> None:
    local = Settings()
    assert services.services_for(local) == ["pubsub", "bigquery", "storage", "metadata"]
    assert services.endpoint("pubsub", local) == "127.0.0.1:8085"
    assert services.endpoint("metadata", local) == "http://127.0.0.1:8095"
    gcp = Settings(profile="gcp", project="p", bucket="b")
    assert services.services_for(gcp) == ["pubsub", "bigquery", "storage"]  # no stand-in on gcp
    assert services.endpoint("bigquery", gcp) == "https://bigquery.googleapis.com"


def test_a_probe_that_ignores_its_limits_cannot_hold_the_check() -> None:
    """Even a client that hangs past every timeout: the check returns at Budget.overall, the probe unreachable."""

    def hangs(settings: Settings, budget: services.Budget, deadline: float) -> str:
        time.sleep(30)
        return "never"

    def fine(settings: Settings, budget: services.Budget, deadline: float) -> str:
        return "it"

    budget = services.Budget(attempt=0.5, total=1.0, overall=2.0)
    started = time.monotonic()
    found = services.probe_all(Settings(), budget, {"pubsub": hangs, "bigquery": fine})
    assert time.monotonic() - started < 5
    assert [(r.service, r.status) for r in found] == [("pubsub", "unreachable"), ("bigquery", "ok")]
    assert "no answer within 2 s" in found[0].error


# --- real clients: the emulators, one service at a closed port ---------------------------------------------


def test_every_service_up_no_alert(test_settings: Settings, tmp_path: Path) -> None:
    s = dataclasses.replace(test_settings, alert_log=tmp_path / "alerts.jsonl")
    started = time.monotonic()
    summary = services.check(settings=s)
    seconds = time.monotonic() - started
    print(f"check with every service up: {seconds:.2f} s")
    assert {name: r["status"] for name, r in summary["services"].items()} == dict.fromkeys(SERVICES, "ok")
    assert summary["down"] == []
    assert summary["missing"] == []
    assert seconds < WITHIN
    assert alerts.read_log(s) == []


def test_a_missing_resource_is_reported_not_alerted(test_settings: Settings, tmp_path: Path) -> None:
    s = dataclasses.replace(test_settings, bucket=f"{test_settings.bucket}-absent", alert_log=tmp_path / "a.jsonl")
    summary = services.check(settings=s)
    assert summary["missing"] == ["storage"]
    assert summary["down"] == []
    assert "NotFound" in summary["services"]["storage"]["error"]
    assert alerts.read_log(s) == []


def test_a_service_that_accepts_but_never_answers_is_cut_within_the_budget(
    test_settings: Settings, tmp_path: Path
) -> None:
    """The hang the issue found (a call silent for minutes): a port that accepts connections and never answers."""
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(64)
        port = hole.getsockname()[1]
        s = dataclasses.replace(test_settings, pubsub=Endpoint("127.0.0.1", port), alert_log=tmp_path / "a.jsonl")
        started = time.monotonic()
        with pytest.raises(alerts.AlertRaised) as raised:
            services.check(settings=s)
        seconds = time.monotonic() - started
    print(f"check with Pub/Sub silent: {seconds:.1f} s")
    assert seconds < WITHIN
    assert raised.value.result["down"] == ["pubsub"]
    assert raised.value.result["services"]["pubsub"]["status"] == "unreachable"
    (record,) = alerts.read_log(s)
    assert record["kind"] == "google_service_unreachable"
    assert "Pub/Sub unreachable" in record["summary"]


@pytest.fixture
def services_env(monkeypatch: pytest.MonkeyPatch, test_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """What the DAG's task reads (``get_settings()``): the session's resources, alerts to a file of the test."""
    names = {
        "PUBSUB_TOPIC": test_settings.topic,
        "PUBSUB_SUBSCRIPTION": test_settings.subscription,
        "BQ_DATASET": test_settings.dataset,
        "GCS_BUCKET": test_settings.bucket,
        "ALERT_LOG": str(tmp_path / "alerts.jsonl"),
    }
    for key, value in names.items():
        monkeypatch.setenv(f"BIKESHARE_{key}", value)
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        get_settings.cache_clear()


def run_dag() -> tuple[object, float]:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_services")
    started = time.monotonic()
    run = dag.test()
    return run, time.monotonic() - started


@pytest.mark.airflow
@pytest.mark.parametrize("service", SERVICES)
def test_a_service_down_alerts_naming_it_and_the_task_fails(
    airflow_db: Path, services_env: Settings, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    port = closed_port()
    monkeypatch.setenv(f"BIKESHARE_{ENV_NAME[service]}_PORT", str(port))
    get_settings.cache_clear()
    s = get_settings()
    assert getattr(s, service).port == port  # the task reads the same
    run, seconds = run_dag()
    get_settings.cache_clear()

    (record,) = alerts.read_log(s)  # one alert, of the check's kind: no second task_failed
    check_seconds = record["details"]["check_seconds"]
    print(f"{service} down: check {check_seconds:.1f} s, dag.test() {seconds:.1f} s")
    assert run.state == "failed"
    states = {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}
    assert states == {"check_google_services": ("failed", 1)}  # red on its first try, not retried
    assert (record["kind"], record["task_id"], record["dag_id"]) == (
        "google_service_unreachable",
        "check_google_services",
        "bikeshare_services",
    )
    assert record["details"]["down"] == [service]
    statuses = {name: r["status"] for name, r in record["details"]["services"].items()}
    assert statuses == {name: "unreachable" if name == service else "ok" for name in SERVICES}
    label = services.LABELS[service]
    assert f"{label} unreachable at " in record["summary"]
    assert f"127.0.0.1:{port}" in record["summary"]
    assert "Connection refused" in record["summary"] or "Errno 111" in record["summary"]
    assert "`make stack-up`" in record["summary"]
    assert record["next_step"] == alerts.REGISTRY["google_service_unreachable"].next_step
    assert check_seconds < WITHIN
    assert seconds < WITHIN


@pytest.mark.airflow
def test_the_dag_is_green_with_every_service_up(airflow_db: Path, services_env: Settings) -> None:
    run, seconds = run_dag()
    print(f"every service up: dag.test() {seconds:.1f} s")
    assert run.state == "success"
    summary = run.get_task_instance("check_google_services").xcom_pull(task_ids="check_google_services")
    assert summary["down"] == []
    assert summary["missing"] == []
    assert alerts.read_log(services_env) == []
