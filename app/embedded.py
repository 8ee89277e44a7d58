"""The embedded default: SQLite + an in-process worker running one job, with a progress bar."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session
from tqdm import tqdm

from app.audits import use_cases as audits
from app.config import Settings
from app.core.surf.spec import ProbeSpec
from app.core.text import fmt_q
from app.db import migrate
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as jobs_repo
from app.errors import InvalidInput
from app.jobs.registry import load_builtin_tasks
from app.jobs.runner import Worker
from app.services import targets
from app.services.owners import LOCAL, Principal

TERMINAL = ("succeeded", *jobs_repo.RESUMABLE)
tqdm.monitor_interval = 0  # our bar is redrawn by its own loop; tqdm's monitor thread took the GIL
ME = Principal(LOCAL)  # the person at the terminal owns what the embedded CLI creates


Create = Callable[[Session], tuple[str, str | list[str]]]  # (row id, its job id(s)), in one transaction
Fetch = Callable[[Session, str], Any]


def run_embedded(settings: Settings, create: Create, fetch: Fetch, *, label: str,
                 unit: str, resume_hint: str | None = None, domains: tuple[str, ...] = ()) -> Any | None:
    """Migrate, create a resource and its job, run the job in-process, fetch the result.
    Returns None (after saying why) when the job did not succeed. Ctrl-C stops it cleanly:
    what is in flight is stored, the job is cancelled (no other worker picks it up), one line
    says how to resume, and the exit status is 130. `domains`: the kinds of job the in-process
    worker runs (every kind when empty)."""
    migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as s:
            row_id, job_id = create(s)
        gc.freeze()  # start-up's modules and models live on: sampling's collections skip them
        try:
            status, error = asyncio.run(run_job(settings, factory, job_id, unit=unit, desc=label,
                                                domains=domains))
        except KeyboardInterrupt:
            with transaction(factory) as s:
                for one in [job_id] if isinstance(job_id, str) else job_id:
                    job = jobs_repo.interrupt(s, one)
                where = f" at {job.progress_done}/{job.progress_total} {unit}s" if job else ""
            hint = (resume_hint or "").format(id=row_id)
            tqdm.write(f"{label} {row_id} interrupted{where}{'; ' + hint if hint else ''}", file=sys.stderr)
            raise SystemExit(130) from None
        if status != "succeeded":
            tqdm.write(f"{label} {row_id} {status}: {error}", file=sys.stderr)
            return None
        with transaction(factory) as s:
            return fetch(s, row_id)
    finally:
        engine.dispose()


RESUME = "resume with: surfturf audit resume {id} (or run the same command again)"


def _run_audit(settings: Settings, create: Create) -> dict[str, Any] | None:
    """An audit's job on a worker that loads the audit tasks only (no other domain's services)."""
    return run_embedded(settings, create, lambda s, i: audits.get(s, i).report, label="audit",
                        unit="sample", resume_hint=RESUME, domains=("audit",))


def with_session(settings: Settings, fn: Callable[[Session], Any]) -> Any:
    """One transaction on the embedded database (migrated first): the CLI's reads and edits."""
    migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as s:
            return fn(s)
    finally:
        engine.dispose()


def run_audit_embedded(settings: Settings, spec: ProbeSpec, *, target_url: str, target_model: str,
                       api_key_env: str | None = None, new: bool = False,
                       baseline_audit_id: str | None = None) -> dict[str, Any] | None:
    """Same job as the service runs; returns the report, or None if the job did not succeed.
    An unfinished audit of the same spec against the same model is resumed unless `new`."""

    # One in-process worker: chunks would add no parallelism, only a drained pipeline per chunk.
    local = _trusted(settings, api_key_env).model_copy(update={"audit_chunk_size": 0})

    def create(s: Session) -> tuple[str, str]:
        twin = None if new else audits.unfinished_twin(s, spec, target_url, target_model, ME)
        if twin is not None:
            audits.resume(s, local, twin.id, ME, concurrency=spec.design.concurrency)
            tqdm.write(f"resuming audit {twin.id}: {audits.stored_samples(s, twin.id)}/"
                       f"{spec.work_item_count()} samples already stored (--new starts afresh)",
                       file=sys.stderr)
            return twin.id, twin.job_id or ""
        target = _new_target(s, local, target_url, target_model, api_key_env)
        audit = audits.create(s, local, target_id=target.id, spec=spec.model_dump(mode="json"), who=ME,
                              baseline_audit_id=baseline_audit_id)
        return audit.id, audit.job_id or ""

    return _run_audit(local, create)


