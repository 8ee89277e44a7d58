"""Organism sweeps over the API: one job per sweep. The worker that claims it builds each point's
LoRA organism, serves it on its own loopback and audits it inline (ordinary audits, readable under
/v1/audits, each pointing back at the sweep's job); the job's result is sweep.json.

Off unless the operator sets SURFTURF_ORGANISM_SWEEPS: every point is minutes of CPU training."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.jobs import JobKind
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Job
from app.errors import Conflict, Forbidden, InvalidInput, NotFound
from app.services import jobs as jobs_service
from app.services.owners import Principal
from app.services.validation import validate

if TYPE_CHECKING:
    from app.core.organisms.sweep import SweepSpec


def parse(sweep: str | dict[str, Any], settings: Settings) -> SweepSpec:
    """A shipped sweep's name, or a sweep document; a 422 names the offending field. The
    organism specs (and YAML) load here, not when the API starts."""
    from app.core.organisms.sweep import BUNDLED_SWEEPS, SweepSpec, bundled_sweep, with_bundled_refs

    if isinstance(sweep, str):
        found = bundled_sweep(sweep)
        if found is None:
            names = ", ".join(sorted(p.stem for p in BUNDLED_SWEEPS.glob("*.yaml")))
            raise InvalidInput(f"sweep: {sweep!r} is not a shipped sweep ({names}); send the sweep "
                               "document instead", field="sweep")
        spec = found
    else:
        try:
            doc = with_bundled_refs(sweep)
        except KeyError as exc:
            key = exc.args[0]
            raise InvalidInput(f"sweep.{key}: {sweep[key]!r} is not a shipped "
                               f"{'organism spec' if key == 'organism' else 'probe spec'}; send it inline",
                               field=f"sweep.{key}") from None
        try:
            spec = validate(SweepSpec, doc, prefix="sweep")
        except InvalidInput as exc:  # a cross-field check names its field in its message
            named = re.search(r"\bsweep\.(\w+) ", str(exc)) if exc.field == "sweep" else None
            if named is None:
                raise
            raise InvalidInput(str(exc), field=f"sweep.sweep.{named.group(1)}") from None
    from app.audits.use_cases import parse_spec

    # the server's caps on prompts and samples hold for each of the sweep's audits
    parse_spec(spec.probe.model_dump(mode="json"), settings=settings, prefix="sweep.probe")
    return spec


def create(session: Session, settings: Settings, sweep: str | dict[str, Any], who: Principal) -> Job:
    if not settings.organism_sweeps:
        raise Forbidden("this server does not build organisms: its operator enables sweeps with "
                        "SURFTURF_ORGANISM_SWEEPS=true (or run `surfturf organism sweep` locally)")
    spec = parse(sweep, settings)
    return jobs_repo.enqueue(session, JobKind.organism_sweep, {"sweep": spec.model_dump(mode="json")},
                             owner=who.owner, max_attempts=settings.job_max_attempts)


def get(session: Session, sweep_id: str, who: Principal) -> Job:
    job = jobs_service.get(session, sweep_id, who)
    if job.kind != JobKind.organism_sweep:
        raise NotFound(f"organism sweep {sweep_id} not found")
    return job


def list_sweeps(session: Session, who: Principal, *, limit: int, offset: int) -> list[Job]:
    return jobs_service.list_jobs(session, who, status=None, kind=JobKind.organism_sweep, limit=limit,
                                  offset=offset)


def result(session: Session, sweep_id: str, who: Principal) -> dict[str, Any]:
    job = get(session, sweep_id, who)
    if job.result is not None and job.status == "succeeded":
        return job.result
    if job.status in jobs_repo.RESUMABLE:
        raise Conflict(f"organism sweep {sweep_id} {job.status} without a result: {job.error or 'no error'}")
    raise Conflict(f"organism sweep {sweep_id} has no result yet; poll GET /v1/organism-sweeps/{sweep_id}")


def cancel(session: Session, sweep_id: str, who: Principal) -> Job:
    get(session, sweep_id, who)
    return jobs_service.cancel(session, sweep_id, who)
