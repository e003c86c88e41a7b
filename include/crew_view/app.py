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

from include.crew_view import page, sources
from include.gcp.settings import Settings, get_settings

# Only this origin, no scripts at all, and framing by the Airflow UI (same origin) only.
CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
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

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(page.render(sources.assemble(settings())), headers=NO_STORE)

    @app.get("/view.json")
    def view_json() -> JSONResponse:
        view = sources.assemble(settings())
        data: dict[str, Any] = dataclasses.asdict(view)
        data["performance"]["best_baseline"] = view.performance.best_baseline
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
