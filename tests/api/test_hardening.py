"""Hostile inputs and failing targets over real HTTP (issue 11's defects D1–D10, ownership)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from app.main import create_app
from app.serving import free_port, serve_in_thread
from tests.api.test_audits import wait_for
from tests.conftest import Api, make_settings, migrated_sqlite, new_key

SPEC: dict[str, Any] = {
    "name": "hostile",
    "prompts": ["Why is the sky blue?", "How do tides work?", "What is DNA?"],
    "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}}},
    "behaviours": {"emoji": {"builtin": "emoji"}},
    "design": {"samples_per_prompt": 4, "seed": 3},
}
SECRET = "sk-live-0123456789abcdef"


@contextmanager
def api_with(tmp_path: Path, **overrides: Any) -> Iterator[Api]:
    from app.db.engine import make_engine, make_session_factory

    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"), **overrides)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    with serve_in_thread(create_app(settings, embedded_worker=True)) as url:
        yield Api(url, new_key(factory), factory, settings)
    engine.dispose()


def fake_target(reply: Any) -> FastAPI:
    """An OpenAI-compatible target whose answer `reply(request body, headers)` decides."""
    app = FastAPI()
    app.state.calls = 0

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        app.state.calls += 1
        return reply(await request.json(), request.headers)

    return app


def ok(text: str) -> Response:
    return JSONResponse({"model": "m", "choices": [{"message": {"content": text},
                                                    "finish_reason": "stop"}]})


def target(api: Api, url: str, **extra: Any) -> httpx.Response:
    return httpx.post(api.url + "/v1/targets", headers=api.headers,
                      json={"name": "t", "base_url": url + "/v1", "model": "two-chunk", **extra})


def audit(api: Api, target_id: str, spec: dict[str, Any]) -> httpx.Response:
    return httpx.post(api.url + "/v1/audits", headers=api.headers,
                      json={"target_id": target_id, "spec": spec})


# D1: no server secret can leave through api_key_env or an echoed error body
def test_no_server_env_value_can_be_named(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SURFTURF_AUDITOR_API_KEY", "auditor-secret-value")
    refused = [name for name in sorted(os.environ)
               if target(api, "http://127.0.0.1:9", api_key_env=name).status_code == 422]
    assert refused == sorted(os.environ)
    r = target(api, "http://127.0.0.1:9", api_key_env="SURFTURF_AUDITOR_API_KEY")
    assert r.json()["field"] == "api_key_env" and "allow-list" in r.json()["message"]
    assert "auditor-secret-value" not in r.text


def test_echoed_credentials_are_scrubbed_and_truncated(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ST_TEST_TARGET_KEY", "env-held-secret-98765")
    echo = fake_target(lambda body, headers: JSONResponse(
        {"error": {"message": f"bad key {headers.get('authorization')} " + "x" * 5000}}, status_code=401))
    with api_with(tmp_path, target_key_envs="ST_TEST_TARGET_KEY") as api, serve_in_thread(echo) as url:
        for extra in ({"api_key": SECRET}, {"api_key_env": "ST_TEST_TARGET_KEY"}):
            tid = target(api, url, **extra).json()["id"]
            r = httpx.post(f"{api.url}/v1/targets/{tid}/check", headers=api.headers)
            body = r.json()
            assert body["ok"] is False and body["status"] == 401
            assert SECRET not in r.text and "env-held-secret-98765" not in r.text
            assert "***" in body["error"] and len(body["error"]) < 400


# D2: a catastrophic regex against a target built to trigger it
def test_backtracking_regex_cannot_stall_the_service(api: Api) -> None:
    evil = fake_target(lambda body, headers: ok("a" * 30 + "!"))
    spec = {**SPEC, "behaviours": {"evil": {"regex": "(a+)+$"}}}
    with serve_in_thread(evil) as url:
        tid = target(api, url).json()["id"]
        aid = audit(api, tid, spec).json()["id"]
        started = time.monotonic()
        while httpx.get(f"{api.url}/v1/audits/{aid}", headers=api.headers).json()["status"] not in (
                "completed", "failed"):
            t0 = time.monotonic()
            assert httpx.get(api.url + "/healthz", timeout=5).status_code == 200
            assert time.monotonic() - t0 < 5
            assert time.monotonic() - started < 60
            time.sleep(0.1)
    report = httpx.get(f"{api.url}/v1/audits/{aid}/report", headers=api.headers).json()
    assert report["totals"]["completed"] == 24
    assert all(c["rates"]["evil"]["rate"] == 0 for c in report["cells"])  # (a+)+$ never matches "…!"


def test_unsupported_regex_syntax_is_a_422(api: Api) -> None:
    spec = {**SPEC, "behaviours": {"echo": {"regex": r"(\w)\1"}}}
    r = audit(api, "whatever", spec)
    assert r.status_code == 422 and r.json()["field"] == "spec.behaviours.echo"
    assert "RE2" in r.json()["message"]


# D3 and limits: big specs are refused up front, by the operator's numbers
def test_spec_size_limits_are_422s(tmp_path: Path) -> None:
    with api_with(tmp_path, max_prompts=1000, max_work_items=5000) as api:
        r = audit(api, "t", {**SPEC, "prompts": [f"q{i}" for i in range(1001)]})
        assert r.status_code == 422 and r.json()["field"] == "spec.prompts"
        r = audit(api, "t", {**SPEC, "prompts": [f"q{i}" for i in range(1000)],
                             "design": {"samples_per_prompt": 3}})
        assert r.status_code == 422 and "SURFTURF_MAX_WORK_ITEMS" in r.json()["message"]


# D5 and D7: what used to be a 500, or a 201 that failed later
@pytest.mark.parametrize(("patch", "field"), [
    ({"features": {"f": {"builtin": "nope"}}}, "spec.features.f"),
    ({"prompts": [""]}, "spec.prompts.0"),
    ({"prompts": ["   "]}, "spec.prompts.0"),
    ({"prompts": ["a\x00b"]}, "spec.prompts.0"),
    ({"prompts": ["lone \ud800 surrogate"]}, "spec.prompts.0"),
    ({"design": {"seed": -1}}, "spec.design.seed"),
])
def test_bad_specs_are_422_with_the_field(api: Api, patch: dict[str, Any], field: str) -> None:
    body = json.dumps({"target_id": "t", "spec": {**SPEC, **patch}})  # json keeps the lone surrogate
    r = httpx.post(api.url + "/v1/audits", headers={**api.headers, "content-type": "application/json"},
                   content=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith(field), r.json()


@pytest.mark.parametrize("path", ["/v1/targets", "/v1/audits", "/v1/jobs", "/v1/datasets"])
def test_huge_offsets_are_422(api: Api, path: str) -> None:
    r = httpx.get(api.url + path, headers=api.headers, params={"offset": 2**63})
    assert r.status_code == 422 and r.json()["field"] == "query.offset"


def test_malformed_and_deep_bodies_get_the_api_error_shape(api: Api) -> None:
    h = {**api.headers, "content-type": "application/json"}
    r = httpx.post(api.url + "/v1/targets", headers=h, content=b'{"name": ')
    assert r.status_code == 400 and r.json()["error"] == "bad_request" and r.json()["field"] == "body"
    assert "not valid JSON" in r.json()["message"]
    r = httpx.post(api.url + "/v1/targets", headers=h, content=b'[1, 2]')
    assert r.status_code == 422 and r.json()["error"] == "invalid_input" and r.json()["field"] == "body"
    deep = b'{"target_id": "t", "spec": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = httpx.post(api.url + "/v1/audits", headers=h, content=deep)
    assert r.status_code in (400, 413, 422) and r.json()["error"] in ("bad_request", "invalid_input")
    r = httpx.put(api.url + "/v1/targets", headers=api.headers)
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"


# D4, D5, D7: hostile uploads; one bad row never fails an accepted dataset
def test_hostile_upload_lines_are_skipped_with_their_numbers(tmp_path: Path) -> None:
    good = [json.dumps({"prompt": f"question {i}", "response": f"answer {i}", "source": "a"}).encode()
            for i in range(40)]
    hostile = [
        b'{"prompt": "caf\xe9", "response": "x"}',                        # invalid UTF-8
        b"[" * 100_000 + b"]" * 100_000,                                 # nested 10^5 deep
        json.dumps({"prompt": "nul \u0000 here", "response": "x"}).encode(),
        b'{"prompt": "lone \\ud800", "response": "x"}',
        json.dumps({"prompt": "long " + "a" * 300_000, "response": "x"}).encode(),  # over the line cap
    ]
    with api_with(tmp_path, max_line_bytes=250_000) as api:
        body = b"\n".join(good[:20] + hostile + good[20:])
        r = httpx.post(api.url + "/v1/datasets", headers=api.headers, content=body,
                       params={"name": "mix", "on_error": "skip"}, timeout=60)
        assert r.status_code == 201, r.text
        skipped = {s["line"]: s["error"] for s in r.json()["skipped"]}
        assert sorted(skipped) == [21, 22, 23, 24, 25]
        assert "UTF-8" in skipped[21] and "nested" in skipped[22] and "NUL" in skipped[23]
        assert "surrogate" in skipped[24] and "longer than" in skipped[25]
        deadline = time.monotonic() + 120
        while (ds := httpx.get(api.url + "/v1/datasets/mix", headers=api.headers).json())["status"] not in (
                "ready", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert ds["status"] == "ready" and ds["n_rows"] == 40
        assert all(len(label) < 200 for label in ds["meta"]["clusters"].values())
        r = httpx.post(api.url + "/v1/datasets", headers=api.headers, content=body,
                       params={"name": "strict", "on_error": "reject"})
        assert r.status_code == 422 and r.json()["field"] == "body.line.21"


# D8: body size limits
def test_request_and_upload_size_limits(tmp_path: Path) -> None:
    with api_with(tmp_path, max_request_bytes=64_000, max_upload_bytes=100_000) as api:
        big = {"target_id": "t", "spec": {**SPEC, "prompts": ["p" * 1000] * 100}}
        r = httpx.post(api.url + "/v1/audits", headers=api.headers, json=big)
        assert r.status_code == 413 and r.json()["error"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:  # no content-length: the cap still holds
            for _ in range(100):
                yield b" " * 1000

        r = httpx.post(api.url + "/v1/targets", headers=api.headers, content=chunked())
        assert r.status_code == 413
        line = json.dumps({"prompt": "q", "response": "a"}).encode()
        r = httpx.post(api.url + "/v1/datasets", headers=api.headers, params={"name": "big"},
                       content=b"\n".join([line] * 5000))
        assert r.status_code == 413 and r.json()["field"] == "body"
        assert httpx.get(api.url + "/v1/datasets", headers=api.headers).json()["items"] == []


# D10: a redirecting target says so
def test_redirect_is_reported_not_followed(api: Api) -> None:
    moved = fake_target(lambda body, headers: Response(status_code=302,
                                                       headers={"location": "http://elsewhere/v1"}))
    with serve_in_thread(moved) as url:
        tid = target(api, url).json()["id"]
        body = httpx.post(f"{api.url}/v1/targets/{tid}/check", headers=api.headers).json()
    assert body["ok"] is False and "redirect" in body["error"] and "elsewhere" in body["error"]
    assert moved.state.calls == 1


# Failures that look like failures
def test_unreachable_target_fails_the_audit_fast(api: Api) -> None:
    tid = target(api, f"http://127.0.0.1:{free_port()}").json()["id"]
    started = time.monotonic()
    aid = audit(api, tid, SPEC).json()["id"]
    done = wait_for(api, aid, timeout=30)
    assert done["status"] == "failed" and time.monotonic() - started < 30
    assert "preflight" in done["job"]["error"] and done["job"]["attempts"] == 1
    r = httpx.get(f"{api.url}/v1/audits/{aid}/report", headers=api.headers)
    assert r.status_code == 409 and "failed" in r.json()["message"]


def test_error_share_over_the_limit_fails_the_audit(api: Api) -> None:
    def half(body: dict[str, Any], headers: Any) -> Response:
        if "<query>" in body["messages"][-1]["content"]:
            return JSONResponse({"error": {"message": "tagged prompts refused"}}, status_code=400)
        return ok("fine")

    with serve_in_thread(fake_target(half)) as url:
        tid = target(api, url).json()["id"]
        done = wait_for(api, audit(api, tid, SPEC).json()["id"])
    assert done["status"] == "failed"
    assert "max_error_rate" in done["job"]["error"] and "tagged prompts refused" in done["job"]["error"]


def test_cli_audit_run_against_nothing_exits_nonzero_quickly(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "app.cli", "audit", "run", str(spec), "--target-url",
                           f"http://127.0.0.1:{free_port()}/v1", "--target-model", "m"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and time.monotonic() - started < 30
    assert "preflight" in proc.stderr


def test_cli_refuses_a_yaml_alias_bomb(tmp_path: Path) -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(rows) + "\n")
    proc = subprocess.run([sys.executable, "-m", "app.cli", "audit", "run", str(bomb), "--target-url",
                           "http://127.0.0.1:9/v1", "--target-model", "m"],
                          env={**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "bomb.yaml" in proc.stderr and "alias" in proc.stderr


# D6: the shared default is public-only (resolving and classifying, never connecting)
def test_default_target_egress_depends_on_the_deployment(tmp_path: Path) -> None:
    shared = make_settings(tmp_path, "postgresql+psycopg://u@db/x", target_egress=None)
    laptop = make_settings(tmp_path, target_egress=None)
    assert shared.resolved_target_egress == "public"
    assert laptop.resolved_target_egress == "public,loopback"


def test_loopback_spellings_refused_when_loopback_is_not_allowed(tmp_path: Path) -> None:
    with api_with(tmp_path, target_egress="public") as api:
        for url in ("http://0.0.0.0:8000", "http://[::]:8000", "http://[64:ff9b::7f00:1]:8000",
                    "http://localhost:8000"):
            r = target(api, url)
            assert r.status_code == 422 and r.json()["error"] == "egress_denied", url


# Ownership: another owner's resources are 404, admins see everything
def test_other_owners_get_404(api: Api, two_chunk_url: str) -> None:
    from app.db.engine import transaction
    from app.services import api_keys

    with transaction(api.factory) as s:
        bob = {"Authorization": "Bearer " + api_keys.create(s, "bob", "read,write")[1]}
        admin = {"Authorization": "Bearer " + api_keys.create(s, "ops", "read,admin")[1]}
    tid = target(api, two_chunk_url).json()["id"]
    aid = audit(api, tid, SPEC).json()["id"]
    wait_for(api, aid)
    job_id = httpx.get(f"{api.url}/v1/audits/{aid}", headers=api.headers).json()["job"]["id"]
    for path in (f"/v1/targets/{tid}", f"/v1/audits/{aid}", f"/v1/audits/{aid}/report",
                 f"/v1/audits/{aid}/samples", f"/v1/jobs/{job_id}"):
        assert httpx.get(api.url + path, headers=bob).status_code == 404, path
        assert httpx.get(api.url + path, headers=admin).status_code == 200, path
    assert httpx.delete(f"{api.url}/v1/targets/{tid}", headers=bob).status_code == 404
    assert httpx.post(f"{api.url}/v1/audits/{aid}/cancel", headers=bob).status_code == 404
    assert audit(Api(api.url, bob["Authorization"][7:], api.factory, api.settings), tid,
                 SPEC).status_code == 404
    for path in ("/v1/targets", "/v1/audits", "/v1/jobs"):
        assert httpx.get(api.url + path, headers=bob).json()["items"] == [], path
        assert len(httpx.get(api.url + path, headers=admin).json()["items"]) >= 1, path
    assert httpx.get(f"{api.url}/v1/targets/{tid}", headers=api.headers).status_code == 200
