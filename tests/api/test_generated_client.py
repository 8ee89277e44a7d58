"""The API contract as tooling sees it: the checked-in OpenAPI document matches the live one, and
a client generated from the live document by openapi-python-client drives the whole workflow
(target → audit → report → dataset upload → trace by reference) with typed models."""

from __future__ import annotations

import importlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"name": "generated-client", "prompts": ["Why is the sky blue?", "How do vaccines work?",
                                                "What is a black hole?", "How does a rainbow form?",
                                                "Why do we have leap years?", "What causes tides?"],
        "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 12, "concurrency": 8}}


def test_checked_in_openapi_matches_the_app() -> None:
    live = subprocess.run([sys.executable, "-m", "app.cli", "openapi"], capture_output=True, text=True,
                          timeout=120, check=True).stdout
    stored = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert json.loads(live) == json.loads(stored), (
        "docs/openapi.json is stale: run `surfturf openapi > docs/openapi.json` and commit it")


def test_checked_in_event_schema_matches_the_models() -> None:
    live = subprocess.run([sys.executable, "-m", "app.cli", "webhooks", "schema"], capture_output=True,
                          text=True, timeout=120, check=True).stdout
    stored = (ROOT / "docs" / "webhook-events.schema.json").read_text(encoding="utf-8")
    assert json.loads(live) == json.loads(stored), (
        "docs/webhook-events.schema.json is stale: run `surfturf webhooks schema > "
        "docs/webhook-events.schema.json` and commit it")


def test_the_contract_is_typed_and_declared() -> None:
    doc = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    ops = {op["operationId"]: (path, method, op) for path, item in doc["paths"].items()
           for method, op in item.items()}
    assert {"audits_create", "audits_report", "audits_resume", "traces_create", "traces_get",
            "datasets_upload", "jobs_list", "health_metrics"} <= set(ops)
    schemas = doc["components"]["schemas"]
    for name in ("AuditStatus", "JobStatus", "DatasetStatus", "TraceStatus"):
        assert schemas[name]["enum"], name
    assert schemas["AuditCreate"]["properties"]["spec"]["$ref"].endswith("/ProbeSpec")
    assert schemas["TraceCreate"]["additionalProperties"] is False
    assert schemas["AuditReport"]["properties"]["totals"]["$ref"].endswith("/Totals")
    for op_id in ("audits_report", "audits_resume", "traces_create"):
        assert "409" in ops[op_id][2]["responses"], op_id
    metrics = ops["health_metrics"][2]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    upload = ops["datasets_upload"][2]["requestBody"]["content"]
    assert list(upload) == ["application/octet-stream"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    out = tmp_path_factory.mktemp("client")
    tool = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    assert tool, "openapi-python-client must be installed (the `client` extra)"
    r = subprocess.run([tool, "generate", "--path", str(ROOT / "docs" / "openapi.json"), "--meta", "none",
                        "--output-path", str(out / "surfturf_client")], capture_output=True, text=True,
                       timeout=300, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:"
                                         f"{os.environ.get('PATH', '')}"})
    assert r.returncode == 0, r.stdout + r.stderr
    # the one omission allowed: the NDJSON samples export, read with the client's httpx instead
    warnings = [ln for ln in (r.stdout + r.stderr).splitlines() if ln.startswith("WARNING parsing")]
    assert warnings == ["WARNING parsing GET /v1/audits/{audit_id}/samples within audits."], r.stdout
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("surfturf_client")
    finally:
        sys.path.remove(str(out))
        for name in [m for m in sys.modules if m.startswith("surfturf_client")]:
            del sys.modules[name]


