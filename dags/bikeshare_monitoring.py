"""
### bikeshare_monitoring - is the service healthy, does the served model still beat naive, did the plan miss?

Every hour at :15, for the hour `T` the run's logical date falls in (a manual run is floored):

0. **within_data** - on the `local` profile only, a run whose hour lies outside the replayed data (the
   wall-clock hours Airflow schedules once the DAG is unpaused) is **skipped** with the reason, so nothing
   waits or alerts (`include/gcp/data_span.py`); the `gcp` profile never skips.

Each check runs once per enabled system (mapped over `systems()`, the map index named by the system; an alert
names it): a system's failure is its own. The sensor and the dbt build are shared: one dbt run serves them all.

1. **predictions_fresh** - hour `T`'s forecasts must be in `station_predictions` by `T + 15 min`
   (bikeshare_train_predict loads each hour's Avro rows there); otherwise alert `predictions_late`.
2. **wait_for_outcomes** - sensor (reschedule, 2 h timeout) until a verified feature-store run labelled
   the hour before `T` (the training sensor's rule, `include/gcp/feature_runs.py`).
3. **build_model_scores** - `dbt build --select tag:monitoring` (models and their tests), every system's:
   `model_performance` scores the served forecasts and the four naive baselines on the outcomes, rolling 24 h and 7 d
   (MAE, RMSE, precision@10), and the plan's risks of empty / full within 1 h and 3 h on the GBFS status
   (Brier score, predictors `risk_*`). Then **score_served_model**, per system, alerts `model_worse_than_naive`
   when the model's 7-day MAE is not below the best baseline's, `station_error` when one station's 24-h MAE
   explodes.
4. **feature_drift** - population stability index of each feature over the week before `T` against the
   serving model's training rows, into `feature_drift`; alert `feature_drift` for a feature above its own bar
   (3 x the week-to-week PSI its training weeks showed; calendar features never) or stuck at one value all week.
5. **unflagged_stockouts** - the plan hour `T - 1h`, now passed: a station empty or full for more than
   30 consecutive minutes (`station_status`, clipped to the hour) that the plan had not flagged (1-hour
   risk below the service level, no move to or from it) alerts `unflagged_stockout`; an hour the status
   feed does not cover yet is skipped. Independent of the outcomes sensor: it reads the feed, not the labels.

A failed task alerts too (`task_failed`), as in every DAG; a check that alerts fails its own task, without
a second `task_failed` alert. Alerts, limits and channels: docs/operations.md; code: `include/monitoring`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import dag, get_current_context, task

from include.hours import Hour
from include.mapped import SYSTEM_LABEL, system_settings
from include.monitoring.alerts import default_args
from include.timeouts import MONITORING as TIMEOUTS

DEFAULT_ARGS = default_args("ml-platform", execution_timeout=TIMEOUTS.execution())  # alerts on a final failure


@dag(
    dag_id="bikeshare_monitoring",
    schedule="15 * * * *",
    start_date=datetime(2019, 1, 1),  # the replayed months can be monitored too (manual runs, backfills)
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout (the outcomes sensor waits up to 2 h) and its alert
    tags=["bikeshare", "ml", "monitoring"],
    doc_md=__doc__,
)
def bikeshare_monitoring() -> None:
    @task
    def within_data(logical_date=None) -> str:
        from include.gcp import data_span

        # local profile only: a wall-clock hour of no replayed data is skipped with the reason
        return data_span.skip_outside_data(Hour.floor(logical_date).start)

    @task
    def systems() -> list[str]:
        from include.systems import enabled_system_ids

        return enabled_system_ids()

    @task(map_index_template=SYSTEM_LABEL)
    def predictions_fresh(system_id: str, logical_date=None) -> dict[str, Any]:
        from include.monitoring import hourly

        s = system_settings(system_id)
        return hourly.predictions_fresh(Hour.floor(logical_date).start, get_current_context(), s)

    @task.sensor(poke_interval=60, timeout=TIMEOUTS.sensor("wait_for_outcomes"), mode="reschedule")
    def wait_for_outcomes(logical_date=None) -> bool:
        from include.monitoring import hourly

        # one dbt run labels every system: one wait for the country
        return hourly.outcomes_ready(Hour.floor(logical_date).start)

    @task(execution_timeout=TIMEOUTS.execution("build_model_scores"))
    def build_model_scores(logical_date=None) -> dict[str, Any]:
        from include.monitoring import hourly

        return hourly.build_scores(Hour.floor(logical_date).start)  # every system's, in one dbt build

    @task(map_index_template=SYSTEM_LABEL)
    def score_served_model(system_id: str, logical_date=None) -> dict[str, Any]:
        from include.monitoring import hourly

        s = system_settings(system_id)
        return hourly.check_scores(Hour.floor(logical_date).start, get_current_context(), s)

    @task(execution_timeout=TIMEOUTS.execution("feature_drift"), map_index_template=SYSTEM_LABEL)
    def feature_drift(system_id: str, logical_date=None) -> dict[str, Any]:
        from include.monitoring import hourly

        s = system_settings(system_id)
        return hourly.feature_drift(Hour.floor(logical_date).start, get_current_context(), s)

    @task(map_index_template=SYSTEM_LABEL)
    def unflagged_stockouts(system_id: str, logical_date=None) -> dict[str, Any]:
        from include.monitoring import hourly

        s = system_settings(system_id)
        return hourly.unflagged_stockouts(Hour.floor(logical_date).start, get_current_context(), s)

    gate, ids, outcomes = within_data(), systems(), wait_for_outcomes()
    gate >> [ids, outcomes]
    predictions_fresh.expand(system_id=ids)
    unflagged_stockouts.expand(system_id=ids)
    outcomes >> build_model_scores() >> score_served_model.expand(system_id=ids)
    outcomes >> feature_drift.expand(system_id=ids)


bikeshare_monitoring()