def _new_target(s: Session, local: Settings, url: str, model: str, api_key_env: str | None) -> Any:
    """The target a CLI run names on its command line, owned by the local user."""
    return targets.named(s, local, base_url=url, model=model, api_key_env=api_key_env, owner=ME.owner)


def _trusted(settings: Settings, api_key_env: str | None) -> Settings:
    """The operator runs this command and names the target and the env var: both are trusted. A
    named variable that is not set is an error, not an unauthenticated audit."""
    if api_key_env and not os.environ.get(api_key_env):
        raise InvalidInput(f"--target-api-key-env {api_key_env}: that environment variable is not set "
                           "(export it, or leave the flag out for a target without a key)",
                           field="target_api_key_env")
    return settings.model_copy(update={
        "target_egress": settings.target_egress or "public,private,loopback",
        "target_key_envs": ",".join(filter(None, (settings.target_key_envs, api_key_env)))})


def resume_audit_embedded(settings: Settings, audit_id: str, concurrency: int | None = None
                          ) -> dict[str, Any] | None:
    """Continue a cancelled, failed or interrupted audit from its stored samples."""

    def key_env(s: Session) -> str | None:
        return targets.get(s, audits.get(s, audit_id, ME).target_id).api_key_env

    local = _trusted(settings, with_session(settings, key_env))

    def create(s: Session) -> tuple[str, str]:
        row = audits.resume(s, local, audit_id, ME, concurrency=concurrency)
        return row.id, row.job_id or ""

    return _run_audit(local, create)


def run_search_embedded(settings: Settings, spec: Any, *, target_url: str, target_model: str,
                        api_key_env: str | None = None, records: Any = None) -> dict[str, Any] | None:
    """A search and its confirmation audit, on the in-process worker; returns search.json.
    `records`: the attribute records the CLI read from the spec's attributes_file."""
    from app.searches import use_cases as searches

    local = _trusted(settings, api_key_env)

    def create(s: Session) -> tuple[str, str]:
        target = _new_target(s, local, target_url, target_model, api_key_env)
        row = searches.create(s, local, target_id=target.id, spec=spec.model_dump(mode="json"), who=ME,
                              records=records)
        return row.id, row.job_id or ""

    return run_embedded(local, create, lambda s, i: searches.get(s, i).result, label="search",
                        unit="candidate")


def run_series_embedded(settings: Settings, spec: ProbeSpec, checkpoints: list[tuple[str, str, str | None]],
                        api_key_env: str | None = None) -> dict[str, Any] | None:
    """One spec on each checkpoint (url, model, label), in order, on the in-process worker;
    returns the series with its series.json."""
    from app.audits import series

    local = _trusted(settings, api_key_env).model_copy(update={"audit_chunk_size": 0})

    def create(s: Session) -> tuple[str, list[str]]:
        made = [(_new_target(s, local, url, model, api_key_env), label) for url, model, label in checkpoints]
        row = series.create(s, local, spec=spec.model_dump(mode="json"), who=ME,
                            checkpoints=[{"target_id": t.id, "label": label} for t, label in made])
        return row.id, [audits.get(s, a).job_id or "" for a in row.audit_ids]

    return run_embedded(local, create, lambda s, i: series.read(s, i, None), label="series", unit="sample",
                        resume_hint="resume each audit with: surfturf audit resume ID (audit list)",
                        domains=("audit",))


