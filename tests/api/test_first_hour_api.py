"""The first hour through the API: uploads never freeze the server, names and sizes are refused
before any work, datasets can be deleted and their names reused, sessions end at logout, every
HTML page refuses framing, secrets made on first need re-encrypt what the old default sealed."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.audits import use_cases as audits
from app.config import DEV_SECRET, Settings
from app.core import limits
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as jobs_repo
from app.main import create_app
from app.services import api_keys, secrets, targets
from app.services.owners import Principal
from app.serving import serve_in_thread
from tests.conftest import Api, make_settings, migrated_sqlite, new_key

ROOT = Path(__file__).resolve().parents[2]
JSONL = "\n".join(json.dumps({"prompt": f"question {i}?", "response": f"answer {i}."}) for i in range(2000))


def _upload(url: str, key: str, name: str, body: bytes = JSONL.encode()) -> httpx.Response:
    def chunks() -> Any:  # slowly, as a large file over a real network arrives
        for i in range(0, len(body), 512):
            time.sleep(0.01)
            yield body[i:i + 512]

    return httpx.post(f"{url}/v1/datasets", params={"name": name}, content=chunks(), timeout=120,
                      headers={"Authorization": f"Bearer {key}", "content-type": "application/octet-stream"})


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_concurrent_uploads_keep_the_api_answering_and_same_names_conflict(
        backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """12 uploads at once (6 of them one name): health keeps answering meanwhile, no 5xx, and of
    the same-name uploads exactly one is created, the rest are 409s that leave no file behind."""
    url = migrated_sqlite(tmp_path / "t.db") if backend == "sqlite" else _pg(request)
    settings = make_settings(tmp_path, url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    key = new_key(factory)
    results: list[httpx.Response] = []
    health: list[int] = []
    with serve_in_thread(create_app(settings, embedded_worker=False)) as base:
        names = ["same"] * 6 + [f"other{i}" for i in range(6)]
        threads = [threading.Thread(target=lambda n=n: results.append(_upload(base, key, n))) for n in names]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            health.append(httpx.get(f"{base}/healthz", timeout=30).status_code)
            time.sleep(0.05)
        for t in threads:
            t.join()
    engine.dispose()
    assert len(health) >= 3 and set(health) == {200}  # answered all through the uploads
    codes = sorted(r.status_code for r in results)
    assert all(c < 500 for c in codes), [r.text for r in results if r.status_code >= 500]
    same = [r for r in results if r.request.url.params["name"] == "same"]
    assert sorted(r.status_code for r in same) == [201] + [409] * 5, [r.text for r in same]
    assert all(r.json()["field"] == "name" for r in same if r.status_code == 409)
    assert sum(r.status_code == 201 for r in results) == 7
    kept = {p.name for p in (settings.data_dir / "uploads").iterdir()}
    assert len(kept) == 7  # the refused uploads' files are gone


def _pg(request: pytest.FixtureRequest) -> str:
    from tests.conftest import create_pg_database, drop_pg_database

    admin = request.getfixturevalue("pg_server")
    url = create_pg_database(admin, template=request.getfixturevalue("pg_template"))
    request.addfinalizer(lambda: drop_pg_database(admin, url))
    return url


def test_a_failed_datasets_name_is_reusable_and_datasets_delete(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "t.db"))
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    key = new_key(factory)
    h = {"Authorization": f"Bearer {key}"}
    with serve_in_thread(create_app(settings, embedded_worker=False)) as base:
        first = _upload(base, key, "mix")
        assert first.status_code == 201
        assert _upload(base, key, "mix").status_code == 409  # queued: the name is taken
        assert httpx.post(f"{base}/v1/jobs/{first.json()['job']['id']}/cancel", headers=h).status_code == 200
        again = _upload(base, key, "mix")  # its ingest ended unfinished: the name is free again
        assert again.status_code == 201 and again.json()["id"] != first.json()["id"]
        assert httpx.get(f"{base}/v1/datasets/{first.json()['id']}", headers=h).status_code == 404
        assert len(list((settings.data_dir / "uploads").iterdir())) == 1  # the replaced one's is gone
        for bad in (".", "..", "a/b", "x" * 65, "a=b"):
            r = httpx.post(f"{base}/v1/datasets", params={"name": bad}, content=b"{}", headers=h)
            assert r.status_code == 422, (bad, r.text)
        queued = httpx.delete(f"{base}/v1/datasets/{again.json()['id']}", headers=h)
        assert queued.status_code == 409  # its ingest is queued
        with transaction(factory) as s:
            jobs_repo.request_cancel(s, again.json()["job"]["id"])
        assert httpx.delete(f"{base}/v1/datasets/mix", headers=h).status_code == 204
        assert httpx.get(f"{base}/v1/datasets", headers=h).json()["items"] == []
        assert list((settings.data_dir / "uploads").iterdir()) == []
        assert httpx.delete(f"{base}/v1/datasets/mix", headers=h).status_code == 404
    engine.dispose()


def test_names_and_prompt_sizes_are_422s_naming_the_field(api: Api, two_chunk_url: str) -> None:
    t = httpx.post(f"{api.url}/v1/targets", headers=api.headers,
                   json={"name": "t", "base_url": two_chunk_url + "/v1", "model": "two-chunk"}).json()
    spec = {"name": "s", "prompts": ["hi there"], "behaviours": {"emoji": {"builtin": "emoji"}}}
    tagged = "<q>{prompt}</q>"
    for features, field in (({"a|b": {"levels": {"x": "{prompt}", "y": tagged}}}, "spec.features"),
                            ({"f": {"levels": {"x": "{prompt}", "y=z": tagged}}}, "spec.features.f"),
                            ({"f": {"levels": {"x": "{prompt}", "big": "{prompt}" * 5000}}},
                             "spec.features.f.levels.big")):
        r = httpx.post(f"{api.url}/v1/audits", headers=api.headers,
                       json={"target_id": t["id"], "spec": {**spec, "features": features}})
        assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert httpx.get(f"{api.url}/v1/audits", headers=api.headers).json()["items"] == []


def test_audit_list_says_interrupted_and_resume_takes_a_new_concurrency(
        settings: Settings, session_factory: sessionmaker[Session], two_chunk_url: str) -> None:
    me = Principal("me")
    spec = {"name": "s", "prompts": ["a", "b"], "features": {"format": {"builtin": "tag_format"}},
            "behaviours": {"emoji": {"builtin": "emoji"}}, "design": {"concurrency": 4}}
    with transaction(session_factory) as s:
        target = targets.named(s, settings, base_url=two_chunk_url + "/v1", model="two-chunk",
                               api_key_env=None, owner="me")
        again = targets.named(s, settings, base_url=two_chunk_url + "/v1", model="two-chunk",
                              api_key_env=None, owner="me")
        assert again.id == target.id  # one target per address, model and key reference
        audit = audits.create(s, settings, target_id=target.id, spec=spec, who=me)
        audit_id, job_id = audit.id, audit.job_id or ""
    with transaction(session_factory) as s:
        assert jobs_repo.interrupt(s, job_id).status == "interrupted"  # type: ignore[union-attr]
    from app.schemas.audits import AuditRead
    from app.services import jobs

    with transaction(session_factory) as s:
        row = audits.get(s, audit_id, me)
        assert AuditRead.from_row(row, jobs.job_of(s, row)).status == "interrupted"
        audits.resume(s, settings, audit_id, me, concurrency=32)
    with transaction(session_factory) as s:
        row = audits.get(s, audit_id, me)
        assert row.spec["design"]["concurrency"] == 32
        assert jobs.job_of(s, row).status == "queued"  # type: ignore[union-attr]


def test_logout_ends_the_session_everywhere_and_pages_refuse_framing(api: Api) -> None:
    with httpx.Client(base_url=api.url, follow_redirects=False) as browser:
        r = browser.post("/ui/login", data={"api_key": api.key}, headers={"origin": api.url})
        assert r.status_code == 303
        cookie = browser.cookies.get("surfturf_session")
        home = browser.get("/ui")
        assert home.status_code == 200
        assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
        token = re.search(r'name="csrf" value="([^"]+)"', home.text)
        assert token is not None
        assert browser.post("/ui/logout", data={"csrf": token.group(1)},
                            headers={"origin": api.url}).status_code == 303
    # a copy of the cookie kept from before logout no longer works
    stale = httpx.get(f"{api.url}/ui", cookies={"surfturf_session": cookie or ""}, follow_redirects=False)
    assert stale.status_code == 303 and stale.headers["location"] == "/ui/login"
    for path in ("/ui/login", "/docs"):
        page = httpx.get(api.url + path)
        assert "frame-ancestors 'none'" in page.headers.get("content-security-policy", ""), path
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
    assert httpx.get(api.url + "/healthz").headers["x-content-type-options"] == "nosniff"


def test_a_generated_secret_reencrypts_what_the_old_default_sealed(tmp_path: Path) -> None:
    old = make_settings(tmp_path, migrated_sqlite(tmp_path / "data" / "surfturf.db"), secret_key=DEV_SECRET)
    factory = make_session_factory(make_engine(old.resolved_database_url))
    with transaction(factory) as s:
        row = targets.create(s, old, {"name": "t", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                                      "api_key": "sk-live-123"}, "me")
        target_id = row.id
    new = secrets.resolve(old)
    assert new.secret_key != DEV_SECRET and (tmp_path / "data" / "secret.key").exists()
    assert secrets.resolve(old).secret_key == new.secret_key  # every process of the data dir agrees
    with transaction(factory) as s:
        assert targets.resolve_api_key(new, targets.get(s, target_id)) == "sk-live-123"
    with pytest.raises(Exception, match="cannot be decrypted"), transaction(factory) as s:
        targets.resolve_api_key(old, targets.get(s, target_id))  # no longer sealed by the default


def test_readme_quotes_the_limits_the_settings_enforce() -> None:
    """One constant per limit (app/core/limits.py); README's numbers are those."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sizes = readme[readme.index("- **Sizes**"):]
    sizes = sizes[:sizes.index("\n- **", 5)]
    quoted = {name: (int(number.replace(",", "")), unit) for name, number, unit in
              re.findall(r"`(MAX_[A-Z_]+)`\s+\((\d[\d,]*)(?: ([MG]iB))?", sizes)}
    for name, (number, unit) in quoted.items():
        scale = {"MiB": 1 << 20, "GiB": 1 << 30}.get(unit, 1)
        assert number * scale == Settings.model_fields[name.lower()].default == getattr(limits, name), name
    assert {"MAX_WORK_ITEMS", "MAX_PROMPT_CHARS", "MAX_PROMPTS", "MAX_UPLOAD_BYTES"} <= set(quoted)
    assert f"{limits.MAX_NESTING} levels" in sizes and f"{limits.MAX_YAML_VALUES:,}" in sizes


