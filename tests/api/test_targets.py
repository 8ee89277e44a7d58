"""Targets over HTTP: CRUD, write-only secrets, egress policy, live check."""

from __future__ import annotations

import httpx

from app.db.engine import transaction
from app.db.repositories import targets as repo
from app.serving import free_port
from tests.conftest import Api


def _create(api: Api, **body: object) -> httpx.Response:
    payload = {"name": "org", "base_url": "http://127.0.0.1:9/v1", "model": "m", **body}
    return httpx.post(api.url + "/v1/targets", headers=api.headers, json=payload)


def test_crud_and_secret_never_returned(api: Api) -> None:
    r = _create(api, api_key="sk-very-secret-value")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["has_api_key"] is True and "sk-very-secret-value" not in r.text
    tid = body["id"]
    listing = httpx.get(api.url + "/v1/targets", headers=api.headers)
    assert [t["id"] for t in listing.json()["items"]] == [tid]
    assert "sk-very-secret-value" not in listing.text
    got = httpx.get(f"{api.url}/v1/targets/{tid}", headers=api.headers)
    assert got.json()["base_url"] == "http://127.0.0.1:9/v1"
    with transaction(api.factory) as s:
        row = repo.get(s, tid)
        assert row is not None and row.api_key_encrypted
        assert "sk-very-secret-value" not in row.api_key_encrypted
    assert httpx.delete(f"{api.url}/v1/targets/{tid}", headers=api.headers).status_code == 204
    assert httpx.get(f"{api.url}/v1/targets/{tid}", headers=api.headers).status_code == 404


def test_bad_input_names_the_field(api: Api) -> None:
    r = _create(api, base_url="not a url")
    assert r.status_code == 422 and r.json()["field"] == "base_url"
    r = _create(api, api_key_env="1BAD-NAME")
    assert r.status_code == 422 and r.json()["field"] == "api_key_env"
    r = _create(api, base_url="http://user:pw@127.0.0.1:9/v1")
    assert r.status_code == 422 and "pw" not in r.text
    assert httpx.get(api.url + "/v1/targets", headers=api.headers).json()["items"] == []


def test_egress_policy_blocks_disallowed_addresses(tmp_path, session_factory) -> None:
    from app.main import create_app
    from app.serving import serve_in_thread
    from tests.conftest import make_settings, migrated_sqlite, new_key

    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"), target_egress="public")
    with serve_in_thread(create_app(settings, embedded_worker=False)) as url:
        key = new_key(session_factory)
        r = httpx.post(url + "/v1/targets", headers={"Authorization": f"Bearer {key}"},
                       json={"name": "t", "base_url": "http://127.0.0.1:8000/v1", "model": "m"})
    assert r.status_code == 422
    assert r.json()["error"] == "egress_denied" and r.json()["field"] == "base_url"
    assert "loopback" in r.json()["message"]


def test_check_reports_latency_or_error(api: Api, two_chunk_url: str) -> None:
    ok = _create(api, base_url=two_chunk_url + "/v1", model="two-chunk").json()
    r = httpx.post(f"{api.url}/v1/targets/{ok['id']}/check", headers=api.headers)
    assert r.status_code == 200
    assert r.json()["ok"] is True and r.json()["latency_ms"] > 0 and r.json()["response"]
    dead = _create(api, base_url=f"http://127.0.0.1:{free_port()}/v1").json()
    r = httpx.post(f"{api.url}/v1/targets/{dead['id']}/check", headers=api.headers, timeout=30)
    assert r.json()["ok"] is False and "cannot reach" in r.json()["error"]


def test_delete_refuses_target_with_audits(api: Api, two_chunk_url: str) -> None:
    t = _create(api, base_url=two_chunk_url + "/v1", model="two-chunk").json()
    spec = {"name": "s", "prompts": ["hi"], "features": {"f": {"levels": {"a": "{prompt}",
            "b": "<query>{prompt}</query>"}}}, "behaviours": {"emoji": {"builtin": "emoji"}},
            "design": {"samples_per_prompt": 1}}
    assert httpx.post(api.url + "/v1/audits", headers=api.headers,
                      json={"target_id": t["id"], "spec": spec}).status_code == 201
    r = httpx.delete(f"{api.url}/v1/targets/{t['id']}", headers=api.headers)
    assert r.status_code == 409


def test_an_anthropic_protocol_target_audits_end_to_end(api: Api, two_chunk_url: str) -> None:
    """The organism server speaks the Messages API too; a target created with SURF's
    `anthropic:MODEL` string goes through the official SDK, and the audit finds the planted
    shortcut as it does over the OpenAI protocol."""
    from tests.api.test_audits import SPEC, wait_for

    t = _create(api, base_url=two_chunk_url, model="anthropic:two-chunk").json()
    assert (t["protocol"], t["model"]) == ("anthropic", "two-chunk")
    check = httpx.post(f"{api.url}/v1/targets/{t['id']}/check", headers=api.headers).json()
    assert check["ok"] is True and check["response"], check
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": t["id"], "spec": SPEC})
    assert r.status_code == 201, r.text
    done = wait_for(api, r.json()["id"])
    assert done["status"] == "completed", done
    report = httpx.get(f"{api.url}/v1/audits/{done['id']}/report", headers=api.headers).json()
    assert report["totals"]["completed"] == 180 and report["totals"]["target_errors"] == 0
    emoji = next(f for f in report["findings"] if f["behaviour"] == "emoji")
    assert emoji["flagged"] and emoji["effect"] > 0.5
    bad = _create(api, base_url=two_chunk_url, model="m", protocol="grpc")
    assert bad.status_code == 422 and bad.json()["field"] == "protocol"