def confirm_search_embedded(settings: Settings, search_id: str, **options: Any) -> dict[str, Any] | None:
    """A stand-alone confirmation audit of a search's top attributes; returns its report."""
    from app.searches import use_cases as searches

    local = _trusted(settings, None)

    def create(s: Session) -> tuple[str, str]:
        audit = searches.confirm(s, local, search_id, ME, **options)
        return audit.id, audit.job_id or ""

    return _run_audit(local, create)


async def run_job(settings: Settings, factory: Any, job_id: str | list[str], unit: str = "sample",
                  desc: str = "audit", until: Callable[[Session], bool] | None = None,
                  domains: tuple[str, ...] = ()) -> tuple[str, str | None]:
    """Run an in-process worker until `job_id` ends (or `until` holds), drawing its progress. A
    list of jobs (a series' audits) runs in queue order on the one worker, under one bar: it ends
    when all have, `succeeded` only if all did."""
    worker = Worker(settings, factory, concurrency=1, metrics=False, tasks=load_builtin_tasks(*domains))
    task = asyncio.create_task(worker.run())
    bar = tqdm(total=0, unit=unit, desc=desc, dynamic_ncols=True, mininterval=0.5)
    ids = [job_id] if isinstance(job_id, str) else job_id

    def read() -> tuple[str, int, int | None, str | None, str | None]:
        with transaction(factory) as s:
            js = [j for j in (jobs_repo.get(s, i) for i in ids) if j is not None]
            assert len(js) == len(ids)
            ended = all(j.status in TERMINAL for j in js)
            bad = next((j for j in js if j.status != "succeeded"), None) if ended else None
            status = ("succeeded" if until is not None and until(s) else
                      (bad.status if bad else "succeeded") if ended else "running")
            totals = [j.progress_total for j in js]
            total = sum(t or 0 for t in totals) if all(totals) else None
            live = next((j for j in js if j.status == "running"), js[-1])
            return (status, sum(j.progress_done for j in js), total, live.progress_message,
                    bad.error if bad else None)

    first = True
    try:
        while True:
            status, done, total, message, error = await asyncio.to_thread(read)
            if total and bar.total != total:
                bar.total = total
            if first:  # what a resumed job did before this run is not this run's rate
                bar.initial = bar.n = bar.last_print_n = done
                bar.start_t = bar.last_print_t = bar._time()
                first = False
            bar.n = done
            bar.set_postfix_str(message or status, refresh=False)
            bar.refresh()
            if status in TERMINAL:
                return status, error
            # The bar redraws at most every 0.5 s, so four reads a second are plenty (each holds
            # the GIL the sampling loop runs on); an attempt that settles wakes this at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(worker.job_ended.wait(), 0.25)
            worker.job_ended.clear()
    finally:
        bar.close()
        worker.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def ingest_embedded(settings: Settings, path: Path, name: str, on_error: str) -> dict[str, Any] | None:
    """Validate and ingest a JSONL file; returns the dataset summary, or None on failure."""
    from app.datasets import use_cases as datasets

    datasets.require_embedder()  # before a row is stored
    upload = datasets.new_upload(settings)
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                upload.feed(chunk)
    finally:
        upload.close()
    skipped = list(upload.bad)

    def create(s: Session) -> tuple[str, str]:
        ds = datasets.create(s, settings, name, upload, on_error, ME)
        return ds.id, ds.job_id or ""

    def fetch(s: Session, ds_id: str) -> dict[str, Any]:
        ds = datasets.get(s, ds_id)
        return {"id": ds.id, "name": ds.name, "rows": ds.n_rows, "skipped": skipped, "meta": ds.meta}

    return run_embedded(settings, create, fetch, label="ingest", unit="row")


