"""Liveness, readiness and Prometheus metrics: the only unauthenticated routes."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from app.db.engine import ping, transaction
from app.db.migrate import is_at_head
from app.metrics import JOBS_BY_STATUS
from app.services import jobs as jobs_service

router = APIRouter(tags=["health"])


@router.get("/healthz")
def health_live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready: database or migrations."}})
def health_ready(request: Request) -> JSONResponse:
    checks: dict[str, str] = {}
    engine = request.app.state.engine
    try:
        ping(engine)
        checks["database"] = "ok"
        checks["migrations"] = "ok" if is_at_head(engine) else "not at head: run `surfturf db upgrade`"
    except Exception as exc:  # readiness reports, never raises
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {
    "description": "Prometheus text exposition.",
    "content": {"text/plain": {"schema": {"type": "string"}}}}})
def health_metrics(request: Request) -> Response:
    with transaction(request.app.state.session_factory) as session:
        counts = jobs_service.counts_by_status(session)
    for status in jobs_service.STATUSES:
        JOBS_BY_STATUS.labels(status).set(counts.get(status, 0))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
