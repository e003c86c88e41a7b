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
task (``DEFAULT_ARGS``); the monitoring checks, the stream monitor (include/monitoring/stream.py) and
``bikeshare_train_predict``'s ``report_unverifiable`` step send their own kinds through :func:`raise_alerts`.

**Never green.** A task that sends an alert ends *failed*: :func:`raise_alerts` sends, then raises
:class:`AlertRaised`, an ``AirflowFailException`` (no retry: a retry would only measure and alert again,
and the alert has already gone out on the first try). ``AlertNotifier`` recognises it and sends nothing
more, so a check's verdict is one alert of its own kind, never a second ``task_failed`` for the same thing.

Every kind is in :data:`REGISTRY` (title, severity, meaning, next step) and has an entry in ``docs/runbook.md``
whose anchor is the kind; every alert carries its ``next_step`` and ``runbook`` link (base URL:
``BIKESHARE_RUNBOOK_BASE_URL``, default the repository-relative ``docs/runbook.md``) in its record and its text.
"""

from __future__ import annotations

import html
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from airflow.sdk.bases.notifier import BaseNotifier
from airflow.sdk.exceptions import AirflowFailException

from include.gcp.settings import Settings, get_settings

log = logging.getLogger(__name__)

SLACK_CONN_ID = "bikeshare_alerts_slack"
SMTP_CONN_ID = "bikeshare_alerts_smtp"

RUNBOOK_BASE_URL_VAR = "BIKESHARE_RUNBOOK_BASE_URL"
RUNBOOK_PATH = "docs/runbook.md"  # the default base: the runbook's path in the repository

Severity = Literal["critical", "error", "warning"]


@dataclass(frozen=True)
class AlertKind:
    """One kind of alert: what it means and what to do first. Its runbook entry is ``docs/runbook.md#<kind>``
    (a test holds every kind to a heading there)."""

    kind: str
    title: str
    severity: Severity  # critical: users see it within the hour; error: a run did not do its work; warning: quality
    meaning: str
    next_step: str

    @property
    def anchor(self) -> str:
        return self.kind


def _kinds(*kinds: AlertKind) -> dict[str, AlertKind]:
    return {k.kind: k for k in kinds}


# Every kind the project emits: the monitoring checks (include/monitoring), the stream monitor's verdicts
# (include/monitoring/stream.py), any other task's final failure (AlertNotifier), the models that failed
# verification (unverifiable_alerts).
REGISTRY: dict[str, AlertKind] = _kinds(
    AlertKind(
        "task_failed",
        "A task failed after its retries",
        "error",
        "a task failed after its retries (every DAG)",
        "Open the task's log (log_url in the details), read the exception, fix its cause, then clear the task "
        "so it runs again; dbt test failures and sensor timeouts have their own paragraphs in the runbook.",
    ),
    AlertKind(
        "stream_unhealthy",
        "The streaming ingest is unhealthy",
        "critical",
        "bikeshare_stream's monitor failed: job not running, stale data, dead-letter share, or stale station status",
        "Read the problem list in the alert, run `make stream-state`, and follow the runbook paragraph of each "
        "problem (job_not_running, no_rows, stale, dead_letter_share, bigquery_unreachable, station_status_stale).",
    ),
    AlertKind(
        "stream_drained_too_long",
        "The streaming ingest has been stopped for too long",
        "error",
        "the streaming job was stopped on purpose (drained or cancelled) longer ago than "
        "BIKESHARE_STREAM_DRAINED_ALERT_HOURS (24 h): nothing new is ingested",
        "Decide: if the stop was not meant to last, trigger bikeshare_stream with action = start "
        "(`make stream-start`); if it is, raise BIKESHARE_STREAM_DRAINED_ALERT_HOURS for the deployment.",
    ),
    AlertKind(
        "predictions_late",
        "The hour's predictions are late",
        "critical",
        "hour T's predictions are not in station_predictions by T + 15 min",
        "Open bikeshare_train_predict's run for the hour: if wait_for_features is still waiting, check "
        "bikeshare_features; if a task failed, fix it and clear it; then rerun the hour's bikeshare_monitoring.",
    ),
    AlertKind(
        "model_worse_than_naive",
        "The served model does not beat naive",
        "warning",
        "the served model's 7-day live MAE is not below the best naive baseline's",
        "Compare model and baselines in model_performance (window 7d), check feature_drift and the serving "
        "version; retrain on a recent window or roll back to an earlier promoted model.",
    ),
    AlertKind(
        "station_error",
        "One station's forecast error exploded",
        "warning",
        "a station's live error over the last 24 h exploded",
        "Look at the named stations' last 24 h in station_predictions against station_hourly_labels and their "
        "status feed: a broken dock, an event nearby or a data fault; fix the data or note the event.",
    ),
    AlertKind(
        "feature_drift",
        "Feature drift against the training window",
        "warning",
        "a feature's distribution this week moved away from the serving model's training window",
        "Read the hour's rows in feature_drift: a data fault (fix the input, rebuild the features) or a real "
        "change (let training catch up, watch model_worse_than_naive).",
    ),
    AlertKind(
        "model_unverifiable",
        "A model on the bucket failed verification",
        "error",
        "a model version on the bucket failed verification: skipped, an older verified one predicts",
        "Do what the alert's 'To do' says: delete that version's folder on the bucket and rerun its hour of "
        "bikeshare_train_predict to retrain it; until then every run skips it and alerts again.",
    ),
    AlertKind(
        "unflagged_stockout",
        "A stockout the plan did not flag",
        "warning",
        "a station sat empty or full for more than 30 min in a plan hour whose plan had not flagged it "
        "(1-hour risk below the service level, no move)",
        "Check each named station's risk in station_risk and its reports in station_status for the plan hour; "
        "if the same stations are missed often, lower BIKESHARE_REBALANCING_SERVICE_LEVEL.",
    ),
    AlertKind(
        "google_service_unreachable",
        "A Google service does not answer",
        "critical",
        "a Google service the product uses (Pub/Sub, BigQuery, Cloud Storage; locally also the metadata stand-in) "
        "did not answer its probe within 20 s, answered with a server error, or denied access",
        "Read which service, endpoint and error the alert names. Local: `make stack-status`, then `make stack-up` "
        "to start what is down (its log: .local/logs/<service>.log). gcp: the Google Cloud status page for an "
        "incident, then the deployment's service account roles (IAM) and egress to the endpoint.",
    ),
)

KINDS: dict[str, str] = {name: k.meaning for name, k in REGISTRY.items()}  # kind -> what it means


def runbook_url(kind: str, environ: Mapping[str, str] | None = None) -> str:
    """The runbook entry of ``kind``: ``$BIKESHARE_RUNBOOK_BASE_URL#<kind>`` (default ``docs/runbook.md``, the
    repository-relative path; set the variable to the file's web address, e.g. on the Git host)."""
    env = os.environ if environ is None else environ
    base = env.get(RUNBOOK_BASE_URL_VAR, "").strip() or RUNBOOK_PATH
    return f"{base.split('#')[0]}#{REGISTRY[kind].anchor}"


