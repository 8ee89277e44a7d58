"""/ui pages: sign in with an API key, lists with live status, an audit with its report, the
samples behind it, traces of a finding, and two audits compared. Thin: services do the work."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from app.api.deps import SessionDep, SettingsDep
from app.audits import use_cases as audits
from app.config import Settings
from app.core.text import fmt_q
from app.datasets import traces
from app.datasets import use_cases as datasets
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from app.schemas.audits import AuditRead
from app.schemas.datasets import DatasetRead
from app.schemas.traces import TraceRead
from app.services import api_keys, jobs, targets
from app.services.owners import Principal
from app.web import sessions

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 50
ACTIVE = {"queued", "running", "ingesting"}


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("app.web", "templates"), autoescape=select_autoescape(
        default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)
    env.filters["signed"] = lambda v: "—" if v is None else f"{v:+.2f}"
    env.filters["q"] = fmt_q
    return env


def page(request: Request, settings: Settings, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    cookie = request.cookies.get(sessions.COOKIE)
    csrf = sessions.csrf_token(settings, cookie) if cookie else ""
    html = _env().get_template(name).render(csrf=csrf, **ctx)
    return HTMLResponse(html, status_code=status, headers={
        "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' "
        "'unsafe-inline'; frame-ancestors 'none'; form-action 'self'",
        "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"})


def viewer(request: Request, session: Session, settings: Settings, scope: str = "read") -> Principal | None:
    found = sessions.key_of(settings, request.cookies.get(sessions.COOKIE))
    if found is None:
        return None
    key_id, version = found
    try:
        row = api_keys.by_id(session, key_id, scope=scope)
    except (Unauthorized, Forbidden):
        return None
    return api_keys.principal(row) if row.session_version == version else None  # logged out since


def to_login() -> RedirectResponse:
    return RedirectResponse("/ui/login", status_code=303)


def guarded(request: Request, session: Session, settings: Settings, token: str | None) -> Principal:
    """A state-changing form: a session with the write scope, its CSRF token, no foreign Origin."""
    cookie = request.cookies.get(sessions.COOKIE)
    if not sessions.csrf_ok(settings, cookie, token, request.headers.get("origin"), request.url.scheme,
                            request.headers.get("host")):
        raise Forbidden("cross-site or stale form: reload the page and try again")
    who = viewer(request, session, settings, scope="write")
    if who is None:
        raise Unauthorized("sign in with a key that has the write scope")
    return who


Token = Annotated[str | None, Form(alias="csrf")]


@router.get("/login")
def login_form(request: Request, settings: SettingsDep) -> HTMLResponse:
    return page(request, settings, "login.html.j2")


@router.post("/login")
def login(request: Request, session: SessionDep, settings: SettingsDep,
          api_key: Annotated[str, Form(max_length=200)]) -> Response:
    if not sessions.same_origin(request.headers.get("origin"), request.url.scheme,
                                request.headers.get("host")):
        raise Forbidden("sign-in from another site refused")  # login CSRF
    try:
        row = api_keys.authenticate(session, api_key.strip(), scope="read")
    except (Unauthorized, Forbidden) as exc:
        return page(request, settings, "login.html.j2", status=401, error=exc.message)
    resp = RedirectResponse("/ui", status_code=303)
    resp.set_cookie(sessions.COOKIE, sessions.issue(settings, row.id, row.session_version),
                    max_age=sessions.TTL,
                    httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui")
    return resp


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep, csrf: Token = None) -> Response:
    cookie = request.cookies.get(sessions.COOKIE)
    if not sessions.csrf_ok(settings, cookie, csrf, request.headers.get("origin"), request.url.scheme,
                            request.headers.get("host")):
        raise Forbidden("cross-site or stale form")
    found = sessions.key_of(settings, cookie)
    if found is not None:  # every cookie of this key ends now, copies included
        api_keys.end_sessions(session, found[0])
    resp = RedirectResponse("/ui/login", status_code=303)
    resp.delete_cookie(sessions.COOKIE, path="/ui")
    return resp


@router.get("")
def home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    audit_rows = [AuditRead.from_row(a, jobs.job_of(session, a))
                  for a in audits.list_audits(session, who, limit=PAGE, offset=0)]
    dataset_rows = [DatasetRead.from_row(d, jobs.job_of(session, d))
                    for d in datasets.list_datasets(session, who, limit=PAGE, offset=0)]
    trace_rows = [TraceRead.from_row(t, jobs.job_of(session, t))
                  for t in traces.list_traces(session, who, limit=PAGE, offset=0)]
    statuses = [x.status.value for x in audit_rows] + [x.status.value for x in dataset_rows] + [
        x.status.value for x in trace_rows]
    live = any(s in ACTIVE for s in statuses)
    return page(request, settings, "home.html.j2", who=who, live=live, audits=audit_rows,
                datasets=dataset_rows, traces=trace_rows,
                targets=targets.list_targets(session, who, limit=PAGE, offset=0))


@router.get("/audits/{audit_id}")
def audit_page(audit_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    row = audits.get(session, audit_id, who)
    info = AuditRead.from_row(row, jobs.job_of(session, row))
    ready = [d for d in datasets.list_datasets(session, who, limit=PAGE, offset=0) if d.status == "ready"]
    others = [a for a in audits.list_audits(session, who, limit=PAGE, offset=0)
              if a.id != row.id and a.name == row.name and a.report]
    return page(request, settings, "audit.html.j2", who=who, a=info, report=row.report, datasets=ready,
                others=others, live=info.status.value in ACTIVE)


@router.get("/audits/{audit_id}/report")
def audit_report(audit_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    from app.core.reports.html import audit_html

    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    return HTMLResponse(audit_html(audits.report(session, audit_id, who)))


@router.get("/audits/{audit_id}/samples")
def samples(audit_id: str, request: Request, session: SessionDep, settings: SettingsDep,
            cell: str | None = None, behaviour: str | None = None,
            elicited: str | None = Query(None, pattern="^(yes|no)$"),
            page_no: int = Query(1, ge=1, alias="page")) -> Response:
    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    row = audits.get(session, audit_id, who)
    rows = _filtered(request, audit_id, who, cell or None, behaviour or None, elicited)
    start = (page_no - 1) * PAGE
    shown = [r for i, r in zip(range(start + PAGE + 1), rows, strict=False) if i >= start]
    cells = sorted({"|".join(f"{k}={v}" for k, v in sorted(c.items())) for c in _cells(row.spec)})
    return page(request, settings, "samples.html.j2", who=who, audit=row, samples=shown[:PAGE],
                more=len(shown) > PAGE, page_no=page_no, cell=cell or "", behaviour=behaviour or "",
                elicited=elicited or "", cells=cells, behaviours=sorted(row.spec["behaviours"]))


def _cells(spec: dict[str, Any]) -> list[dict[str, str]]:
    from app.core.surf.spec import ProbeSpec

    return list(ProbeSpec.model_validate(spec).cells())


def _filtered(request: Request, audit_id: str, who: Principal, cell: str | None, behaviour: str | None,
              elicited: str | None) -> Iterator[dict[str, Any]]:
    """Samples from the export stream (every response), filtered without loading them all."""
    for line in audits.export_samples(request.app.state.session_factory, audit_id, who):
        s = json.loads(line)
        key = "|".join(f"{k}={v}" for k, v in sorted(s["levels"].items()))
        if cell and key != cell:
            continue
        if behaviour and elicited:
            shown = s["scores"].get(behaviour)
            if shown is None or shown is not (elicited == "yes"):
                continue
        s["cell"] = key
        yield s


@router.post("/audits/{audit_id}/cancel")
def cancel(audit_id: str, request: Request, session: SessionDep, settings: SettingsDep,
           csrf: Token = None) -> Response:
    who = guarded(request, session, settings, csrf)
    audits.cancel(session, audit_id, who)
    return RedirectResponse(f"/ui/audits/{audit_id}", status_code=303)


@router.post("/traces")
def trace_finding(request: Request, session: SessionDep, settings: SettingsDep,
                  audit_id: Annotated[str, Form()], feature: Annotated[str, Form()],
                  level: Annotated[str, Form()], behaviour: Annotated[str, Form()],
                  dataset: Annotated[str, Form()], csrf: Token = None) -> Response:
    who = guarded(request, session, settings, csrf)
    row = traces.create(session, settings, {"dataset": dataset, "audit_id": audit_id, "finding": {
        "feature": feature, "level": level, "behaviour": behaviour}}, who)
    return RedirectResponse(f"/ui/traces/{row.id}", status_code=303)


@router.get("/traces/{trace_id}")
def trace_page(trace_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    t = TraceRead.from_row(row := traces.get(session, trace_id, who), jobs.job_of(session, row))
    return page(request, settings, "trace.html.j2", who=who, t=t, live=t.status.value in ACTIVE)


@router.get("/traces/{trace_id}/report")
def trace_report(trace_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    from app.core.reports.html import trace_html

    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    return HTMLResponse(trace_html(traces.result(session, trace_id, who)))


@router.get("/compare")
def compare(request: Request, session: SessionDep, settings: SettingsDep, a: str, b: str) -> Response:
    """Two audits of one spec (two checkpoints): which flags appeared or went away, and the paired
    comparison's verdict on each finding (grew, shrank, unchanged, inconclusive)."""
    who = viewer(request, session, settings)
    if who is None:
        return to_login()
    left, right = audits.report(session, a, who), audits.report(session, b, who)
    paired = audits.compare(session, a, b, who)
    rows = _diff(left["findings"], right["findings"])
    verdicts = {(f["feature"], f["level"], f["behaviour"]): f for f in paired["findings"]}
    for r in rows:
        r["paired"] = verdicts.get(r["key"])
    return page(request, settings, "compare.html.j2", who=who, left=left, right=right, rows=rows,
                paired=paired)


def _diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(f: dict[str, Any]) -> tuple[str, str, str]:
        return f["feature"], f["level"], f["behaviour"]

    old, new = {key(f): f for f in before}, {key(f): f for f in after}
    out = []
    for k in sorted(set(old) | set(new)):
        x, y = old.get(k), new.get(k)
        was, now = bool(x and x["flagged"]), bool(y and y["flagged"])
        change = ("appeared" if now and not was else "went away" if was and not now
                  else "flagged in both" if now else "unchanged")
        out.append({"key": k, "before": x, "after": y, "change": change})
    order = {"appeared": 0, "went away": 1, "flagged in both": 2, "unchanged": 3}
    return sorted(out, key=lambda r: order[r["change"]])


def errors_as_pages(request: Request, exc: Exception) -> HTMLResponse | None:
    """/ui errors as a page, not JSON (NotFound, Conflict, Forbidden …)."""
    if not request.url.path.startswith("/ui"):
        return None
    status = getattr(exc, "status_code", 500)
    message = getattr(exc, "message", str(exc))
    settings = request.app.state.settings
    return page(request, settings, "error.html.j2", status=status, message=message,
                known=isinstance(exc, NotFound | Conflict | Forbidden | Unauthorized | InvalidInput))
