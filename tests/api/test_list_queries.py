"""A list page is one query for its rows and their jobs, however many rows it holds (no query per
row); and a job's deletion leaves what it produced, its job id set to NULL (foreign key)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, event

from app.db.engine import transaction
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import traces as traces_repo
from app.db.tables import Audit, Job
from app.main import create_app
from app.serving import serve_in_thread
from tests.conftest import Api, make_settings, new_key
from tests.search.planted import search_spec

SPEC: dict[str, Any] = {"name": "n", "prompts": ["a", "b"], "features": {"format": {"builtin": "tag_format"}},
                        "behaviours": {"emoji": {"builtin": "emoji"}}, "design": {"samples_per_prompt": 1}}
JSONL = b"".join(b'{"prompt": "p%d", "response": "r", "source": "c"}\n' % i for i in range(3))


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """No worker: every job stays queued, so rows and jobs are as created."""
    settings = make_settings(tmp_path, db_url, embedded_worker=False)
    app = create_app(settings, embedded_worker=False)
    with serve_in_thread(app) as url:
        factory = app.state.session_factory
        yield Api(url, new_key(factory), factory, settings)


def create_rows(api: Api, n: int, start: int = 0) -> None:
    h = api.headers
    tid = httpx.post(api.url + "/v1/targets", headers=h, json={
        "name": "t", "base_url": "http://127.0.0.1:9/v1", "model": "m"}).json()["id"]
    for i in range(start, start + n):
        assert httpx.post(api.url + "/v1/audits", headers=h,
                          json={"target_id": tid, "spec": {**SPEC, "name": f"a{i}"}}).status_code == 201
        assert httpx.post(api.url + "/v1/searches", headers=h,
                          json={"target_id": tid, "spec": search_spec()}).status_code == 201
        r = httpx.post(api.url + f"/v1/datasets?name=d{i}", content=JSONL,
                       headers={**h, "Content-Type": "application/x-ndjson"})
        assert r.status_code == 201, r.text
        with transaction(api.factory) as s:  # a trace of a dataset not yet ingested: only its row
            t = traces_repo.add(s, dataset_id=r.json()["id"], owner="test",
                                request={"dataset": f"d{i}", "behaviour": {"builtin": "emoji"},
                                         "behaviour_name": "emoji"})
            t.job_id = jobs_repo.enqueue(s, "trace.run", {"trace_id": t.id}).id


def statements(api: Api, path: str) -> list[str]:
    """The SQL a GET of `path` runs (the key lookup included)."""
    engine = api.factory.kw["bind"]
    seen: list[str] = []

    def count(conn: Any, cursor: Any, sql: str, *rest: Any) -> None:
        seen.append(sql)

    event.listen(engine, "before_cursor_execute", count)
    try:
        r = httpx.get(api.url + path, headers=api.headers)
        assert r.status_code == 200, r.text
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen


@pytest.mark.parametrize(("path", "table"), [("/v1/audits", "audits"), ("/v1/searches", "searches"),
                                             ("/v1/datasets", "datasets"), ("/v1/traces", "traces")])
def test_a_list_page_is_one_query_however_long(api: Api, path: str, table: str) -> None:
    create_rows(api, 2)
    few = statements(api, path)
    create_rows(api, 6, start=2)
    many = statements(api, path)
    page = httpx.get(api.url + path, headers=api.headers).json()["items"]
    assert len(page) == 8 and all(item["job"] is not None for item in page), page[0]
    assert len(many) == len(few), many
    [rows] = [q for q in many if f"FROM {table}" in q]
    assert "JOIN jobs" in rows and not any("FROM jobs" in q for q in many), many


def test_deleting_a_job_keeps_its_audit(api: Api) -> None:
    create_rows(api, 1)
    with transaction(api.factory) as s:
        audit = s.query(Audit).one()
        job_id, audit_id = audit.job_id, audit.id
        s.execute(delete(Job).where(Job.id == job_id))
    with transaction(api.factory) as s:
        assert s.get(Audit, audit_id).job_id is None  # type: ignore[union-attr]
    body = httpx.get(f"{api.url}/v1/audits/{audit_id}", headers=api.headers).json()
    assert body["id"] == audit_id and body["job"] is None
