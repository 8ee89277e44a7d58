"""create_app(): routers, one error handler, and the embedded worker in the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import __version__
from app.api import (
    audits,
    datasets,
    docs,
    health,
    jobs,
    organisms,
    searches,
    series,
    targets,
    traces,
    webhooks,
)
from app.api.limits import BodyLimitMiddleware
from app.api.middleware import RequestContextMiddleware
from app.config import Settings, get_settings
from app.db.engine import make_engine, make_session_factory
from app.errors import InvalidInput, SurfturfError
from app.schemas.common import ErrorBody
from app.services import secrets
from app.web import routes as ui

log = logging.getLogger("surfturf.app")


def create_app(settings: Settings | None = None, *, embedded_worker: bool | None = None) -> FastAPI:
    settings = secrets.resolve(settings or get_settings())
    run_worker = settings.embedded_worker if embedded_worker is None else embedded_worker
    engine = make_engine(settings.resolved_database_url)
    session_factory = make_session_factory(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(_sweep_uploads, settings, session_factory)
        worker_task = None
        if run_worker:
            from app.jobs.runner import Worker

            worker = Worker(settings, session_factory)
            app.state.worker = worker
            worker_task = asyncio.create_task(worker.run())
        yield
        if worker_task is not None:
            app.state.worker.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task
            from app.core.llm import local_engines

            local_engines.shutdown_all()
        engine.dispose()

    app = FastAPI(
        title="surfturf",
        version=__version__,
        description="Audit models for chunky post-training (SURF) and trace findings to data (TURF).",
        lifespan=lifespan,
        # short, stable operation ids (the route function's name: audits_create, traces_get…)
        generate_unique_id_function=lambda route: route.name,
        docs_url=None, redoc_url=None,  # served offline by app/api/docs.py
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware)
    _install_error_handlers(app)
    docs.install(app)
    for router in (health.router, targets.router, jobs.router, audits.router, searches.router,
                   series.router, organisms.router, datasets.router, traces.router, webhooks.router,
                   ui.router):
        app.include_router(router)
    _document_error_body(app)
    return app


def _sweep_uploads(settings: Settings, factory: Any) -> None:
    from app.datasets import use_cases as datasets_service
    from app.db.engine import transaction

    with transaction(factory) as s:
        gone = datasets_service.sweep_uploads(s, settings)
    if gone:
        log.info("removed %d abandoned upload files", gone)


def _document_error_body(app: FastAPI) -> None:
    """Every route's errors refer to one ErrorBody schema (schemas/common.ERROR_RESPONSES); it is
    added to the document's components once, when the document is first built."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = build()
            doc.setdefault("components", {}).setdefault("schemas", {})["ErrorBody"] = \
                ErrorBody.model_json_schema(mode="serialization")
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SurfturfError)
    async def domain_error(request: Request, exc: SurfturfError) -> Response:
        return ui.errors_as_pages(request, exc) or JSONResponse(exc.to_dict(), status_code=exc.status_code)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
        return JSONResponse({"error": codes.get(exc.status_code, "error"), "message": str(exc.detail)},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RecursionError)
    async def too_deep(_: Request, exc: RecursionError) -> JSONResponse:
        return JSONResponse({"error": "invalid_input", "message": "input nested too deeply",
                             "field": "body"}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        page = ui.errors_as_pages(request, InvalidInput("; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)))
        if page is not None:
            return page
        if any(e.get("type") == "json_invalid" for e in errors):  # unparseable: not a field's fault
            where = next(e for e in errors if e.get("type") == "json_invalid")
            ctx = where.get("ctx") or {}
            return JSONResponse({"error": "bad_request", "field": "body", "message":
                                 f"body is not valid JSON: {ctx.get('error', where['msg'])}"},
                                status_code=400)
        details = [
            {"field": ".".join(str(p) for p in e["loc"] if p != "body") or "body", "message": e["msg"]}
            for e in errors
        ]
        first = details[0] if details else {"field": None, "message": "invalid request"}
        return JSONResponse(
            {"error": "invalid_input", "message": f"{first['field']}: {first['message']}",
             "field": first["field"], "details": details},
            status_code=422,
        )
