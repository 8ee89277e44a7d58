"""Search use cases: create (search + job), read, cancel, confirm, SURF's file layout. Running one
(the SURF loop, then a confirmation audit linked both ways) is tasks.py's."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from sqlalchemy.orm import Session

from app.audits import use_cases as audits
from app.config import Settings
from app.core.jobs import JobKind
from app.core.search.attributes import Attribute, builtin_pool, from_specs, split_prompts
from app.core.search.loop import Candidate
from app.core.search.spec import SearchSpec
from app.core.surf.spec import SpecFileError
from app.datasets import use_cases as datasets_service
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import searches as repo
from app.db.tables import Search, SearchCandidate
from app.errors import Conflict, InvalidInput, NotFound
from app.services import jobs as jobs_service
from app.services import targets as targets_service
from app.services.auditor import configured
from app.services.owners import Principal, visible
from app.services.validation import validate

if TYPE_CHECKING:
    from app.core.search.records import RecordPool

Pool: TypeAlias = "list[Attribute] | RecordPool"


def parse_spec(data: dict[str, Any], *, prefix: str = "spec", file_read: bool = False) -> SearchSpec:
    """`file_read`: the CLI read the spec's attributes_file itself and hands its records over."""
    spec = validate(SearchSpec, data, prefix=prefix)
    if spec.attributes_file is not None and not file_read:
        raise InvalidInput(f"{prefix}.attributes_file: a server reads no files of yours; send the pool "
                           "inline as attributes (the CLI reads attributes_file for you)",
                           field=f"{prefix}.attributes_file")
    return spec


def resolve_pool(spec: SearchSpec, settings: Settings) -> list[Attribute] | None:
    """The pool a search runs on (None: mined from a dataset by its job). The built-in pool's
    rewrite attributes (language, dialect, topic) need the query model, so they are left out
    when no auditor model is configured."""
    if spec.attributes_from_dataset is not None or spec.uses_records():
        return None
    if spec.attributes == "builtin":
        pool = builtin_pool()
        return pool if configured(settings) else [a for a in pool if a.deterministic]
    assert isinstance(spec.attributes, list)
    return from_specs(spec.attributes)


def writes_queries(pool: Pool | None) -> bool:
    """Record pools (and mined ones) are all written in by the query model."""
    return not isinstance(pool, list) or any(not a.deterministic for a in pool)


def records_dir(settings: Settings, search_id: str) -> Path:
    """A record pool's Arrow files, beside the datasets' (DATA_DIR is shared with the workers)."""
    return settings.data_dir / "searches" / search_id


def load_records(settings: Settings, search_id: str) -> RecordPool:
    from app.core.search.records import RecordPool

    where = records_dir(settings, search_id)
    try:
        return RecordPool.load(where)
    except FileNotFoundError:
        raise Conflict(f"search {search_id}: its attribute records are not in {where}; every worker "
                       "must share the server's SURFTURF_DATA_DIR") from None


def needs_auditor(spec: SearchSpec, pool: Pool | None) -> bool:
    """A rubric judge, or queries to write (mined and record pools always have some)."""
    return spec.judge.needs_auditor() or writes_queries(pool)


def _inline_records(spec: SearchSpec) -> RecordPool:
    from app.core.search.records import from_rows

    try:
        return from_rows(spec.attribute_records or [], spec.attribute_column)
    except SpecFileError as exc:
        raise InvalidInput(f"spec.{exc}", field="spec.attribute_records") from None


def create(session: Session, settings: Settings, *, target_id: str, spec: dict[str, Any],
           who: Principal, records: RecordPool | None = None) -> Search:
    """`records`: the pool the CLI read from the spec's attributes_file."""
    parsed = parse_spec(spec, file_read=records is not None)
    if parsed.attribute_records is not None:
        records = _inline_records(parsed)
    target = targets_service.get(session, target_id, who)
    pool = resolve_pool(parsed, settings)
    if parsed.attributes_from_dataset is not None:
        field = "spec.attributes_from_dataset.dataset"
        try:
            ds = datasets_service.get(session, parsed.attributes_from_dataset.dataset, who)
        except NotFound:
            raise InvalidInput(f"{field}: no dataset {parsed.attributes_from_dataset.dataset!r}",
                               field=field) from None
        if ds.status != "ready":
            raise InvalidInput(f"{field}: dataset {ds.name!r} is {ds.status}, not ready", field=field)
        parsed.attributes_from_dataset.dataset = ds.id
    if needs_auditor(parsed, pool) and not configured(settings):
        raise InvalidInput("this search needs an auditor model (a rubric judge, attributes without a "
                           "template, or a pool mined from a dataset): set SURFTURF_AUDITOR_URL and "
                           "SURFTURF_AUDITOR_MODEL", field="spec")
    row = repo.add(session, name=parsed.name, target_id=target.id, owner=target.owner,
                   spec=parsed.model_dump(mode="json"),
                   pool=None if pool is None else [a.as_dict() for a in pool])
    if records is not None:
        records.save(records_dir(settings, row.id))
    job = jobs_repo.enqueue(session, JobKind.search_run, {"search_id": row.id}, owner=target.owner,
                            max_attempts=settings.job_max_attempts)
    row.job_id = job.id
    return row


