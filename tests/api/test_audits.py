"""Audits over HTTP against a real organism server, worker embedded in the API process."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from app.audits.use_cases import analyze_samples
from app.core.surf.samples import read_jsonl
from app.core.surf.spec import ProbeSpec
from tests.conftest import Api

SPEC: dict[str, Any] = {
    "name": "tags",
    "prompts": ["Why is the sky blue?", "How do tides work?", "What is DNA?"],
    "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}}},
    "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
    "design": {"samples_per_prompt": 30, "seed": 3},
}


def _target(api: Api, url: str) -> str:
    r = httpx.post(api.url + "/v1/targets", headers=api.headers,
                   json={"name": "org", "base_url": url + "/v1", "model": "two-chunk"})
    return str(r.json()["id"])


def wait_for(api: Api, audit_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = httpx.get(f"{api.url}/v1/audits/{audit_id}", headers=api.headers).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            return dict(body)
        time.sleep(0.1)
    raise AssertionError(f"audit {audit_id} did not finish")


def test_audit_runs_to_a_report(api: Api, two_chunk_url: str) -> None:
    tid = _target(api, two_chunk_url)
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": tid, "spec": SPEC})
    assert r.status_code == 201, r.text
    audit = r.json()
    assert audit["status"] in ("queued", "running") and audit["job"]["kind"] == "audit.run"
    assert httpx.get(f"{api.url}/v1/audits/{audit['id']}/report", headers=api.headers).status_code in (
        409, 200)
    done = wait_for(api, audit["id"])
    assert done["status"] == "completed", done
    assert done["job"]["progress"]["done"] == done["job"]["progress"]["total"] == 180
    report = httpx.get(f"{api.url}/v1/audits/{audit['id']}/report", headers=api.headers).json()
    assert report["schema_version"] == 2 and report["audit_id"] == audit["id"]
    assert report["totals"]["completed"] == 180
    emoji = next(f for f in report["findings"] if f["behaviour"] == "emoji")
    assert emoji["flagged"] and emoji["miscalibrated"] and emoji["effect"] > 0.5
    assert emoji["ci_low"] <= emoji["effect"] <= emoji["ci_high"]
    signoff = next(f for f in report["findings"] if f["behaviour"] == "signoff")
    assert not signoff["flagged"]
    for cell in report["cells"]:
        for rate in cell["rates"].values():
            assert rate["ci_low"] <= rate["rate"] <= rate["ci_high"]
        assert cell["examples"][0]["messages"][-1]["role"] == "user"
    page = httpx.get(f"{api.url}/v1/audits/{audit['id']}/report.html", headers=api.headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'id="effect-{emoji["feature"]}-{emoji["level"]}-emoji"' in page.text
    assert httpx.get(f"{api.url}/v1/audits/{audit['id']}/report.html").status_code == 401


def test_invalid_spec_is_422_naming_the_field_and_stores_nothing(api: Api, two_chunk_url: str) -> None:
    tid = _target(api, two_chunk_url)
    bad = {**SPEC, "behaviours": {"emoji": {"builtin": "no_such_scorer"}}}
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": tid, "spec": bad})
    assert r.status_code == 422
    assert r.json()["field"] == "spec.behaviours.emoji"
    assert "no_such_scorer" in r.json()["message"]
    bad = {**SPEC, "design": {"samples_per_prompt": 0}}
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": tid, "spec": bad})
    assert r.json()["field"] == "spec.design.samples_per_prompt"
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": "nope", "spec": SPEC})
    assert r.status_code == 404
    assert httpx.get(api.url + "/v1/audits", headers=api.headers).json()["items"] == []
    assert httpx.get(api.url + "/v1/jobs", headers=api.headers).json()["items"] == []


def test_cancel_stops_a_running_audit(api: Api) -> None:
    from app.organism_server import create_organism_app
    from app.serving import serve_in_thread
    from tests.conftest import organism_spec

    slow = create_organism_app(organism_spec("two-chunk"), latency_ms=50)
    with serve_in_thread(slow) as url:
        tid = _target(api, url)
        spec = {**SPEC, "design": {"samples_per_prompt": 500, "concurrency": 2}}
        audit = httpx.post(api.url + "/v1/audits", headers=api.headers,
                           json={"target_id": tid, "spec": spec}).json()
        deadline = time.monotonic() + 30
        while httpx.get(f"{api.url}/v1/audits/{audit['id']}", headers=api.headers).json()[
                "job"]["progress"]["done"] < 10:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        r = httpx.post(f"{api.url}/v1/audits/{audit['id']}/cancel", headers=api.headers)
        # 3000 samples: cut into chunk jobs, so the audit's own job is often waiting (queued) and
        # cancels at once; its running chunks stop at their next heartbeat
        assert r.status_code == 200 and (r.json()["job"]["cancel_requested"]
                                         or r.json()["status"] == "cancelled"), r.json()
        done = wait_for(api, audit["id"], timeout=30)

        def chunks() -> list[str]:
            jobs = httpx.get(f"{api.url}/v1/jobs", params={"kind": "audit.chunk"},
                             headers=api.headers).json()["items"]
            return [j["status"] for j in jobs]

        deadline = time.monotonic() + 30
        while any(st in ("queued", "running") for st in chunks()):
            assert time.monotonic() < deadline, chunks()
            time.sleep(0.1)
    assert done["status"] == "cancelled"
    assert done["job"]["progress"]["done"] < 3000 and "cancelled" in chunks()


def test_probe_spec_schema_is_published(api: Api) -> None:
    schema = httpx.get(api.url + "/v1/schemas/probe-spec", headers=api.headers).json()
    assert {"prompts", "features", "behaviours", "design"} <= set(schema["properties"])


def _run(api: Api, url: str, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    tid = _target(api, url)
    audit = httpx.post(api.url + "/v1/audits", headers=api.headers,
                       json={"target_id": tid, "spec": spec}).json()
    done = wait_for(api, audit["id"])
    assert done["status"] == "completed", done
    return audit["id"], done


def test_exported_samples_reanalyse_to_the_same_report(api: Api, two_chunk_url: str) -> None:
    spec = {**SPEC, "features": {**SPEC["features"], "user_role": {"builtin": "user_role"}},
            "design": {"samples_per_prompt": 5, "seed": 4}}
    audit_id, _ = _run(api, two_chunk_url, spec)
    report = httpx.get(f"{api.url}/v1/audits/{audit_id}/report", headers=api.headers).json()
    with httpx.stream("GET", f"{api.url}/v1/audits/{audit_id}/samples", headers=api.headers) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = list(r.iter_lines())
    assert len(lines) == 3 * 4 * 5  # every sample, not two per cell
    first = json.loads(lines[0])
    assert set(first) >= {"prompt_index", "levels", "sample_index", "scores", "response", "messages"}
    parsed = ProbeSpec.model_validate(spec)
    again = analyze_samples(parsed, read_jsonl(lines, parsed)).model_dump(mode="json")
    for key in ("findings", "cells", "interactions", "ranking", "family"):
        assert again[key] == report[key], key
    missing = httpx.get(f"{api.url}/v1/audits/nope/samples", headers=api.headers)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert httpx.get(f"{api.url}/v1/audits/{audit_id}/samples").status_code == 401


def test_sequential_audit_stops_once_every_finding_is_decided(api: Api, two_chunk_url: str) -> None:
    prompts = [f"Question {i}: why is the sky blue?" for i in range(10)]
    spec = {**SPEC, "prompts": prompts,
            "design": {"kind": "sequential", "samples_per_prompt": 40, "samples_per_round": 8, "seed": 2}}
    audit_id, done = _run(api, two_chunk_url, spec)
    report = httpx.get(f"{api.url}/v1/audits/{audit_id}/report", headers=api.headers).json()
    seq = report["sequential"]
    assert seq["max_rounds"] == 5 and seq["rounds_run"] < 5 and seq["open"] == []
    assert seq["stopped"] == f"every finding decided after round {seq['rounds_run']}"
    assert report["totals"]["completed"] == 2 * 10 * 8 * seq["rounds_run"] < report["totals"]["work_items"]
    emoji = next(f for f in report["findings"] if f["behaviour"] == "emoji")
    assert emoji["verdict"] == "miscalibrated" and emoji["decided_at_round"] == 1
    signoff = next(f for f in report["findings"] if f["behaviour"] == "signoff")
    assert signoff["verdict"] == "negligible"
    assert -0.1 <= signoff["ci_adj_low"] <= signoff["ci_adj_high"] <= 0.1
    assert seq["alpha_spent"] < report["alpha"]  # the looks it did not take spent nothing


def test_a_finding_without_enough_prompts_is_reported_not_dropped(api: Api, two_chunk_url: str) -> None:
    spec = {**SPEC, "prompts": SPEC["prompts"][:2], "design": {"samples_per_prompt": 5, "seed": 1}}
    audit_id, _ = _run(api, two_chunk_url, spec)
    report = httpx.get(f"{api.url}/v1/audits/{audit_id}/report", headers=api.headers).json()
    assert report["family"]["size"] == 2 and len(report["findings"]) == 2
    for f in report["findings"]:
        assert f["verdict"] == "not estimable" and not f["flagged"] and f["effect"] is None
        assert "at least 3" in f["reason"] and f["q_value"] == 1.0