def poll(get: Callable[[], Any], done: set[str], timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        obj = get()
        if str(obj.status.value) in done:
            return obj
        time.sleep(0.2)
    raise AssertionError(f"still {obj.status} after {timeout} s")


@pytest.mark.slow
def test_a_generated_client_drives_audit_report_dataset_and_trace(
        generated: ModuleType, api: Api, two_chunk_url: str) -> None:
    from surfturf_client import AuthenticatedClient
    from surfturf_client.api.audits import audits_create, audits_get, audits_report
    from surfturf_client.api.targets import targets_create
    from surfturf_client.api.turf import datasets_get, datasets_upload, traces_create, traces_get
    from surfturf_client.models import (
        AuditCreate,
        AuditStatus,
        ErrorBody,
        FindingRef,
        ProbeSpec,
        TargetCreate,
        TraceCreate,
    )
    from surfturf_client.types import File

    c = AuthenticatedClient(base_url=api.url, token=api.key, raise_on_unexpected_status=True)
    target = targets_create.sync(client=c, body=TargetCreate(
        name="organism", base_url=two_chunk_url + "/v1", model="two-chunk"))
    assert target is not None and not isinstance(target, ErrorBody)

    bad = audits_create.sync(client=c, body=AuditCreate.from_dict({"target_id": target.id, "spec": {
        **SPEC, "design": {"samples_per_prompt": 0}}}))
    assert isinstance(bad, ErrorBody) and bad.field == "spec.design.samples_per_prompt"

    audit = audits_create.sync(client=c, body=AuditCreate(target_id=target.id,
                                                          spec=ProbeSpec.from_dict(SPEC)))
    assert audit is not None and not isinstance(audit, ErrorBody)
    early = audits_report.sync(client=c, audit_id=audit.id)
    assert (isinstance(early, ErrorBody) and early.error == "conflict") or hasattr(early, "findings")
    audit = poll(lambda: audits_get.sync(client=c, audit_id=audit.id), {"completed", "failed"})
    assert audit.status == AuditStatus.COMPLETED and audit.summary.totals.completed == 144
    progress = audit.job.progress
    assert (progress.done, progress.total, progress.message) == (144, 144, "done")
    report = audits_report.sync(client=c, audit_id=audit.id)
    assert report is not None and not isinstance(report, ErrorBody)
    finding = next(f for f in report.findings if f.behaviour == "emoji")
    assert finding.verdict.value == "miscalibrated" and finding.ci_adj_low > 0.5
    assert report.totals.work_items == 144 and report.target.model == "two-chunk"

    organism = OrganismSpec.from_file(ROOT / "app" / "data" / "organism-specs" / "two-chunk.yaml")
    rows = build_rows_sync(organism)
    data = b"\n".join(json.dumps({k: r[k] for k in ("id", "source", "messages")}).encode() for r in rows)
    ds = datasets_upload.sync(client=c, name="two-chunk",
                              body=File(payload=io.BytesIO(data), mime_type="application/octet-stream"))
    assert ds is not None and not isinstance(ds, ErrorBody)
    ds = poll(lambda: datasets_get.sync(client=c, ref=ds.id), {"ready", "failed"})
    assert ds.status.value == "ready" and ds.n_rows == 420

    # by reference: the server collects the finding's scorer and failing examples itself
    t = traces_create.sync(client=c, body=TraceCreate(
        dataset="two-chunk", audit_id=audit.id, finding=FindingRef(feature="format", behaviour="emoji")))
    assert t is not None and not isinstance(t, ErrorBody), t
    assert t.request.behaviour_name == "emoji" and t.request.examples
    t = poll(lambda: traces_get.sync(client=c, trace_id=t.id), {"completed", "failed"})
    assert t.status.value == "completed" and t.result.top_chunk == "tagged"

    missing = traces_create.sync(client=c, body=TraceCreate(
        dataset="two-chunk", audit_id=audit.id, finding=FindingRef(feature="nosuch", behaviour="emoji")))
    assert isinstance(missing, ErrorBody) and missing.field == "finding"
    raw = httpx.post(f"{api.url}/v1/traces", headers=api.headers,
                     json={"dataset": "two-chunk", "behaviour_name": "x", "examples": [], "bogus": 1})
    assert raw.status_code == 422 and raw.json()["field"] == "bogus"
