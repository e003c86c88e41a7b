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
4. **predict** / **write_predictions** - the serving model predicts, from the features as of `T`, every
   active station's expected pickups and dropoffs (and net change) for the hours `[T, T+1h)` (horizon 1, the
   next hour), `[T+1h, T+2h)` and `[T+2h, T+3h)` (a model from before the horizons: horizon 1 only); one Avro
   file per run (`include/ml/schemas/prediction.avsc`, `target_hour` = `T` + horizon - 1 h) to
   `predictions/{version}/{YYYY-MM-DD}/{HH}.avro` of `T`, loaded into `station_predictions`. Live monitoring
   scores horizon 1. **What was served stays as served** (`include/ml/served.py`): the first run of `T` to
   write is the hour's record; a later run of `T` (a backfill, a cleared task) predicts with the model version
   that served `T` and writes `predictions_backfill/{YYYY-MM-DD}/{HH}.avro` and
   `station_predictions_backfill` (with its `run_id`), never the served file or rows. How to backfill:
   `docs/backfills.md`.

5. **plan_rebalancing** - from each station's bikes on the dock at `T` (the newest GBFS `station_status` at
   or before `T`) and the served rates for hours +1..+3: the risk of running empty or full within 1 h and
   3 h, the target interval at the service level, and the trucks' moves
   (`include/rebalancing/hourly.py`); written to `station_risk`, `rebalancing_plan` and
   `rebalancing/{YYYY-MM-DD}/{HH}.json` on the bucket, replacing the hour's earlier plan.

6. **calibrate_risk** - once per newly trained version: the chain's `p_empty` / `p_full` from that model's
   rates on the run's validation days (never seen by its fit) against the inventory rebuilt from
   `raw_events`, Brier score beside the station's historical frequency for the hour, and a reliability plot:
   `models/{version}/risk_reliability.png` and `risk_calibration.json` (`include/rebalancing/calibration.py`).

Idempotent per hour: the version is named after `T`; a committed version is reused, never retrained or
rewritten; the served forecasts of an hour are written once, a rerun's go beside them (its backfill file and
rows replaced by the next rerun). So a backfill of a past week from the UI serves the hours that had no
forecast yet (168 prediction files and 168 plans at most) and writes a backfill of those that had one; rerun,
it changes no served forecast. Code: `include/ml`, `include/rebalancing`.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, get_current_context, task

from include.hours import Hour
from include.monitoring.alerts import default_args
from include.timeouts import TRAIN_PREDICT as TIMEOUTS

DEFAULT_ARGS = default_args("ml-platform", execution_timeout=TIMEOUTS.execution())  # alerts on a final failure


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

        return dataset.features_ready(Hour.floor(data_interval_end).start)

    @task(execution_timeout=TIMEOUTS.execution("train_and_evaluate"))
    def train_and_evaluate(data_interval_end=None) -> dict:
        from include.ml import hourly

        return hourly.train_and_evaluate(Hour.floor(data_interval_end).start).to_xcom()

    @task
    def publish(evaluation: dict, data_interval_end=None) -> dict:
        from include.ml import hourly

        hour = Hour.floor(data_interval_end).start
        return hourly.publish(hour, hourly.Evaluation.from_xcom(evaluation)).to_xcom()

    @task
    def report_unverifiable(published: dict) -> None:
        from include.monitoring import alerts

        # a skipped version: alert model_unverifiable (why, what to do) and fail here, never green; the
        # predictions (the older verified model's) go on
        alerts.raise_alerts(alerts.unverifiable_alerts(published), get_current_context())

    @task(execution_timeout=TIMEOUTS.execution("predict"))
    def predict(published: dict, data_interval_end=None) -> list[dict]:
        from include.ml import hourly

        hour = Hour.floor(data_interval_end).start
        return hourly.predict(hour, hourly.Publication.from_xcom(published).serving_version)

    @task
    def write_predictions(rows: list[dict], published: dict, data_interval_end=None, run_id=None) -> str | None:
        from include.ml import hourly

        hour = Hour.floor(data_interval_end).start
        version = hourly.Publication.from_xcom(published).serving_version
        return hourly.write_predictions(hour, version, rows, run_id=run_id)  # served, or a rerun's backfill

    @task(execution_timeout=TIMEOUTS.execution("calibrate_risk"))
    def calibrate_risk(evaluation: dict, data_interval_end=None) -> dict:
        from include.rebalancing import calibration

        hour = Hour.floor(data_interval_end).start
        trained = not evaluation["reused"] and bool(evaluation.get("model_sha256"))
        return calibration.calibrate_run(hour, evaluation["version"], trained)

    @task(execution_timeout=TIMEOUTS.execution("plan_rebalancing"))
    def plan_rebalancing(data_interval_end=None) -> dict:
        from include.rebalancing import hourly

        return hourly.run(Hour.floor(data_interval_end).start)

    evaluation = train_and_evaluate()
    within_data() >> wait_for_features() >> evaluation
    published = publish(evaluation)
    published >> calibrate_risk(evaluation)  # beside the plan, never in its way
    report_unverifiable(published)  # a leaf: red when a model was skipped, the predictions unaffected
    write_predictions(predict(published), published) >> plan_rebalancing()


bikeshare_train_predict()
