"""Every DAG's time limits in one place (issue 23 §3): each task's ``execution_timeout``, each sensor's
``timeout`` and each DAG's ``dagrun_timeout``.

Sized from measurement: a task gets at least 3 x the worst duration measured (the figure under load where
there is one; :attr:`DagTimeouts.measured`, checked by the test), and by default :data:`FLOOR` (5 min: a
client call that hangs - the Pub/Sub emulator down, ``bikeshare_stream.ensure_resources`` silent for 4.5 min
and more - is cut there and retried, then alerts as ``task_failed``). The sources, per value:

- "demo": the task instances of the local ``dag.test()`` demo runs (``.local/airflow/airflow.db``, the
  ``.local/demo-<dag>.log`` files; 2026-12-07, 3-13 runs per task, max of the end - start);
- "docs": ``docs/benchmarks.md`` (every measured figure and its history), with the machine's load.

A DAG's ``dagrun_timeout`` is at least its critical path (the sum of the timeouts along its longest chain,
a sensor counting its ``timeout`` plus one poke; ``tests/dags/test_timeouts.py`` checks it). A run that
exceeds it fails, its unfinished tasks are skipped (no task alert then), so every DAG also has
:class:`DagRunTimeoutAlert`: the run's time-out alerts as ``task_failed`` with what it exceeded.

``BIKESHARE_TIMEOUT_SCALE`` (a positive number, default 1) multiplies every value at parse time, for a
slower machine; the ratios between them, and so the checks, stay the same. DAG files read only this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from airflow.sdk.bases.notifier import BaseNotifier

SCALE_VAR = "BIKESHARE_TIMEOUT_SCALE"
FLOOR = timedelta(minutes=5)


def scale() -> float:
    """``BIKESHARE_TIMEOUT_SCALE`` (default 1); anything but a positive number is an error at parse."""
    raw = os.environ.get(SCALE_VAR, "").strip()
    value = float(raw) if raw else 1.0
    if not value > 0:
        raise ValueError(f"{SCALE_VAR} must be a positive number, not {raw!r}")
    return value


@dataclass(frozen=True)
class DagTimeouts:
    """One DAG's limits: ``task`` for every task (its ``default_args``), ``tasks`` for the tasks that
    need more, ``sensors`` the sensors' total wait (their ``timeout``; each poke gets ``task``).
    ``measured``: each task's worst measured seconds (a sensor: one poke), which its limit is >= 3 x of."""

    dagrun: timedelta
    measured: Mapping[str, float]
    task: timedelta = FLOOR
    tasks: Mapping[str, timedelta] = field(default_factory=dict)
    sensors: Mapping[str, timedelta] = field(default_factory=dict)

    def _scaled(self, value: timedelta) -> timedelta:
        return value * scale()

    @property
    def dagrun_timeout(self) -> timedelta:
        return self._scaled(self.dagrun)

    def execution(self, task_id: str | None = None) -> timedelta:
        """The ``execution_timeout`` of ``task_id`` (None: the DAG's default)."""
        return self._scaled(self.tasks.get(task_id, self.task) if task_id else self.task)

    def sensor(self, task_id: str) -> timedelta:
        """The sensor's ``timeout``: how long it waits in all, over its pokes and reschedules."""
        return self._scaled(self.sensors[task_id])

    def dag_args(self) -> dict[str, Any]:
        """The ``@dag`` keywords: ``dagrun_timeout`` and the time-out alert."""
        return {"dagrun_timeout": self.dagrun_timeout, "on_failure_callback": DagRunTimeoutAlert()}


class DagRunTimeoutAlert(BaseNotifier):
    """A DAG's failure callback: alerts when the run exceeded its ``dagrun_timeout`` (the scheduler then
    skips its unfinished tasks, so no task alert fires). Any other run failure already alerted through
    the failed task's own callback (``include/monitoring/alerts.py``), so it is not sent twice."""

    template_fields = ()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render; and a DAG's callback gets the scheduler's SerializedDAG, which has no template
        environment for BaseNotifier's default (Airflow 3.3: "Callback failed ... get_template_env")."""
        return None

    def notify(self, context: Any) -> None:
        if context.get("reason") != "timed_out":
            return
        from include.monitoring.alerts import AlertNotifier

        dag = context.get("dag")
        limit = getattr(dag, "dagrun_timeout", None)
        ti = context.get("ti") or context.get("task_instance")
        where = f"; {ti.task_id} was still {ti.state}" if ti is not None else ""
        error = TimeoutError(f"the DAG run exceeded its dagrun_timeout of {limit}{where} (include/timeouts.py)")
        AlertNotifier().notify({**context, "exception": error})


M = timedelta(minutes=1)
H = timedelta(hours=1)

