"""
### bikeshare_train_predict - hourly training, gated publication and batch prediction

Each run works for its cut-off hour `T` = the run's data-interval end (with Airflow 3's cron timetable,
the logical date), floored to its hour by every task (`include/hours.py`: a manual run at 09:17 is the
09:00 run, with the same version and files):

0. **within_data** - on the `local` profile only, a run whose hour lies outside the replayed data (the
   wall-clock hours Airflow schedules once the DAG is unpaused) is **skipped** with the reason, so nothing
   waits or alerts (`include/gcp/data_span.py`); the `gcp` profile never skips.
1. **wait_for_features** - sensor (reschedule mode, 3 h timeout) until the feature store's run log
   `feature_store_runs` says its data passed the dbt tests (no `bikeshare_features` run is open - every
   `building` row is followed by a `verified` row of the same or a newer `as_of` - and a run verified an
   `as_of` >= `T`), `station_features_wide` has rows as of `T` and `station_hourly_labels` has the hour
   before `T`. The models write their rows before their tests run, so rows alone are not enough: after a
   features run whose tests failed (or that was killed, or while one builds) training waits, and a sensor
   that times out fails the run, which is the alert; the next features run that passes unblocks it. The
   sensor's log says which run holds it. Rule and limits: `include/gcp/feature_runs.py`.
2. **train_and_evaluate** - scikit-learn gradient boosting (Poisson loss on pickups and dropoffs: their
   Skellam median is `predicted_net_change`, scored on MAE; squared error on net change: the mean
   `predicted_net_change_mean`, scored on RMSE) on the label hours `[T - window, T)` (`TrainConfig`),
   features as of each hour's start (point in time); validation = the
   last 7 days: MAE / RMSE of net change for the model and four baselines (zero, same hour last week,
   historical mean by station x weekday x hour, mean of the last 4 same-weekday hours), precision@10 of
   `|net change| >= 3`, and a PNG beside the model. Hours +2 and +3: two Poisson count models each (features
   as of `T` plus the target hour's calendar and history, `include/ml/model.py`), their validation MAE beside
   a naive rate in the metadata (`metrics.horizons`). One task, so the window is read once.
3. **publish** - commits `models/{version}/metadata.json`; promoted (and `latest.json` moved forward) only
   if the model's MAE beats every baseline. Otherwise the previous promoted model keeps serving and the
   run's log and metadata say why. The serving model is the newest *verified* promoted one (its
   `model.skops` matches its commit's sha256 and loads from reviewed types only, so no code comes from the
   bucket); a version that fails is skipped, and **report_unverifiable** (a leaf beside the predictions)
   alerts `model_unverifiable` with what to do and fails.
4. **serving_model** - a sensor (reschedule mode) that names the model serving `T` (`hourly.serving_for`):
   under the `hourly` cadence `T`'s own fit once published (then it follows publish); under `daily` / `weekly`
   the newest verified promoted model fitted *before* `T`, so the forecasts never wait for a fit: the fitting
   hour's fit runs beside them and serves from `T + 1h` (a 26-week fit of 500 stations takes ~20 min). Only a
   system's first fit is waited for. A served hour's rerun: the version that served it.
5. **predict** / **write_predictions** - the serving model predicts, from the features as of `T`, every
   active station's expected pickups and dropoffs (and net change) for the hours `[T, T+1h)` (horizon 1, the
   next hour), `[T+1h, T+2h)` and `[T+2h, T+3h)` (a model from before the horizons: horizon 1 only); one Avro
   file per run (`include/ml/schemas/prediction.avsc`, `target_hour` = `T` + horizon - 1 h) to
   `predictions/{version}/{YYYY-MM-DD}/{HH}.avro` of `T`, loaded into `station_predictions`. Live monitoring
   scores horizon 1. **What was served stays as served** (`include/ml/served.py`): the first run of `T` to
   write is the hour's record; a later run of `T` (a backfill, a cleared task) predicts with the model version
   that served `T` and writes `predictions_backfill/{YYYY-MM-DD}/{HH}.avro` and
   `station_predictions_backfill` (with its `run_id`), never the served file or rows. How to backfill:
   `docs/backfills.md`.

6. **plan_rebalancing** - from each station's bikes on the dock at `T` (the newest GBFS `station_status` at
   or before `T`) and the served rates for hours +1..+3: the risk of running empty or full within 1 h and
   3 h, the target interval at the service level, and the trucks' moves
   (`include/rebalancing/hourly.py`); written to `station_risk`, `rebalancing_plan` and
   `rebalancing/{YYYY-MM-DD}/{HH}.json` on the bucket, replacing the hour's earlier plan.

7. **calibrate_risk** - once per newly trained version: the chain's `p_empty` / `p_full` from that model's
   rates on the run's validation days (never seen by its fit) against the inventory rebuilt from
   `raw_events`, Brier score beside the station's historical frequency for the hour, and a reliability plot:
   `models/{version}/risk_reliability.png` and `risk_calibration.json` (`include/rebalancing/calibration.py`).

**One system per task** (issue 24): steps 2-7 run in the task group `per_system`, mapped over the enabled
systems of the systems table (`include/systems.py`, `include/dbt/seeds/systems.csv`); the UI names each map
index by its system id. A system's tasks read and write that system's rows and bucket root only
(`Settings.for_system`), so a failing system fails only its own tasks, and its alert names it; the others
serve. How often a system's model is refitted is `BIKESHARE_TRAIN_CADENCE` (hourly / daily / weekly, at the
system's local `BIKESHARE_TRAIN_LOCAL_HOUR`, `include/ml/cadence.py`); prediction stays hourly on the
system's newest promoted model. Off the hourly cadence, fits run `BIKESHARE_ML_FITS_AT_ONCE` (default 1) at a
time across all runs, so on 2 cores the hour's path keeps one. The ML tasks go to the Airflow queue
`BIKESHARE_ML_QUEUE` (default `default`), so a deployment can give them bigger workers (README, "Many systems,
bigger machines for ML").

Idempotent per hour: the version is named after `T`; a committed version is reused, never retrained or
rewritten; the served forecasts of an hour are written once, a rerun's go beside them (its backfill file and
rows replaced by the next rerun). So a backfill of a past week from the UI serves the hours that had no
forecast yet (168 prediction files and 168 plans at most) and writes a backfill of those that had one; rerun,
it changes no served forecast. Code: `include/ml`, `include/rebalancing`.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import PokeReturnValue, dag, get_current_context, task, task_group

from include.hours import Hour
from include.mapped import SYSTEM_LABEL, system_settings
from include.ml.cadence import TrainCadence
from include.monitoring.alerts import default_args
from include.timeouts import TRAIN_PREDICT as TIMEOUTS

DEFAULT_ARGS = default_args("ml-platform", execution_timeout=TIMEOUTS.execution())  # alerts on a final failure
ML_QUEUE = os.environ.get("BIKESHARE_ML_QUEUE", "default") or "default"  # where the heavy tasks run
ML_PER_RUN = 2  # systems fitted or predicted at once in one run: the local 2-core machine; on Astro, the queue's
# daily / weekly: the forecasts never wait for a fit (hourly.serving_for), and fits run one at a time across runs, so
# the hour's path keeps the other core; the hourly cadence serves each hour's own fit, so it waits for it
CADENCE = TrainCadence.from_env()  # a bad value fails the parse, naming the variable
FIT_ON_PATH = CADENCE.cadence == "hourly"
FITS_AT_ONCE = None if FIT_ON_PATH else CADENCE.fits_at_once


@dag(
    dag_id="bikeshare_train_predict",
    schedule="@hourly",
    start_date=datetime(2019, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout (the feature sensor waits up to 3 h) and its alert
    tags=["bikeshare", "ml", "predictions"],
    doc_md=__doc__,
)
def bikeshare_train_predict() -> None:
    # The edge: each task floors the run's data-interval end to its hour (a manual run at 09:17 is the
    # 09:00 run); everything in include/ml takes that hour and refuses one that is not on the hour.
    @task
    def within_data(data_interval_end=None) -> str:
        from include.gcp import data_span

        # local profile only: a wall-clock hour of no replayed data is skipped with the reason
        return data_span.skip_outside_data(Hour.floor(data_interval_end).start)

    @task.sensor(poke_interval=60, timeout=TIMEOUTS.sensor("wait_for_features"), mode="reschedule")
    def wait_for_features(data_interval_end=None) -> bool:
        from include.ml import dataset

        # one dbt run builds every system's features: one wait for the country
        return dataset.features_ready(Hour.floor(data_interval_end).start)

    @task
    def systems() -> list[str]:
        from include.systems import enabled_system_ids

        return enabled_system_ids()

    ml = {"queue": ML_QUEUE, "max_active_tis_per_dagrun": ML_PER_RUN, "map_index_template": SYSTEM_LABEL}

    @task_group
    def per_system(system_id: str) -> None:
        @task(
            execution_timeout=TIMEOUTS.execution("per_system.train_and_evaluate"),
            max_active_tis_per_dag=FITS_AT_ONCE,
            **ml,
        )
        def train_and_evaluate(system_id: str, data_interval_end=None) -> dict:
            from include.ml import hourly

            s = system_settings(system_id)
            return hourly.train_and_evaluate(Hour.floor(data_interval_end).start, settings=s).to_xcom()

        @task(map_index_template=SYSTEM_LABEL)
        def publish(system_id: str, evaluation: dict, data_interval_end=None) -> dict:
            from include.ml import hourly

            s, hour = system_settings(system_id), Hour.floor(data_interval_end).start
            return hourly.publish(hour, hourly.Evaluation.from_xcom(evaluation), settings=s).to_xcom()

        @task.sensor(
            poke_interval=30,
            timeout=TIMEOUTS.sensor("per_system.serving_model"),
            mode="reschedule",
            map_index_template=SYSTEM_LABEL,
        )
        def serving_model(system_id: str, data_interval_end=None) -> PokeReturnValue:
            from include.ml import hourly

            s, hour = system_settings(system_id), Hour.floor(data_interval_end).start
            chosen = hourly.serving_for(hour, s)  # None: waits for the hour's own fit (hourly cadence, first fit)
            return PokeReturnValue(is_done=chosen is not None, xcom_value=chosen and chosen.to_xcom())

        @task(map_index_template=SYSTEM_LABEL)
        def report_unverifiable(system_id: str, published: dict) -> None:
            from include.monitoring import alerts

            system_settings(system_id)
            # a skipped version: alert model_unverifiable (why, what to do) and fail here, never green; the
            # predictions (the older verified model's) go on
            alerts.raise_alerts(alerts.unverifiable_alerts(published), get_current_context())

        @task(execution_timeout=TIMEOUTS.execution("per_system.predict"), **ml)
        def predict(system_id: str, published: dict, data_interval_end=None) -> list[dict]:
            from include.ml import hourly

            s, hour = system_settings(system_id), Hour.floor(data_interval_end).start
            return hourly.predict(hour, hourly.Publication.from_xcom(published).serving_version, s)

        @task(map_index_template=SYSTEM_LABEL)
        def write_predictions(
            system_id: str, rows: list[dict], published: dict, data_interval_end=None, run_id=None
        ) -> str | None:
            from include.ml import hourly

            s, hour = system_settings(system_id), Hour.floor(data_interval_end).start
            version = hourly.Publication.from_xcom(published).serving_version
            return hourly.write_predictions(hour, version, rows, s, run_id=run_id)  # served, or a rerun's backfill

        @task(execution_timeout=TIMEOUTS.execution("per_system.calibrate_risk"), **ml)
        def calibrate_risk(system_id: str, evaluation: dict, data_interval_end=None) -> dict:
            from include.rebalancing import calibration

            s, hour = system_settings(system_id), Hour.floor(data_interval_end).start
            trained = not evaluation["reused"] and bool(evaluation.get("model_sha256"))
            return calibration.calibrate_run(hour, evaluation["version"], trained, settings=s)

        @task(execution_timeout=TIMEOUTS.execution("per_system.plan_rebalancing"), **ml)
        def plan_rebalancing(system_id: str, data_interval_end=None) -> dict:
            from include.rebalancing import hourly

            return hourly.run(Hour.floor(data_interval_end).start, system_settings(system_id))

        evaluation = train_and_evaluate(system_id)
        published = publish(system_id, evaluation)
        published >> calibrate_risk(system_id, evaluation)  # beside the plan, never in its way
        chosen = serving_model(system_id)
        if FIT_ON_PATH:  # the hourly cadence serves the hour's own fit: wait for it here, not by polling
            published >> chosen
        report_unverifiable(system_id, chosen)  # a leaf: red when a model was skipped, the predictions go on
        predicted = predict(system_id, chosen)
        write_predictions(system_id, predicted, chosen) >> plan_rebalancing(system_id)

    enabled = systems()
    within_data() >> wait_for_features() >> enabled  # a skipped hour skips every system's tasks
    per_system.expand(system_id=enabled)


bikeshare_train_predict()
