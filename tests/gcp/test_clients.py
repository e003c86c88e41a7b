"""In the local profile every client points at its emulator, with no Google credentials."""

from __future__ import annotations

from google.auth.credentials import AnonymousCredentials

from include.gcp import clients
from include.gcp.settings import Settings


def test_local_clients_point_at_the_emulators() -> None:
    s = Settings.from_env({"BIKESHARE_BIGQUERY_PORT": "19050", "BIKESHARE_STORAGE_PORT": "19023"})
    bq = clients.bigquery_client(s)
    assert bq._connection.API_BASE_URL == "http://127.0.0.1:19050"
    assert isinstance(bq._credentials, AnonymousCredentials)
    assert bq.project == "local-project"
    gcs = clients.storage_client(s)
    assert gcs._connection.API_BASE_URL == "http://127.0.0.1:19023"
    assert isinstance(gcs._credentials, AnonymousCredentials)
