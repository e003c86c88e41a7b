"""Airflow UI plugin: the rebalancing crews' view (each truck's plan, station risks; forecast and model).

Glue only; the view is ``include/crew_view``. Two registrations (Airflow 3.1+ plugin interface):

- ``fastapi_apps``: the view's app mounted in the API server at ``/crew-view``, behind Airflow's own
  authentication (Airflow leaves plugin apps unauthenticated; the UI's session cookie or an API token
  passes), built on its first request so processes that only load plugins import nothing heavy;
- ``external_views``: a "Rebalancing crews" entry in the navigation that shows it in the UI's iframe
  (``href`` relative, so it works under any base URL).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from include.crew_view.lazy import LazyASGIApp

URL_PREFIX = "/crew-view"


def build_app():  # -> fastapi.FastAPI; imported here, in the API server, on the first request
    """The view's app with every route requiring an authenticated Airflow user."""
    from airflow.api_fastapi.core_api.security import requires_authenticated
    from fastapi import Depends

    from include.crew_view.app import create_app

    return create_app(dependencies=[Depends(requires_authenticated())])


class CrewViewPlugin(AirflowPlugin):
    name = "crew_view"
    fastapi_apps = [{"app": LazyASGIApp(build_app), "url_prefix": URL_PREFIX, "name": "Rebalancing crews"}]
    external_views = [
        {
            "name": "Rebalancing crews",
            "href": f"{URL_PREFIX.lstrip('/')}/",
            "icon": f"{URL_PREFIX.lstrip('/')}/icon.svg",
            "destination": "nav",
            "url_route": "crew-view",
            "nav_top_level": True,
        }
    ]
