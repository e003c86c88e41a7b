"""``bikeshare_stream``'s monitor step: measure the streaming ingest, judge it, and alert at once.

- **stream_unhealthy** goes out on the first measurement whose verdict is a problem
  (:func:`include.beam.control.stream_health.check_health`), in the task's first try: the task then fails
  with :class:`~include.monitoring.alerts.AlertRaised`, which Airflow does not retry (a retry would measure
  the same stream again, two minutes later) and after which the failure callback sends nothing more.
- Only a measurement that could not be made (``bigquery_unreachable``: BigQuery did not answer within
  ``QUERY_DEADLINE_S``) is measured again inside the task, ``MEASURE_ATTEMPTS`` times in all and
  ``MEASURE_PAUSE_S`` apart, before it alerts as such: a blip of a few seconds is not paged, an outage is,
  within the task's first try (worst case 3 x 60 s + 2 x 10 s = 200 s, under the task's 5 minutes).
- **stream_drained_too_long**: a job stopped on purpose (drained, cancelled) is not judged on its data, but
  once it has been stopped longer than ``BIKESHARE_STREAM_DRAINED_ALERT_HOURS`` (default 24) it alerts, on
  every scheduled run until someone starts it (``action = start``) or raises the limit. The stop time is
  the start step's :attr:`~include.beam.control.job.JobInfo.stopped_at`: the local drain marker, Dataflow's
  ``currentStateTime``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from include.beam.control.job import JobInfo, StreamingJob
from include.beam.control.stream_health import (
    MAX_DEAD_LETTER_SHARE,
    MAX_STALENESS,
    WINDOW,
    HealthReport,
    ProblemKind,
    StreamUnhealthy,
    check_health,
)
from include.gcp.settings import EnvReader, Settings, SettingsError
from include.monitoring import alerts

log = logging.getLogger(__name__)

DRAINED_ALERT_HOURS_VAR = "STREAM_DRAINED_ALERT_HOURS"  # BIKESHARE_STREAM_DRAINED_ALERT_HOURS
DRAINED_ALERT_HOURS = 24.0
MEASURE_ATTEMPTS = 3  # measurements of one task try when BigQuery does not answer
MEASURE_PAUSE_S = 10.0


def drained_alert_limit(environ: Mapping[str, str] | None = None) -> timedelta:
    """How long a job may stay stopped on purpose before it alerts (``BIKESHARE_STREAM_DRAINED_ALERT_HOURS``)."""
    read = EnvReader() if environ is None else EnvReader(environ)
    hours = read.number(DRAINED_ALERT_HOURS_VAR, DRAINED_ALERT_HOURS)
    if hours <= 0:
        raise SettingsError(f"BIKESHARE_{DRAINED_ALERT_HOURS_VAR}={hours}: expected a positive number of hours")
    return timedelta(hours=hours)


def stopped_for(started: JobInfo, now: datetime) -> timedelta | None:
    """How long the job the start step found stopped on purpose has been stopped; None: not stopped on
    purpose (or started again in this run), or the backend cannot tell since when."""
    if started.created or not started.state.stopped_on_purpose or not started.stopped_at:
        return None
    since = datetime.fromisoformat(started.stopped_at.replace("Z", "+00:00"))
    return now - (since if since.tzinfo else since.replace(tzinfo=UTC))


def drained_too_long(started: JobInfo, now: datetime, limit: timedelta) -> alerts.Alert | None:
    """The ``stream_drained_too_long`` alert a job stopped on purpose for longer than ``limit`` calls for."""
    stopped = stopped_for(started, now)
    if stopped is None or stopped <= limit:
        return None
    hours, limit_hours = stopped.total_seconds() / 3600, limit.total_seconds() / 3600
    return alerts.Alert(
        "stream_drained_too_long",
        f"streaming job {started.name} has been {started.state} for {hours:.1f} h (since {started.stopped_at}), "
        f"longer than BIKESHARE_{DRAINED_ALERT_HOURS_VAR} = {limit_hours:g} h: nothing new reaches raw_events. "
        "To do: trigger bikeshare_stream with action = start (make stream-start) if the stop was not meant to "
        "last; otherwise raise the limit.",
        details={
            "job": started.name,
            "job_id": started.job_id,
            "state": str(started.state),
            "stopped_at": started.stopped_at,
            "stopped_hours": round(hours, 2),
            "limit_hours": limit_hours,
        },
    )


def _measure(
    measure: Callable[[], HealthReport], attempts: int, pause: float, sleep: Callable[[float], None]
) -> HealthReport:
    """``measure()``, again up to ``attempts`` in all while BigQuery alone is the problem; the last verdict."""
    for attempt in range(1, attempts + 1):
        try:
            return measure()
        except StreamUnhealthy as err:
            unreachable = [p.kind for p in err.problems] == [ProblemKind.BIGQUERY_UNREACHABLE]
            if not unreachable or attempt == attempts:
                raise
            log.warning(
                "measurement %d of %d could not read BigQuery, again in %.0f s: %s", attempt, attempts, pause, err
            )
            sleep(pause)
    raise AssertionError("unreachable")  # the loop returns or raises


def monitor(
    settings: Settings,
    job: StreamingJob,
    started: JobInfo,
    context: Any = None,
    *,
    max_staleness: timedelta = MAX_STALENESS,
    max_dead_letter_share: float = MAX_DEAD_LETTER_SHARE,
    window: timedelta = WINDOW,
    drained_limit: timedelta | None = None,
    attempts: int = MEASURE_ATTEMPTS,
    pause: float = MEASURE_PAUSE_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The monitor task: the health report (an XCom) when all is well; otherwise every alert found,
    sent now, and the task failed (:func:`alerts.raise_alerts`)."""
    limit = drained_limit or drained_alert_limit()

    def measure() -> HealthReport:
        state = job.state()
        return check_health(
            settings,
            state,
            started=started,
            job_error=job.last_error() if state.is_failure else "",
            max_staleness=max_staleness,
            max_dead_letter_share=max_dead_letter_share,
            window=window,
        )

    found: list[alerts.Alert] = []
    report: HealthReport | None = None
    try:
        report = _measure(measure, attempts, pause, sleep)
    except StreamUnhealthy as err:
        ti = (context or {}).get("ti")
        found.append(
            alerts.Alert(
                "stream_unhealthy",
                f"{type(err).__name__}: {err}"[:2000],
                details={
                    "problems": [str(p.kind) for p in err.problems],
                    "try_number": getattr(ti, "try_number", None),
                    "log_url": getattr(ti, "log_url", None),
                },
            )
        )
    now = report.checked_at if report else datetime.now(UTC)
    if (late := drained_too_long(started, now, limit)) is not None:
        found.append(late)
    result = report.to_dict() if report else {}
    if report:
        for note in report.notes:
            log.warning(note)
        stopped = stopped_for(started, now)
        if stopped is not None and late is None:
            log.info("job %s stopped %.1f h ago; alerts after %s", started.name, stopped.total_seconds() / 3600, limit)
        elif started.state.stopped_on_purpose and not started.created and not started.stopped_at:
            log.warning("job %s is %s since a time the backend does not say: not judged", started.name, started.state)
    alerts.raise_alerts(found, context, settings, result)
    return result
