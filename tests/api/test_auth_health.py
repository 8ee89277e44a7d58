"""Auth on every non-health route; health, readiness, metrics and docs over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from app.db.engine import transaction
from app.db.repositories import api_keys as keys_repo
from app.services.api_keys import hash_key
from tests.conftest import Api, new_key

PROTECTED = [
    ("GET", "/v1/targets"), ("POST", "/v1/targets"), ("GET", "/v1/targets/x"),
    ("DELETE", "/v1/targets/x"), ("POST", "/v1/targets/x/check"), ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/x"), ("POST", "/v1/jobs/x/cancel"), ("GET", "/v1/audits"),
    ("POST", "/v1/audits"), ("GET", "/v1/audits/x"), ("GET", "/v1/audits/x/report"),
    ("POST", "/v1/audits/x/cancel"), ("GET", "/v1/schemas/probe-spec"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_unauthenticated_calls_get_401_json(api: Api, method: str, path: str) -> None:
    r = httpx.request(method, api.url + path, json={})
    assert r.status_code == 401
    assert r.json()["error"] == "unauthorized"
    assert "API key" in r.json()["message"]


def test_wrong_key_is_401_and_revoked_key_is_403(api: Api) -> None:
    r = httpx.get(api.url + "/v1/targets", headers={"Authorization": "Bearer st_nope"})
    assert r.status_code == 401 and r.json()["message"] == "invalid API key"
    key = new_key(api.factory)
    with transaction(api.factory) as s:
        row = keys_repo.by_hash(s, hash_key(key))
        assert row is not None
        keys_repo.revoke(s, row.id)
    r = httpx.get(api.url + "/v1/targets", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 403 and "revoked" in r.json()["message"]


def test_read_only_key_cannot_write(api: Api) -> None:
    key = new_key(api.factory, scopes="read")
    h = {"Authorization": f"Bearer {key}"}
    assert httpx.get(api.url + "/v1/targets", headers=h).status_code == 200
    r = httpx.post(api.url + "/v1/targets", headers=h,
                   json={"name": "t", "base_url": "http://127.0.0.1:9/v1", "model": "m"})
    assert r.status_code == 403 and "write" in r.json()["message"]


def test_keys_are_stored_hashed(api: Api) -> None:
    with transaction(api.factory) as s:
        rows = keys_repo.list_keys(s)
    assert rows and all(api.key not in (r.key_hash, r.prefix) for r in rows)
    assert any(r.key_hash == hash_key(api.key) for r in rows)


def test_health_ready_metrics_docs_are_open(api: Api) -> None:
    assert httpx.get(api.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(api.url + "/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "migrations": "ok"}
    httpx.get(api.url + "/v1/targets", headers=api.headers)
    metrics = httpx.get(api.url + "/metrics")
    assert metrics.status_code == 200
    assert 'surfturf_http_requests_total{method="GET",route="/v1/targets",status="200"}' in metrics.text
    assert 'surfturf_jobs{status="queued"}' in metrics.text
    assert httpx.get(api.url + "/docs").status_code == 200
    spec = httpx.get(api.url + "/openapi.json").json()
    assert "/v1/audits" in spec["paths"]


def test_request_id_is_echoed_or_generated(api: Api) -> None:
    r = httpx.get(api.url + "/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = httpx.get(api.url + "/healthz").headers["x-request-id"]
    assert len(generated) == 32


def test_readyz_reports_unmigrated_database(tmp_path) -> None:
    from app.main import create_app
    from app.serving import serve_in_thread
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'empty.db'}")
    with serve_in_thread(create_app(settings, embedded_worker=False)) as url:
        r = httpx.get(url + "/readyz")
    assert r.status_code == 503
    assert "surfturf db upgrade" in r.json()["checks"]["migrations"]