@dataclass(frozen=True)
class Alert:
    """What happened, where, and when, what to do first and where the runbook says more; the same fields in
    every channel. ``severity``, ``next_step`` and ``runbook`` come from the kind's :data:`REGISTRY` entry."""

    kind: str
    summary: str
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    severity: str = field(init=False, default="")
    next_step: str = field(init=False, default="")
    runbook: str = field(init=False, default="")
    system_id: str | None = None  # the bike share system a per-system task worked on (issue 24)

    def __post_init__(self) -> None:
        if self.kind not in REGISTRY:
            raise ValueError(f"unknown alert kind {self.kind!r}: expected one of {sorted(REGISTRY)}")
        entry = REGISTRY[self.kind]
        object.__setattr__(self, "severity", entry.severity)
        object.__setattr__(self, "next_step", entry.next_step)
        object.__setattr__(self, "runbook", runbook_url(self.kind))

    @property
    def headline(self) -> str:
        """One line: kind, where, and what happened (the e-mail's subject)."""
        where = ".".join(p for p in (self.dag_id, self.task_id) if p)
        where += f"[{self.system_id}]" if self.system_id else ""  # a per-system task: which system
        return f"[bikeshare {self.kind}] {where} {self.run_id or ''}: {self.summary}".replace("  ", " ")

    @property
    def text(self) -> str:
        """The message of Slack and the e-mail: the headline, the next step and the runbook link, a line each."""
        return f"{self.headline}\nNext step: {self.next_step}\nRunbook: {self.runbook}"

    @property
    def line(self) -> str:
        """The same on one line (the task log's)."""
        return f"{self.headline} | Next step: {self.next_step} | Runbook: {self.runbook}"

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
            system_id=system_of(context),
        )


def system_of(context: Any) -> str | None:
    """The system of a per-system task: what the task put in its context, else its mapped ``system_id`` argument."""
    if not context:
        return None
    if context.get("system_id"):
        return str(context["system_id"])
    task = context.get("task")
    value = (getattr(task, "op_kwargs", None) or {}).get("system_id")
    return value if isinstance(value, str) else None


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
    link = html.escape(alert.runbook, quote=True)
    body = (
        f"<p>{html.escape(alert.headline)}</p>"
        f"<p><b>Next step:</b> {html.escape(alert.next_step)}</p>"
        f'<p><b>Runbook:</b> <a href="{link}">{link}</a></p>'
        f"<pre>{html.escape(json.dumps(alert.details, indent=2, default=str))}</pre>"
    )
    subject = " ".join(alert.headline.split())[:200]  # one header line
    SmtpNotifier(to=to, smtp_conn_id=SMTP_CONN_ID, subject=subject, html_content=body).notify(context or {})


