"""The setup DAG, run for real with dag.test() against the local stack, creates every resource."""

from __future__ import annotations

import pytest

from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import TABLE_SPECS
from tests.conftest import DAGS_FOLDER, dag_settings

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture
def fresh_names(monkeypatch: pytest.MonkeyPatch, local_stack: Settings):
    with dag_settings(monkeypatch, "setuptest-") as settings:
        yield settings


def test_setup_dag_creates_everything_and_a_rerun_changes_nothing(airflow_db, fresh_names: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_setup")
    s = fresh_names
    assert dag.test().state == "success"

    bq = clients.bigquery_client(s)
    seeds = {"stations", "systems", "us_federal_holidays"}
    assert {t.table_id for t in bq.list_tables(s.dataset)} == {spec.name for spec in TABLE_SPECS} | seeds
    stations = bq.query(f"select count(*) as n from `{s.table_id('stations')}`").result()
    assert next(iter(stations)).n > 50  # the GBFS stations, loaded and tested by dbt
    assert clients.publisher_client(s).get_topic(topic=s.topic_path).name == s.topic_path
    with clients.subscriber_client(s) as sub:
        assert sub.get_subscription(subscription=s.subscription_path).topic == s.topic_path
    assert clients.storage_client(s).lookup_bucket(s.bucket) is not None

    assert dag.test().state == "success"  # idempotent: the second run finds everything