# Every 15 min, max_active_runs=1. Demo: dbt_build 14.8-33.3 s, source_freshness 4.5 s, the marks <= 1.6 s;
# docs: a full refresh 466 s (load 4.6-5.4), the demo's first feature build 600 s and more at load 8-12.
# A normal run takes < 1 min; a first build or full refresh can legitimately run past the 15 min (the next
# run then waits: max_active_runs=1), never past dagrun_timeout.
FEATURES = DagTimeouts(
    dagrun=45 * M,
    measured={
        "source_freshness": 4.5,
        "mark_building": 1.6,
        "dbt_build": 600,
        "features_ready": 0.2,
    },  # critical path 5 + 5 + 30 + 5 = 45 min
    tasks={"dbt_build": 30 * M},  # 3 x 600 s (first build at load 8-12); 54 x a normal run's 33 s
)

# Every minute, max_active_runs=1. Demo: poll_feed 0.1-10.0 s; every feed file has a 10 s HTTP timeout
# (BIKESHARE_GBFS_TIMEOUT_SECONDS). A poll is a snapshot of now: a later run is worth more than a stuck one.
INVENTORY = DagTimeouts(
    dagrun=5 * M,
    # systems: 0.03 s (4 table reads; 0.31 s creating the GBFS tables), rounded up. poll_feed, once per system, can
    # pass the minute: a slow BigQuery write may hold the next poll, 2 tries at most
    measured={"systems": 0.5, "poll_feed": 10.0},
    task=2 * M,  # 12 x 10.0 s; 3 x four feed files at their 10 s HTTP timeout
)

# Hourly at :15, max_active_runs=2. Demo: score_served_model 6.2-18.4 s, feature_drift <= 6.8 s, the rest
# <= 7.8 s; docs: the monitoring DAG run 14.7-20.4 s (docs/benchmarks.md, load 0.5-1). The outcomes sensor waits up
# to 2 h by design (the labels of the hour before need a verified feature run), so a run may last > 1 h.
MONITORING = DagTimeouts(
    dagrun=150 * M,
    measured={
        "within_data": 17.8,  # the demo beside 6 CPU burners (load ~9), with the task's start-up; gcp: no query
        "predictions_fresh": 6.2,
        "wait_for_outcomes": 7.8,
        "systems": 0.5,  # reads the systems file
        "build_model_scores": 18.4,  # the dbt build; measured as score_served_model before it was split per system
        "score_served_model": 18.4,  # one system's reads of the scores: bounded by the combined task it was
        "feature_drift": 6.8,
        "unflagged_stockouts": 0.6,
    },  # critical path: sensor 2 h + one 5-min poke + build 15 min + a system's checks = 140 min + the checks
    tasks={"build_model_scores": 15 * M, "feature_drift": 10 * M},  # dbt under load; 49 x / 88 x the demo max
    sensors={"wait_for_outcomes": 2 * H},
)

# Manual. Demo: ensure_pubsub 3.7-11.6 s; replay 0.8-2.7 s (a day of trips at the default speed_up 3600
# = 24 s of event time per day); docs: ingest ~1,400-1,650 events/s, so a month (98,488 events) at
# speed_up 0 ~70 s, at 3600 720 s. A longer replay (a slower speed_up, several months) needs a larger
# BIKESHARE_TIMEOUT_SCALE or the CLI (python -m include.simulator).
REPLAY = DagTimeouts(
    dagrun=130 * M,
    measured={"ensure_pubsub": 11.6, "replay": 2.7},  # 5 + 120 min
    tasks={"replay": 2 * H},  # 10 x a month at the default speed_up (720 s)
)

# Manual. Demo: ensure_bucket <= 10.1 s, ensure_bigquery <= 5.7 s, ensure_pubsub <= 3.6 s,
# load_dbt_seeds 5.3-14.7 s (dbt seed 0.6-1.7 s of it; the rest is dbt starting, slower under load).
SETUP = DagTimeouts(
    dagrun=20 * M,
    measured={
        "ensure_pubsub": 3.6,
        "ensure_bigquery": 5.7,
        "ensure_bucket": 10.1,
        "load_dbt_seeds": 14.7,
    },  # critical path ensure_bigquery 5 + load_dbt_seeds 10 = 15 min
    tasks={"load_dbt_seeds": 10 * M},  # 40 x 14.7 s: dbt's start-up is what load slows
)