def attributes_embedded(settings: Settings, dataset: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """A dataset's attributes extracted on the in-process worker; returns its coverage."""
    from app.datasets import attributes as dataset_attributes
    from app.datasets import use_cases as datasets

    def create(s: Session) -> tuple[str, str]:
        job = dataset_attributes.request(s, settings, dataset, params, ME, attach=True)
        return datasets.get(s, dataset, ME).id, job.id

    return run_embedded(settings, create, lambda s, i: datasets.get(s, i).meta.get("attributes"),
                        label="attributes", unit="row",
                        resume_hint="run the same command again: rows already described are kept",
                        domains=("dataset",))


def trace_embedded(settings: Settings, request: dict[str, Any]) -> dict[str, Any] | None:
    from app.datasets import traces

    def create(s: Session) -> tuple[str, str]:
        t = traces.create(s, settings, request, ME)
        return t.id, t.job_id or ""

    return run_embedded(settings, create, lambda s, i: traces.get(s, i).result, label="trace", unit="row")


def findings_table(report: dict[str, Any]) -> str:
    """Findings with their base rates (baseline level → this level) and the FCR-adjusted
    interval their verdict reads; significant interactions after them."""
    fam = report.get("family") or {}
    level = f"{fam['fcr_level']:.1%}" if fam else "95%"
    head = (f"{'feature':<14}{'level':<10}{'behaviour':<12}{'rate base→level':>16}{'effect':>8}  {'CI':<17}"
            f"{'q':>9}  verdict")
    where = f" (audit {report['audit_id']})" if report.get("audit_id") else ""
    lines = [f"audit '{report['name']}'{where}: {report['totals']['completed']}/"
             f"{report['totals']['work_items']} samples; intervals FCR-adjusted at {level} "
             f"over {fam.get('size', len(report['findings']))} findings", head, "-" * len(head)]
    for f in report["findings"]:
        rates = "→".join("—" if (r or {}).get("rate") is None else f"{r['rate']:.2f}"
                         for r in (f.get("rate_baseline"), f.get("rate_level")))
        if f["effect"] is None:
            lines.append(f"{f['feature']:<14}{f['level']:<10}{f['behaviour']:<12}{rates:>16}{'—':>8}  "
                         f"{'':<17}{'':>9}  not estimable: {f['reason']}")
            continue
        ci = f"[{f['ci_adj_low']:+.2f}, {f['ci_adj_high']:+.2f}]"
        lines.append(f"{f['feature']:<14}{f['level']:<10}{f['behaviour']:<12}{rates:>16}"
                     f"{f['effect']:>+8.2f}  {ci:<17}{fmt_q(f['q_value']):>9}  {f['verdict']}")
        if f.get("effect_corrected") is not None:
            lines.append(f"{'':<36}{'corrected':>16}{f['effect_corrected']:>+8.2f}  "
                         f"[{f['ci_corrected_low']:+.2f}, {f['ci_corrected_high']:+.2f}]  for scorer error: "
                         f"{f['correction']}")
        elif f.get("correction"):
            lines.append(f"{'':<36}not corrected: {f['correction']}")
    for i in report.get("interactions") or []:
        if i.get("significant"):
            lines.append(f"interaction on {i['behaviour']}: {i.get('label') or i['term']} "
                         f"{i['coef']:+.2f} [{i['ci_low']:+.2f}, {i['ci_high']:+.2f}] "
                         f"q={fmt_q(i['q_value'])}")
    for j in report.get("judges") or []:
        parts = [f"sensitivity {j['sensitivity']:.2f}, specificity {j['specificity']:.2f} "
                 f"({j['calibration_items']} labelled)"] if j.get("sensitivity") is not None else []
        for key, what in (("self_agreement", "with itself"), ("inter_judge", "with the second judge")):
            a = j.get(key)
            if a:
                kappa = "—" if a["value"] is None else f"{a['value']:.2f}"
                ci = f" [{a['ci_low']:.2f}, {a['ci_high']:.2f}]" if a["ci_low"] is not None else ""
                parts.append(f"{what}: {a['statistic'].replace('_', ' ')} {kappa}{ci}, same verdict "
                             f"{a['raw_agreement']:.0%} of {a['responses']}")
        lines.append(f"scorer of {j['behaviour']}: " + "; ".join(parts))
    seq = report.get("sequential")
    if seq:
        lines.append(f"sequential: {seq['rounds_run']}/{seq['max_rounds']} rounds; {seq['stopped']}")
    if report.get("ranking"):
        lines.append("salience (Bradley-Terry): " + " > ".join(r["feature"] for r in report["ranking"]))
    return "\n".join(lines)
