"""Alerts reach their channels: the JSON-lines file, a Slack webhook and an SMTP server (both real
protocol peers on 127.0.0.1, reached through the providers' notifiers), and a failing task of a real
DAG run fires the failure callback every DAG uses."""

from __future__ import annotations

import email
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from include.gcp.settings import Settings
from include.monitoring import alerts


@pytest.fixture
def alert_settings(tmp_path: Path) -> Settings:
    return Settings(alert_log=tmp_path / "alerts.jsonl")


@pytest.fixture
def slack_webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """A local stand-in for Slack's incoming-webhook endpoint, configured as the Airflow connection."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T000/B000/XXXX"
    conn = {"conn_type": "slackwebhook", "password": url}
    monkeypatch.setenv(f"AIRFLOW_CONN_{alerts.SLACK_CONN_ID.upper()}", json.dumps(conn))
    yield received
    server.shutdown()


@pytest.fixture
def smtp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, list[str], str]]]:
    """A local SMTP server (the standard library's, 3.11) configured as the alert connection."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore
        import smtpd

    received: list[tuple[str, list[str], str]] = []

    class Server(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, data.decode() if isinstance(data, bytes) else data))

    server = Server(("127.0.0.1", 0), None)
    port = server.socket.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(target=lambda: [asyncore.loop(0.05, count=1) for _ in iter(stop.is_set, True)])
    thread.start()
    conn = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {
            "to": "oncall@example.com",
            "from_email": "airflow@example.com",
            "disable_tls": True,
            "disable_ssl": True,
        },
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{alerts.SMTP_CONN_ID.upper()}", json.dumps(conn))
    yield received
    stop.set()
    thread.join(5)
    server.close()


def test_an_alert_is_one_json_line_with_its_kind(alert_settings: Settings) -> None:
    delivered = alerts.send(alerts.Alert("predictions_late", "no predictions for 10:00"), settings=alert_settings)
    assert delivered == ["task_log", "file"]  # no connection configured: Slack and SMTP are off
    (line,) = alerts.read_log(alert_settings)
    assert (line["kind"], line["summary"]) == ("predictions_late", "no predictions for 10:00")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown alert kind"):
        alerts.Alert("something", "x")


def test_slack_gets_the_alert_through_the_providers_notifier(alert_settings: Settings, slack_webhook) -> None:
    delivered = alerts.send(alerts.Alert("station_error", "station 3186: MAE 9.0"), settings=alert_settings)
    assert delivered == ["task_log", "file", "slack"]
    text = slack_webhook[0]["text"]
    assert "station 3186: MAE 9.0" in text
    assert f"Next step: {alerts.REGISTRY['station_error'].next_step}" in text
    assert "runbook.md#station_error" in text


def test_smtp_gets_the_alert_through_the_providers_notifier(alert_settings: Settings, smtp_server) -> None:
    delivered = alerts.send(alerts.Alert("model_worse_than_naive", "7-day MAE 1.2 vs 1.1"), settings=alert_settings)
    assert delivered == ["task_log", "file", "smtp"]
    _, recipients, data = smtp_server[0]
    assert recipients == ["oncall@example.com"]
    message = email.message_from_string(data)
    assert "model_worse_than_naive" in message["Subject"]
    (html,) = (p.get_payload(decode=True).decode() for p in message.walk() if p.get_content_type() == "text/html")
    assert f"<b>Next step:</b> {alerts.REGISTRY['model_worse_than_naive'].next_step}" in html
    assert '<a href="docs/runbook.md#model_worse_than_naive">' in html


def test_a_broken_channel_does_not_silence_the_others(alert_settings: Settings, monkeypatch) -> None:
    conn = {"conn_type": "slackwebhook", "password": "http://127.0.0.1:1/services/closed"}  # nothing listens
    monkeypatch.setenv(f"AIRFLOW_CONN_{alerts.SLACK_CONN_ID.upper()}", json.dumps(conn))
    delivered = alerts.send(alerts.Alert("feature_drift", "capacity PSI 0.4"), settings=alert_settings)
    assert delivered == ["task_log", "file"]
    assert alerts.read_log(alert_settings)[0]["kind"] == "feature_drift"