def send(alert: Alert, context: Any = None, settings: Settings | None = None) -> list[str]:
    """Deliver ``alert`` to every configured channel; returns the channels that took it.

    With an Airflow ``context``, an alert that does not say where it comes from gets the DAG, run and task.
    """
    s = settings or get_settings()
    if context and alert.dag_id is None:
        where = Alert.from_context(alert.kind, alert.summary, context)
        alert = replace(
            alert, dag_id=where.dag_id, run_id=where.run_id, task_id=where.task_id, system_id=where.system_id
        )
    log.error("ALERT %s", alert.line)
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


class AlertRaised(AirflowFailException):
    """A task sent its alert(s) and fails: red in the UI, not retried, and no second alert from the failure
    callback (:class:`AlertNotifier` sees this type). ``kinds``: the kinds sent; ``result``: what the task
    would have returned (its summary, logged since a failed task pushes no XCom)."""

    def __init__(self, message: str, kinds: Sequence[str] = (), result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kinds = tuple(kinds)
        self.result = dict(result or {})

    def __reduce__(self) -> tuple:  # pickled or copied with its kinds and result
        return (type(self), (*self.args, self.kinds, self.result))


def raise_alerts(
    found: Sequence[Alert],
    context: Any = None,
    settings: Settings | None = None,
    result: Mapping[str, Any] | None = None,
) -> None:
    """Send every alert of ``found``, then fail the task with :class:`AlertRaised`; nothing found: return.

    The checks end with this, so a task that alerted is never green (issue 23 §4)."""
    if not found:
        return
    for alert in found:
        send(alert, context, settings)
    if result:
        log.info("the task's result, not pushed as an XCom since it fails: %s", json.dumps(result, default=str))
    kinds = list(dict.fromkeys(a.kind for a in found))
    summary = "; ".join(a.summary for a in found)
    raise AlertRaised(f"alerted {', '.join(kinds)}: {summary}"[:4000], kinds, result)


def kind_of_failure(exception: BaseException | None) -> str:
    """The alert kind of a failed task: the stream monitor's verdict has its own."""
    from include.beam.control.stream_health import StreamUnhealthy

    return "stream_unhealthy" if isinstance(exception, StreamUnhealthy) else "task_failed"


class AlertNotifier(BaseNotifier):
    """Failure callback of every task: the exception, the task and the run, to every alert channel; a task
    that failed on :class:`AlertRaised` has sent its own alert, so nothing more is sent."""

    def notify(self, context: Any) -> None:
        exception = context.get("exception")
        if isinstance(exception, AlertRaised):
            log.info("the task failed on its own alert (%s): no task_failed alert", ", ".join(exception.kinds))
            return
        summary = f"{type(exception).__name__}: {exception}" if exception else "failed"
        ti = context.get("ti")
        problems = [str(p.kind) for p in getattr(exception, "problems", ())]  # StreamUnhealthy's, for the runbook
        alert = Alert.from_context(
            kind_of_failure(exception),
            summary[:2000],
            context,
            try_number=getattr(ti, "try_number", None),
            log_url=getattr(ti, "log_url", None),
            **({"problems": problems} if problems else {}),
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


def unverifiable_alerts(published: Mapping[str, Any]) -> list[Alert]:
    """A ``model_unverifiable`` alert for each version the publish step skipped (its XCom's ``unverifiable``,
    from include/ml/registry.py): what failed, where, which version predicts instead, and what to do.
    ``bikeshare_train_predict.report_unverifiable`` raises them (:func:`raise_alerts`): that task is red,
    publish and the predictions stay green."""
    serving = published["serving_version"]
    instead = (
        f"predictions for {published['version']} use {serving}, the newest verified promoted model"
        if serving
        else f"no verified promoted model is left: no predictions for {published['version']}"
    )
    return [
        Alert(
            "model_unverifiable",
            f"model {bad['version']} failed verification and was skipped: {bad['reason']} ({bad['object']}); "
            f"{instead}. To do: {bad['todo']}; until then every run skips it and alerts again.",
            details={**bad, "serving_version": serving, "hour": published["version"]},
        )
        for bad in published["unverifiable"]
    ]


def unverifiable_models(
    published: Mapping[str, Any], context: Any = None, settings: Settings | None = None
) -> list[Alert]:
    """Send :func:`unverifiable_alerts` without failing anything (outside a task: the faults report)."""
    sent = unverifiable_alerts(published)
    for alert in sent:
        send(alert, context, settings)
    return sent