def get(session: Session, search_id: str, who: Principal | None = None) -> Search:
    return visible(repo.get(session, search_id), who, "search", search_id)


def list_searches(session: Session, who: Principal, *, limit: int, offset: int) -> list[Search]:
    return repo.list_searches(session, owner=who.scope, limit=limit, offset=offset)


def result(session: Session, search_id: str, who: Principal) -> dict[str, Any]:
    row = get(session, search_id, who)
    return jobs_service.finished_artifact(session, row, row.result, f"search {search_id}", "result",
                                          f"/v1/searches/{search_id}")


def confirm(session: Session, settings: Settings, search_id: str, who: Principal, *,
            top_k: int | None = None, attributes: list[str] | None = None,
            samples_per_prompt: int | None = None, prompts: list[str] | None = None) -> Any:
    """A confirmation on its own: the search's top-k (or the named attributes of its pool) as a
    new factorial audit, linked to the search. The automatic one is left as it was."""
    from app.core.search.confirm import confirmation_spec
    from app.core.search.ranking import rank

    row = get(session, search_id, who)
    spec = SearchSpec.model_validate(row.spec)
    cands = list(map(candidate_of, repo.candidates(session, search_id)))
    listed = attributes_of(row, cands)
    by_id = {a.id: a for a in listed}
    if attributes:
        unknown = [a for a in attributes if a not in by_id]
        if unknown:
            raise InvalidInput(f"attributes: not in this search's pool (or never drawn from its "
                               f"records): {unknown}", field="attributes")
        chosen = [by_id[a] for a in attributes]
    else:
        ranked = [r for r in rank(listed, cands, spec.judge.threshold) if r["n"] > 0]
        if not ranked:
            raise Conflict(f"search {search_id} has no judged candidate to rank yet")
        chosen = [by_id[r["attribute"]] for r in ranked[: top_k or spec.confirm.top_k or 3]]
    held = prompts or held_out(settings, search_id, spec, chosen)
    if not held:
        raise InvalidInput("prompts: this search held none out (confirm.top_k was 0); give the prompts "
                           "to confirm on", field="prompts")
    if samples_per_prompt:
        spec.confirm.samples_per_prompt = samples_per_prompt
    audit = audits.create(session, settings, target_id=row.target_id, who=Principal(row.owner or ""),
                          spec=confirmation_spec(spec, chosen, held))
    audit.config = {**(audit.config or {}), "search_id": search_id, "attributes": [a.id for a in chosen]}
    return audit


def write_surf_layout(session: Session, settings: Settings, search_id: str, who: Principal,
                      out: Path) -> list[Path]:
    """SURF's results files (app/core/search/surf_files.py) from the search's stored candidates."""
    from app.core.search.surf_files import write_layout

    row = get(session, search_id, who)
    spec = SearchSpec.model_validate(row.spec)
    stored = repo.candidates(session, search_id)
    cands = list(map(candidate_of, stored))
    listed = attributes_of(row, cands)
    records = load_records(settings, search_id) if spec.uses_records() else None
    searched = split_prompts(spec)[0]

    def source(c: Candidate) -> str | None:
        record = (c.detail.get("sampling") or {}).get("record")
        if records is not None and record is not None:
            return records.prompt(int(record))
        return searched[c.prompt_index] if 0 <= c.prompt_index < len(searched) else None

    return write_layout(out, cands, texts={a.id: a.text for a in listed}, runs=spec.budget.runs,
                        iterations=spec.budget.iterations, buffer_size=spec.budget.buffer_size,
                        threshold=spec.judge.threshold, source_prompt=source,
                        timestamps={(r.run, r.iteration, r.idx): r.created_at.timestamp()
                                    for r in stored})


def cancel(session: Session, search_id: str, who: Principal | None = None) -> Any:
    """Cancel the search's job and its confirmation audit, if one is running."""
    row = get(session, search_id, who)
    if row.confirmation_audit_id:
        audit = audits.get(session, row.confirmation_audit_id)
        if audit.report is None:
            audits.cancel(session, audit.id)
    return jobs_service.cancel(session, row.job_id or "")


def held_out(settings: Settings, search_id: str, spec: SearchSpec, chosen: list[Attribute],
              records: RecordPool | None = None) -> list[str]:
    """Half the seed prompts (by hash), or, for attribute records without seed prompts, prompts of
    records that carry none of the chosen attributes (`ConfirmSpec.held_out` of them)."""
    held = split_prompts(spec)[1]
    if held or spec.seed_prompts or not spec.uses_records() or not spec.confirm.top_k:
        return held
    pool = records if records is not None else load_records(settings, search_id)
    return pool.held_out([a.text for a in chosen], spec.confirm.held_out, spec.seed,
                         settings.max_prompt_chars // 2)  # room for the attribute's templates


def candidate_of(r: SearchCandidate) -> Candidate:
    return Candidate(r.run, r.iteration, r.idx, list(r.attributes), r.prompt_index, r.prompt, r.system,
                     r.response, r.score, r.error, dict(r.detail or {}))


def attributes_of(row: Search, cands: list[Candidate]) -> list[Attribute]:
    """A stored search's attributes: its list pool, or those its candidates drew from records."""
    from app.core.search.ranking import drawn

    return [Attribute(**a) for a in row.pool] if row.pool is not None else drawn(cands)
