"""bikeshare_train_predict, run for real with dag.test() on the local stack over feature-store tables of the
dbt contract's shape: it trains, gates, publishes and writes the hour's Avro; a rerun changes no object."""

from __future__ import annotations

from datetime import timedelta

import pytest

from include.gcp import bucket, paths
from include.ml import predictions, registry, served
from tests.conftest import DAGS_FOLDER
from tests.dags.conftest import CUTOFF
from tests.ml.conftest import STATIONS

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


def test_train_predict_dag_writes_the_hours_avro_and_reruns_replace_it(airflow_db, feature_store_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = feature_store_env
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_train_predict")
    assert dag.test(logical_date=CUTOFF).state == "success"

    version = registry.version_for(CUTOFF)
    meta = registry.read_metadata(version, s)
    assert meta["promoted"] is True, meta["gate"]
    assert registry.latest(s)["model_version"] == version
    target = CUTOFF
    rows = predictions.read(version, target, s)
    assert sorted(r["station_id"] for r in rows) == sorted(STATIONS)
    objects = bucket.list_paths(f"{s.env}/", s)
    assert [p for p in objects if p.endswith(".avro")] == [paths.predictions(s.env, version, target)]

    assert served.rows_for_hour(target, s) == len(STATIONS)  # loaded for live monitoring

    assert dag.test(logical_date=CUTOFF).state == "success"  # rerun of the same hour
    assert bucket.list_paths(f"{s.env}/", s) == objects
    assert served.rows_for_hour(target, s) == len(STATIONS)  # replaced, not doubled

    # a manual run at 09:17 (any minute) is the run of its hour: same version, same files, no error
    assert dag.test(logical_date=CUTOFF + timedelta(minutes=17)).state == "success"
    assert bucket.list_paths(f"{s.env}/", s) == objects
    assert served.rows_for_hour(target, s) == len(STATIONS)