# Every 15 min, max_active_runs=1. Demo (13 runs): start_job 15.5 s (the local DirectRunner's start),
# choose_action 10.5 s, drain_job 3.7 s, monitor 3.0 s, ensure_resources 2.8 s (4.5 min and more when the
# Pub/Sub emulator was down: the hang issue 23 §3 is about; its create calls now end at 120 s with an error
# naming the service, include/gcp/resources.py). drain_job waits up to the run's
# drain_timeout_seconds (default 600 s, at most DRAIN_MAX_SECONDS): a drain run legitimately exceeds 15 min.
# The run path (choose, ensure, start, monitor) fits in 20 min; a hung call is cut at 5 min and retried.
STREAM = DagTimeouts(
    dagrun=35 * M,
    measured={
        "choose_action": 10.5,
        "ensure_resources": 2.8,
        "start_job": 15.5,
        "monitor": 3.0,
        "drain_job": 3.7,
    },  # drain path 5 + 30 = 35 min; the run path 5 + 5 + 5 + 5 = 20 min
    tasks={"drain_job": 30 * M},  # the drain wait (<= DRAIN_MAX_SECONDS) + 5 min to find and stop the job
)
DRAIN_MAX_SECONDS = 25 * 60  # the largest drain_timeout_seconds a run may ask for: drain_job's limit - 5 min

# Hourly, max_active_runs=4. Demo: the model reused: train_and_evaluate <= 1.8 s, plan_rebalancing 5.8 s,
# publish 5.8 s, predict 2.9 s; docs: train + predict + plan 340-356 s in `make demo` (load 2-5.4; fit 291 s
# of a 357-s calibration run at load 5-6), the plan 60 s under load at the old 20 s solver limit, 500
# stations 29-34 s; the calibration replay + risk 9 s, its features 28 s. The feature sensor waits up to
# 3 h by design (its time-out is the alert that features are stuck), so a run may last > 1 h.
TRAIN_PREDICT = DagTimeouts(
    # within_data 5 + features sensor 3 h + poke 5 + systems 5 + train 65 + publish 5 + serving sensor 70 + poke 5 +
    # predict 10 + write 5 + plan 10 = 6 h 5 min (the chain of the hourly cadence; daily serves without the fit)
    dagrun=6 * H + 15 * M,
    measured={  # demo maxima, or the docs' figure under load where larger
        "within_data": 19.5,  # the demo beside 6 CPU burners (load ~9), with the task's start-up; gcp: no query
        "wait_for_features": 6.4,
        "systems": 0.5,  # reads the systems CSV; the mapped group (issue 24) runs once per system below
        # one system's 26-week fit at 500 stations, 1,236.6 s at load 1.0-2.5 (docs/country.md §8)
        "per_system.train_and_evaluate": 1236.6,
        "per_system.publish": 5.8,
        "per_system.serving_model": 5.8,  # one poke: the registry's pointer, the served record (publish's reads)
        "per_system.report_unverifiable": 0.5,  # demo runs 0.11 s (nothing to report); an alert to send: under 0.5 s
        "per_system.predict": 20.4,
        "per_system.write_predictions": 0.3,
        "per_system.calibrate_risk": 37,
        "per_system.plan_rebalancing": 60,
    },
    tasks={
        "per_system.train_and_evaluate": 65
        * M,  # 3 x 1,236.6 s; 11 x the demo's 356 s (train + predict + plan at load 5.4)
        "per_system.predict": 10 * M,  # 30 x 20.4 s (168 hours served, docs/benchmarks.md); 200 x the demo's 2.9 s
        "per_system.plan_rebalancing": 10 * M,  # 10 x the 60 s under load; 17 x 34 s for 500 stations
        "per_system.calibrate_risk": 10 * M,  # 15 x 37 s (features 28 s + replay and risk 9 s for 14 days)
    },
    # serving_model waits for the hour's own fit only under the hourly cadence or a system's first fit: train + publish
    sensors={"wait_for_features": 3 * H, "per_system.serving_model": 70 * M},
)

# Every 4 min, max_active_runs=1, not retried (a retry would only delay the alert). check_google_services
# (include/monitoring/services.py) probes side by side, each call limited to 20 s with its retries, the whole
# check to 30 s: measured 0.02-1.2 s with every service up, 6.8-19.6 s with one down (a closed port:
# tests/monitoring/test_services.py; a port that never answers 10.0-20.7 s), on the loaded 2-core machine.
# The run ends before the next one is due, so a hung run never holds the next check.
SERVICES = DagTimeouts(
    dagrun=4 * M,
    measured={"check_google_services": 30.0},  # the check's own cap (Budget.overall), above every measurement
    task=2 * M,  # 4 x 30 s
)

ALL: dict[str, DagTimeouts] = {
    "bikeshare_features": FEATURES,
    "bikeshare_inventory": INVENTORY,
    "bikeshare_monitoring": MONITORING,
    "bikeshare_replay": REPLAY,
    "bikeshare_services": SERVICES,
    "bikeshare_setup": SETUP,
    "bikeshare_stream": STREAM,
    "bikeshare_train_predict": TRAIN_PREDICT,
}
