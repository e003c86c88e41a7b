"""The crew view's FastAPI app: the page, its evaluation PNG, the same data as JSON, the nav icon.

The plugin (``plugins/crew_view.py``) mounts it in Airflow's API server with Airflow's own
authentication as a dependency (Airflow does not authenticate plugin apps itself); tests serve it alone
under uvicorn. Handlers are plain ``def``: FastAPI runs them in its thread pool, so the blocking
BigQuery and GCS calls never stall the API server's event loop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, HTTPException, Query
from fastapi.encoders import jsonable_encoder
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, JSONResponse, Response

from include.crew_view import clock, page, sources
from include.crew_view.data import CrewView
from include.gcp.settings import Settings, get_settings

# Only this origin, no scripts at all, and framing by the Airflow UI (same origin) only; forms may submit
# to this origin alone (the hour picker is a GET form).
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
)
NO_STORE = {"Cache-Control": "no-store", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#2166ac" stroke-width="2">'
    '<circle cx="6" cy="16" r="4"/><circle cx="18" cy="16" r="4"/><path d="M6 16l4-8h5l3 8M10 8l2 8h0"/></svg>'
)


def create_app(
    settings: Callable[[], Settings] = get_settings, dependencies: Sequence[Depends] | None = None
) -> FastAPI:
    """The app; ``settings`` is called per request (tests pass their own), ``dependencies`` guard every route."""
    app = FastAPI(
        title="Rebalancing crews",
        dependencies=list(dependencies or []),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )

    def read(hour: str | None, system: str | None) -> CrewView:
        """The view of ``system``'s plan ``hour`` (the picker's ``2019-09-30T11:00Z``), the newest served without
        one; the default system without ``system``."""
        try:
            wanted = clock.parse_hour(hour) if hour else None
            scoped = settings().for_system(system or clock.SYSTEM)
        except ValueError as err:  # SystemsError is a ValueError: an unknown system names the known ones
            raise HTTPException(status_code=400, detail=str(err)) from None
        return sources.assemble(scoped, wanted)

    @app.get("/", response_class=HTMLResponse)
    def index(
        hour: str | None = Query(default=None, max_length=32), system: str | None = Query(default=None, max_length=32)
    ) -> HTMLResponse:
        return HTMLResponse(page.render(read(hour, system)), headers=NO_STORE)

    @app.get("/view.json")
    def view_json(
        hour: str | None = Query(default=None, max_length=32), system: str | None = Query(default=None, max_length=32)
    ) -> JSONResponse:
        view = read(hour, system)
        data: dict[str, Any] = dataclasses.asdict(view)
        data["performance"]["best_baseline"] = view.performance.best_baseline
        if view.plan is not None:  # what the page derives, so a client need not redo it
            for route, out in zip(view.plan.routes, data["plan"]["routes"], strict=True):
                out["stops"] = [dataclasses.asdict(s) for s in route.stops]
            data["plan"]["warnings"] = [dataclasses.asdict(w) for w in view.plan.warnings]
        return JSONResponse(jsonable_encoder(data), headers=NO_STORE)

    @app.get("/evaluation.png")
    def evaluation(version: str = Query(max_length=32)) -> Response:
        if not sources.is_version(version):
            raise HTTPException(status_code=400, detail="not a model version")
        png = sources.evaluation_png(version, settings())
        if png is None:
            raise HTTPException(status_code=404, detail=f"no evaluation picture for {version}")
        # a version is immutable once committed, so its picture may be cached
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=86400"})

    return app
