"""Alerts: one record, one delivery path, the channels chosen by configuration.

Every alert goes to the task log and, where configured, to

- a JSON-lines file (``Settings.alert_log``: ``.local/alerts.jsonl`` locally, off on gcp) — the local
  channel, which the tests read to assert that an alert fired;
- Slack, through the Slack provider's ``SlackWebhookNotifier``, when the Airflow connection
  ``bikeshare_alerts_slack`` (an incoming webhook) exists;
- e-mail, through the SMTP provider's ``SmtpNotifier``, when the connection ``bikeshare_alerts_smtp``
  exists (recipients in its extra: ``{"to": "oncall@example.com"}``).

The connections are looked up when an alert is sent, never when a DAG file is parsed. A channel that
fails is logged and the others still get the alert. ``AlertNotifier`` is the failure callback of every
task (``DEFAULT_ARGS``); the monitoring checks call :func:`send` with their own kinds (``KINDS``), and
``bikeshare_train_predict``'s publish step :func:`unverifiable_models`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

from include.gcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

SLACK_CONN_ID = "bikeshare_alerts_slack"
SMTP_CONN_ID = "bikeshare_alerts_smtp"

KINDS: dict[str, str] = {
    "task_failed": "a task failed after its retries (every DAG)",
    "stream_unhealthy": (
        "bikeshare_stream's monitor failed: job not running, stale data, dead-letter share, or stale station status"
    ),
    "predictions_late": "hour T's predictions are not in station_predictions by T + 15 min",
    "model_worse_than_naive": "the served model's 7-day live MAE is not below the best naive baseline's",
    "station_error": "a station's live error over the last 24 h exploded",
    "feature_drift": "a feature's distribution this week moved away from the serving model's training window",
    "model_unverifiable": "a model version on the bucket failed verification: skipped, an older verified one predicts",
    "unflagged_stockout": (
        "a station sat empty or full for more than 30 min in a plan hour whose plan had not flagged it "
        "(1-hour risk below the service level, no move)"
    ),
}


@dataclass(frozen=True)
class Alert:
    """What happened, where, and when; the same fields in every channel."""

    kind: str
    summary: str
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown alert kind {self.kind!r}: expected one of {sorted(KINDS)}")

    @property
    def text(self) -> str:
        where = ".".join(p for p in (self.dag_id, self.task_id) if p)
        return f"[bikeshare {self.kind}] {where} {self.run_id or ''}: {self.summary}".replace("  ", " ")

    @classmethod
    def from_context(cls, kind: str, summary: str, context: Any = None, **details: Any) -> Alert:
        context = context or {}
        ti = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        return cls(
            kind=kind,
            summary=summary,
            dag_id=getattr(ti, "dag_id", None),
            run_id=getattr(dag_run, "run_id", None) or getattr(ti, "run_id", None),
            task_id=getattr(ti, "task_id", None),
            details=details,
        )


def _connection(conn_id: str) -> Any | None:
    """The Airflow connection, or None when it is not configured (the channel is then off)."""
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:
        return None


def _to_file(alert: Alert, settings: Settings) -> None:
    assert settings.alert_log is not None
    settings.alert_log.parent.mkdir(parents=True, exist_ok=True)
    with settings.alert_log.open("a", encoding="utf-8") as out:
        out.write(json.dumps(asdict(alert), default=str) + "\n")


def _to_slack(alert: Alert, context: Any) -> None:
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    SlackWebhookNotifier(slack_webhook_conn_id=SLACK_CONN_ID, text=alert.text).notify(context or {})


def _to_smtp(alert: Alert, context: Any, connection: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    to = (connection.extra_dejson or {}).get("to")
    if not to:
        raise ValueError(f'connection {SMTP_CONN_ID} has no recipients: set its extra to {{"to": "..."}}')
    body = f"<p>{alert.text}</p><pre>{json.dumps(alert.details, indent=2, default=str)}</pre>"
    SmtpNotifier(to=to, smtp_conn_id=SMTP_CONN_ID, subject=alert.text[:200], html_content=body).notify(context or {})


def send(alert: Alert, context: Any = None, settings: Settings | None = None) -> list[str]:
    """Deliver ``alert`` to every configured channel; returns the channels that took it.

    With an Airflow ``context``, an alert that does not say where it comes from gets the DAG, run and task.
    """
    s = settings or get_settings()
    if context and alert.dag_id is None:
        where = Alert.from_context(alert.kind, alert.summary, context)
        alert = replace(alert, dag_id=where.dag_id, run_id=where.run_id, task_id=where.task_id)
    log.error("ALERT %s", alert.text)
    delivered = ["task_log"]
    channels: list[tuple[str, Any]] = []
    if s.alert_log is not None:
        channels.append(("file", lambda: _to_file(alert, s)))
    if _connection(SLACK_CONN_ID) is not None:
        channels.append(("slack", lambda: _to_slack(alert, context)))
    if (smtp := _connection(SMTP_CONN_ID)) is not None:
        channels.append(("smtp", lambda: _to_smtp(alert, context, smtp)))
    for name, deliver in channels:
        try:
            deliver()
            delivered.append(name)
        except Exception:
            log.exception("alert channel %s failed for %s", name, alert.kind)
    return delivered


def kind_of_failure(exception: BaseException | None) -> str:
    """The alert kind of a failed task: the stream monitor's verdict has its own."""
    from include.beam.control.stream_health import StreamUnhealthy

    return "stream_unhealthy" if isinstance(exception, StreamUnhealthy) else "task_failed"


