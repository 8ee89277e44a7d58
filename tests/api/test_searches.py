"""/v1/searches over HTTP: create, watch it search then confirm, read search.json and the
confirmation audit (linked both ways), cancel; and every bad request a 422 naming its field."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from app.core.search.result import SearchResult
from tests.conftest import Api
from tests.search.planted import search_spec


def target(api: Api, url: str) -> str:
    r = httpx.post(api.url + "/v1/targets", headers=api.headers,
                   json={"name": "org", "base_url": url + "/v1", "model": "two-emoji-triggers"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def create(api: Api, tid: str, spec: dict[str, Any]) -> httpx.Response:
    return httpx.post(api.url + "/v1/searches", headers=api.headers, json={"target_id": tid, "spec": spec})


def test_search_then_confirmation_over_http(api: Api, planted_url: Any) -> None:
    url, _ = planted_url
    tid = target(api, url)
    spec = search_spec(budget={"iterations": 4, "candidates_per_iteration": 16},
                       confirm={"top_k": 2, "samples_per_prompt": 6})
    r = create(api, tid, spec)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    early = httpx.get(f"{api.url}/v1/searches/{sid}/result", headers=api.headers)
    assert early.status_code == 409 and early.json()["error"] == "conflict"
    seen, deadline = set(), time.monotonic() + 180
    while (body := httpx.get(f"{api.url}/v1/searches/{sid}", headers=api.headers).json())["status"] \
            not in ("completed", "failed", "cancelled"):
        seen.add(body["status"])
        assert time.monotonic() < deadline, body
        time.sleep(0.1)
    assert body["status"] == "completed", body["job"]
    assert "confirming" in seen and body["confirmation_audit_id"]
    doc = httpx.get(f"{api.url}/v1/searches/{sid}/result", headers=api.headers).json()
    SearchResult.model_validate(doc)
    assert doc["usage"]["candidates"] == 64 and len(body["discoveries"]) == 2
    assert {d["attribute"] for d in doc["discoveries"] if d["confirmed"]} == {"query_tag", "metadata"}
    audit = httpx.get(f"{api.url}/v1/audits/{body['confirmation_audit_id']}", headers=api.headers).json()
    assert audit["search_id"] == sid and audit["status"] == "completed"
    listed = httpx.get(f"{api.url}/v1/searches", headers=api.headers).json()["items"]
    assert sid in [s["id"] for s in listed]
    schema = httpx.get(f"{api.url}/v1/schemas/search-spec", headers=api.headers).json()
    assert {"seed_prompts", "attributes", "judge", "budget", "confirm"} <= set(schema["properties"])

    # Confirmation on its own: named attributes of the pool, as a new audit linked to the search.
    path = f"{api.url}/v1/searches/{sid}/confirmations"
    bad = httpx.post(path, headers=api.headers, json={"attributes": ["query_tag", "nosuch"]})
    assert bad.status_code == 422 and bad.json()["field"] == "attributes"
    r = httpx.post(path, headers=api.headers,
                   json={"attributes": ["query_tag", "bold"], "samples_per_prompt": 5})
    assert r.status_code == 201 and r.json()["search_id"] == sid, r.text
    again = r.json()["id"]
    deadline = time.monotonic() + 120
    while httpx.get(f"{api.url}/v1/audits/{again}", headers=api.headers).json()["status"] not in (
            "completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    report = httpx.get(f"{api.url}/v1/audits/{again}/report", headers=api.headers).json()
    flagged = {f["feature"] for f in report["findings"] if f["flagged"]}
    assert flagged == {"query_tag"} and report["totals"]["completed"] == 4 * 6 * 5
    kept = httpx.get(f"{api.url}/v1/searches/{sid}/result", headers=api.headers).json()
    assert kept["confirmation"]["audit_id"] == body["confirmation_audit_id"] != again


def test_cancel_a_running_search(api: Api) -> None:
    from app.organism_server import create_organism_app
    from app.serving import serve_in_thread
    from tests.search.planted import PLANTED

    with serve_in_thread(create_organism_app(PLANTED, latency_ms=50)) as url:
        sid = create(api, target(api, url), search_spec(concurrency=2)).json()["id"]
        deadline = time.monotonic() + 30
        while httpx.get(f"{api.url}/v1/searches/{sid}", headers=api.headers).json()["job"]["progress"][
                "done"] < 3:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        r = httpx.post(f"{api.url}/v1/searches/{sid}/cancel", headers=api.headers)
        assert r.status_code == 200
        deadline = time.monotonic() + 30
        while (body := httpx.get(f"{api.url}/v1/searches/{sid}", headers=api.headers).json())["status"] \
                != "cancelled":
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
    assert body["job"]["progress"]["done"] < 144 and body["discoveries"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"attributes": None, "attributes_file": "/etc/passwd"}, "spec.attributes_file"),
    ({"attributes": None, "attributes_from_dataset": {"dataset": "d"}},
     "spec.attributes_from_dataset.dataset"),
    ({"judge": {"rubric": {"principle": "no emojis"}}}, "spec"),  # no auditor model configured
    ({"budget": {"iterations": 0}}, "spec.budget.iterations"),
    ({"nope": 1}, "spec.nope"),
    ({"attributes": [{"id": "x", "text": "X"}, {"id": "y", "text": "Y"}]}, "spec"),  # need a query model
])
def test_bad_searches_are_422_with_the_field(api: Api, planted_url: Any, change: dict[str, Any],
                                             field: str) -> None:
    tid = target(api, planted_url[0])
    r = create(api, tid, {**search_spec(), **change})
    assert r.status_code == 422 and r.json()["field"] == field, r.text
    assert httpx.get(api.url + "/v1/searches", headers=api.headers).json()["items"] == []


def test_unknown_target_and_no_key(api: Api) -> None:
    assert create(api, "nosuch", search_spec()).status_code == 404
    assert httpx.post(api.url + "/v1/searches", json={}).status_code == 401
