"""The setup DAG, run for real with dag.test() against the local stack, creates every resource."""

from __future__ import annotations

import uuid

import pytest

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import TABLE_SPECS
from tests.conftest import DAGS_FOLDER, drop_resources

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture
def fresh_names(monkeypatch: pytest.MonkeyPatch, local_stack: Settings):
    tag = uuid.uuid4().hex[:8]
    names = {
        "BIKESHARE_BQ_DATASET": f"dagtest_{tag}",
        "BIKESHARE_PUBSUB_TOPIC": f"dagtest-{tag}",
        "BIKESHARE_PUBSUB_SUBSCRIPTION": f"dagtest-{tag}-sub",
        "BIKESHARE_GCS_BUCKET": f"dagtest-{tag}",
    }
    for key, value in names.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    settings = get_settings()
    yield settings
    get_settings.cache_clear()
    drop_resources(settings)


def test_setup_dag_creates_everything_and_a_rerun_changes_nothing(airflow_db, fresh_names: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_setup")
    s = fresh_names
    assert dag.test().state == "success"

    bq = clients.bigquery_client(s)
    assert {t.table_id for t in bq.list_tables(s.dataset)} == {spec.name for spec in TABLE_SPECS}
    assert clients.publisher_client(s).get_topic(topic=s.topic_path).name == s.topic_path
    with clients.subscriber_client(s) as sub:
        assert sub.get_subscription(subscription=s.subscription_path).topic == s.topic_path
    assert clients.storage_client(s).lookup_bucket(s.bucket) is not None

    assert dag.test().state == "success"  # idempotent: the second run finds everything