class AlertNotifier(BaseNotifier):
    """Failure callback of every task: the exception, the task and the run, to every alert channel."""

    def notify(self, context: Any) -> None:
        exception = context.get("exception")
        summary = f"{type(exception).__name__}: {exception}" if exception else "failed"
        ti = context.get("ti")
        alert = Alert.from_context(
            kind_of_failure(exception),
            summary[:2000],
            context,
            try_number=getattr(ti, "try_number", None),
            log_url=getattr(ti, "log_url", None),
        )
        send(alert, context)


def default_args(owner: str, **overrides: Any) -> dict[str, Any]:
    """Every DAG's default_args: its owner, two retries, and the alert on a task's final failure."""
    from datetime import timedelta

    args: dict[str, Any] = {
        "owner": owner,
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "on_failure_callback": AlertNotifier(),
    }
    return {**args, **overrides}


def read_log(settings: Settings | None = None) -> list[dict[str, Any]]:
    """The alerts in the JSON-lines file (oldest first); [] when there is none."""
    s = settings or get_settings()
    if s.alert_log is None or not s.alert_log.exists():
        return []
    return [json.loads(line) for line in s.alert_log.read_text(encoding="utf-8").splitlines() if line.strip()]


def unverifiable_models(
    published: Mapping[str, Any], context: Any = None, settings: Settings | None = None
) -> list[Alert]:
    """A ``model_unverifiable`` alert for each version the publish step skipped (its XCom's ``unverifiable``,
    from include/ml/registry.py): what failed, where, which version predicts instead, and what to do."""
    serving = published["serving_version"]
    instead = (
        f"predictions for {published['version']} use {serving}, the newest verified promoted model"
        if serving
        else f"no verified promoted model is left: no predictions for {published['version']}"
    )
    sent = []
    for bad in published["unverifiable"]:
        alert = Alert(
            "model_unverifiable",
            f"model {bad['version']} failed verification and was skipped: {bad['reason']} ({bad['object']}); "
            f"{instead}. To do: {bad['todo']}; until then every run skips it and alerts again.",
            details={**bad, "serving_version": serving, "hour": published["version"]},
        )
        send(alert, context, settings)
        sent.append(alert)
    return sent
