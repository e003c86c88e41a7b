"""
### bikeshare_services - do the Google services answer? Every 4 minutes

One task, **check_google_services**: a cheap read of a resource of each Google service the product uses, side by
side, each call limited to 20 s with its retries (the whole check to 30 s):

- **Pub/Sub** - the topic and the subscription;
- **BigQuery** - the dataset;
- **Cloud Storage** - the bucket;
- on the `local` profile, the **metadata-server stand-in** (`google.auth` for Beam).

A service that does not answer (connection refused, a time-out, 503/504), answers with a server error, or denies
access (401/403) alerts **`google_service_unreachable`**, naming the service, the endpoint, the error and the next
step (local: `make stack-status`, `make stack-up`; gcp: the status page, IAM), and the task fails: red, not
retried, no second `task_failed`. A missing resource (NotFound: the service answers) is logged, not alerted
here: the tasks that use it fail and alert, and `bikeshare_setup` creates it. An outage alerts within one
interval plus the ~20 s of the check, on every run until the service is back. Code: `include/monitoring/services.py`;
runbook: `docs/runbook.md#google_service_unreachable`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import dag, get_current_context, task

from include.monitoring.alerts import default_args
from include.timeouts import SERVICES as TIMEOUTS

# not retried: a retry would only delay the alert (a check that alerts fails without retry anyway)
DEFAULT_ARGS = default_args("data-platform", retries=0, execution_timeout=TIMEOUTS.execution())


@dag(
    dag_id="bikeshare_services",
    schedule="*/4 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # a probe is a look at now: a missed interval cannot be checked later
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout (no longer than the 4-min interval) and its alert
    tags=["bikeshare", "monitoring", "platform"],
    doc_md=__doc__,
)
def bikeshare_services() -> None:
    @task
    def check_google_services() -> dict[str, Any]:
        from include.monitoring import services

        return services.check(get_current_context())

    check_google_services()


bikeshare_services()