def test_logout_bumps_only_that_keys_version(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as s:
        a, _ = api_keys.create(s, "a")
        b, _ = api_keys.create(s, "b")
        api_keys.end_sessions(s, a.id)
        assert (a.session_version, b.session_version) == (1, 0)


def test_a_servers_start_removes_upload_files_a_killed_process_left(tmp_path: Path) -> None:
    import os

    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "t.db"))
    engine = make_engine(settings.resolved_database_url)
    key = new_key(make_session_factory(engine))
    with serve_in_thread(create_app(settings, embedded_worker=False)) as base:
        assert _upload(base, key, "kept").status_code == 201
    uploads = settings.data_dir / "uploads"
    (kept,) = list(uploads.iterdir())
    orphan, fresh = uploads / "orphan.part", uploads / "fresh.part"
    orphan.write_bytes(b"half an upload")
    fresh.write_bytes(b"another process is receiving this one")
    hours_ago = time.time() - 7200
    for path in (orphan, kept):
        os.utime(path, (hours_ago, hours_ago))
    with serve_in_thread(create_app(settings, embedded_worker=False)):
        pass
    engine.dispose()
    assert sorted(p.name for p in uploads.iterdir()) == sorted([kept.name, fresh.name])


def test_an_audit_needing_a_dead_auditor_fails_fast_saying_so(tmp_path: Path, two_chunk_url: str) -> None:
    from app.serving import free_port

    dead = f"http://127.0.0.1:{free_port()}/v1"
    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "t.db"), auditor_url=dead,
                             auditor_model="judge")
    engine = make_engine(settings.resolved_database_url)
    h = {"Authorization": f"Bearer {new_key(make_session_factory(engine))}"}
    spec = {"name": "judged", "prompts": ["a", "b", "c"], "features": {"format": {"builtin": "tag_format"}},
            "behaviours": {"rebuttal": {"judge": {"rubric": {"principle": "Never rebut a true claim."}}}}}
    with serve_in_thread(create_app(settings, embedded_worker=True)) as base:
        t = httpx.post(f"{base}/v1/targets", headers=h,
                       json={"name": "t", "base_url": two_chunk_url + "/v1", "model": "two-chunk"}).json()
        audit = httpx.post(f"{base}/v1/audits", headers=h, json={"target_id": t["id"], "spec": spec}).json()
        deadline = time.monotonic() + 60
        while (a := httpx.get(f"{base}/v1/audits/{audit['id']}", headers=h).json())["status"] != "failed":
            assert time.monotonic() < deadline, a
            time.sleep(0.2)
    engine.dispose()
    assert "auditor model preflight failed" in a["job"]["error"] and dead in a["job"]["error"]
    assert a["job"]["progress"]["done"] == 0