def test_a_failed_stream_monitor_has_its_own_kind() -> None:
    from include.beam.control.stream_health import StreamUnhealthy

    assert alerts.kind_of_failure(StreamUnhealthy("data is stale")) == "stream_unhealthy"
    assert alerts.kind_of_failure(ValueError("x")) == "task_failed"


def test_a_check_that_alerted_is_not_alerted_again_by_the_failure_callback(alert_settings, monkeypatch) -> None:
    import pickle
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    late = alerts.Alert("predictions_late", "no forecasts for 10:00", details={"hour": "10:00"})
    with pytest.raises(alerts.AlertRaised) as raised:
        alerts.raise_alerts([late], settings=alert_settings, result={"fresh": False})
    assert isinstance(raised.value, AirflowFailException)  # Airflow fails the task without retrying it
    assert (raised.value.kinds, raised.value.result) == (("predictions_late",), {"fresh": False})
    assert "alerted predictions_late: no forecasts for 10:00" in str(raised.value)
    copied = pickle.loads(pickle.dumps(raised.value))
    assert (str(copied), copied.kinds, copied.result) == (str(raised.value), raised.value.kinds, raised.value.result)
    assert alerts.raise_alerts([], settings=alert_settings) is None  # nothing found: the task goes on

    sent: list[alerts.Alert] = []
    monkeypatch.setattr(alerts, "send", lambda alert, context=None, settings=None: sent.append(alert))
    ti = SimpleNamespace(dag_id="bikeshare_monitoring", task_id="predictions_fresh", run_id="r", try_number=1)
    alerts.AlertNotifier().notify({"exception": raised.value, "ti": ti})
    assert sent == []
    alerts.AlertNotifier().notify({"exception": RuntimeError("x"), "ti": ti})
    assert [a.kind for a in sent] == ["task_failed"]
    assert [a["kind"] for a in alerts.read_log(alert_settings)] == ["predictions_late"]


PROBE_DAG = """
from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from include.monitoring.alerts import default_args


@dag(schedule=None, start_date=datetime(2026, 1, 1), default_args=default_args("tests"))
def alert_probe():
    @task
    def breaks():
        raise RuntimeError("the warehouse said no")

    @task
    def finds_late_predictions():  # a check whose verdict alerts, with the DAGs' two retries
        from include.monitoring import alerts

        alerts.raise_alerts([alerts.Alert("predictions_late", "no forecasts for 10:00")], get_current_context())

    breaks()
    finds_late_predictions()


alert_probe()
"""


@pytest.mark.airflow
def test_a_task_failing_in_a_real_dag_run_fires_the_alert(airflow_db, tmp_path: Path, monkeypatch) -> None:
    """The failure callback the DAGs use (alerts.default_args), through Airflow's own dag.test()."""
    from airflow.dag_processing.dagbag import DagBag

    from include.gcp import settings as settings_module

    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "alert_probe.py").write_text(PROBE_DAG)
    monkeypatch.setenv("BIKESHARE_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    bundle = {  # dag.test() runs only DAGs of a configured bundle: the probe gets its own
        "name": "alert-probe",
        "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
        "kwargs": {"path": str(tmp_path / "dags")},
    }
    monkeypatch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps([bundle]))
    settings_module.get_settings.cache_clear()
    try:
        dag = DagBag(dag_folder=tmp_path / "dags").get_dag("alert_probe")
        dag.task_dict["breaks"].retries = 0  # the plain failure at once; the check keeps the DAGs' 2 retries
        run = dag.test()
        assert run.state == "failed"
        lines = alerts.read_log()
    finally:
        settings_module.get_settings.cache_clear()
    # the check that alerted: failed (red, never green) in its first try, its own alert only, no task_failed
    check = run.get_task_instance("finds_late_predictions")
    assert (check.state, check.try_number) == ("failed", 1)
    (late,) = [x for x in lines if x["task_id"] == "finds_late_predictions"]
    assert late["kind"] == "predictions_late"
    (line,) = [x for x in lines if x["task_id"] == "breaks"]
    assert line["kind"] == "task_failed"
    assert (line["dag_id"], line["task_id"]) == ("alert_probe", "breaks")
    assert "RuntimeError: the warehouse said no" in line["summary"]
    assert line["runbook"].endswith("#task_failed")
    assert line["next_step"] == alerts.REGISTRY["task_failed"].next_step
