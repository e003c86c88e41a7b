"""
### bikeshare_stream — keep the streaming ingest job running, and watch it

Every 15 minutes: make sure the topic, subscription, dataset and tables exist, start the streaming
job **only if none with its name is active** (a retry or a second trigger never makes a duplicate),
then check it: job state, data freshness (now - newest `raw_events.ingested_at`) and the
dead-letter share of the last window. An unhealthy stream alerts `stream_unhealthy` at once, in the
monitor's first try, listing every problem, and the monitor fails without retrying; only a BigQuery
that does not answer is measured again inside the try, 3 times 10 s apart (`include/monitoring/stream.py`).

- **Failed job:** the start step replaces it and logs why it ended (the pipeline's log tail
  locally, Dataflow's error messages on gcp); the monitor then judges the data in full.
- **Stop:** trigger with `action = drain`. The job is **drained, never cancelled** (stops reading,
  finishes what it holds). A drained (or cancelled) job stays stopped on scheduled runs; trigger with
  `action = start` to start it again (e.g. after a deployment). Stopped longer than
  `BIKESHARE_STREAM_DRAINED_ALERT_HOURS` (24 h), it alerts `stream_drained_too_long` on every run.
- **Backend:** Dataflow in the `gcp` profile, a background DirectRunner process locally (state
  under `.local/stream/`). The DAG does not know which: `include/beam/control/job_control.py`.

No teardown task: in the provider's Dataflow example DAGs the teardown stops a test job, but here
the job must outlive every run; stopping it is the explicit `drain` action.

Time limits (`include/timeouts.py`): each task try 5 min (a hung client call, e.g. with the Pub/Sub
emulator down, is cut, retried twice, then alerts), `drain_job` 30 min (`drain_timeout_seconds` at most
25 min), a run 35 min (a drain may outlast the 15 minutes; the next run waits for it, never longer).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import Param, dag, get_current_context, task

from include.monitoring.alerts import default_args
from include.timeouts import DRAIN_MAX_SECONDS
from include.timeouts import STREAM as TIMEOUTS

log = logging.getLogger(__name__)
# alerts on a final failure; a hung client call (the Pub/Sub emulator down) is cut at 5 min and retried
DEFAULT_ARGS = default_args("data-platform", execution_timeout=TIMEOUTS.execution())
PARAMS = {
    "action": Param(
        "run",
        enum=["run", "start", "drain"],
        description="run: keep it running (a drained job stays stopped); start: also after a drain; drain: stop it",
    ),
    "drain_timeout_seconds": Param(600, type="integer", minimum=1, maximum=DRAIN_MAX_SECONDS),  # < drain_job's limit
    "max_staleness_minutes": Param(30, type="number", minimum=0),
    "max_dead_letter_share": Param(0.05, type="number", minimum=0, maximum=1),
    "window_minutes": Param(15, type="number", minimum=1),
}


@dag(
    dag_id="bikeshare_stream",
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout (a drain may outlast the 15 min) and its alert
    params=PARAMS,
    tags=["bikeshare", "ingest", "streaming"],
    doc_md=__doc__,
)
def bikeshare_stream() -> None:
    @task.branch
    def choose_action(params: dict[str, Any]) -> str:
        return "drain_job" if params["action"] == "drain" else "ensure_resources"

    @task
    def ensure_resources() -> list[str]:
        from include.gcp import resources

        return [str(o) for o in resources.ensure_all()]

    @task
    def start_job(params: dict[str, Any]) -> dict[str, Any]:
        from include.beam.control.job_control import streaming_job

        info = streaming_job().start(resume_drained=params["action"] == "start")
        log.info(
            "%s: %s %s (%s) %s",
            info.name,
            "started" if info.created else "found",
            info.job_id,
            info.state,
            info.details,
        )
        return info.to_dict()

    @task
    def monitor(started: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from include.beam.control.job import JobInfo
        from include.beam.control.job_control import streaming_job
        from include.gcp.settings import get_settings
        from include.monitoring import stream

        return stream.monitor(  # alerts in this try and fails when unhealthy or drained too long
            get_settings(),
            streaming_job(),
            JobInfo.from_dict(started),
            get_current_context(),
            max_staleness=timedelta(minutes=params["max_staleness_minutes"]),
            max_dead_letter_share=params["max_dead_letter_share"],
            window=timedelta(minutes=params["window_minutes"]),
        )

    @task(execution_timeout=TIMEOUTS.execution("drain_job"))
    def drain_job(params: dict[str, Any]) -> str:
        from include.beam.control.job import JobState
        from include.beam.control.job_control import streaming_job

        state = streaming_job().drain(timeout=params["drain_timeout_seconds"])
        if state.is_active:  # Dataflow still draining: a retry waits again
            raise RuntimeError(f"the streaming job is still {state} after {params['drain_timeout_seconds']} s")
        if state is JobState.CANCELLED:
            log.warning(
                "the job is CANCELLED (a drain forced after the timeout, or by hand): in-flight data may be lost"
            )
        return str(state)

    branch = choose_action()
    branch >> drain_job()
    started = start_job()
    branch >> ensure_resources() >> started
    monitor(started)


bikeshare_stream()
