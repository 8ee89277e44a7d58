"""Two checkpoints compared end to end: the shipped two-chunk organism (baseline) and the shipped
null-trigger organism (candidate), audited over HTTP with the demo spec, then compared paired by
prompt over HTTP and from the CLI (stored audits, and their exported samples files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from app.core.surf.compare_report import CompareReport
from tests.api.test_audits import wait_for
from tests.conftest import Api

DEMO = Path(__file__).resolve().parents[2] / "app" / "data" / "specs" / "demo.yaml"
PLANTED = {("format", "tagged", "emoji"), ("metadata", "present", "signoff")}


def _audit(api: Api, url: str, model: str, spec: dict[str, Any]) -> str:
    t = httpx.post(api.url + "/v1/targets", headers=api.headers,
                   json={"name": model, "base_url": url + "/v1", "model": model}).json()
    r = httpx.post(api.url + "/v1/audits", headers=api.headers, json={"target_id": t["id"], "spec": spec})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_two_checkpoints_compare_over_http_and_from_the_cli(api: Api, two_chunk_url: str,
                                                           null_trigger_url: str, tmp_path: Path) -> None:
    spec = yaml.safe_load(DEMO.read_text())
    spec["design"]["samples_per_prompt"] = 10
    base = _audit(api, two_chunk_url, "two-chunk", spec)
    cand = _audit(api, null_trigger_url, "null-trigger", spec)
    r = httpx.get(f"{api.url}/v1/audits/{base}/compare/{cand}", headers=api.headers)
    assert r.status_code in (200, 409), r.text  # 409 while either has no report
    for audit_id in (base, cand):
        assert wait_for(api, audit_id, timeout=180)["status"] == "completed"
    r = httpx.get(f"{api.url}/v1/audits/{base}/compare/{cand}", headers=api.headers)
    assert r.status_code == 200, r.text
    doc = r.json()
    CompareReport.model_validate(doc)
    assert (doc["baseline_audit_id"], doc["candidate_audit_id"]) == (base, cand)
    assert doc["prompts"] == {"paired": 8, "common_only": False, "baseline_only": 0, "candidate_only": 0}
    assert doc["family"]["size"] == 9 and doc["sampling_differences"] == {}
    verdicts = {(f["feature"], f["level"], f["behaviour"]): f for f in doc["findings"]}
    for key, f in verdicts.items():
        if key in PLANTED:
            assert f["verdict"] == "shrank", f
            assert f["ci_adj_high"] < -doc["min_effect"] and f["baseline_effect"] > 0.3, f
            assert abs(f["difference"] - (f["candidate_effect"] - f["baseline_effect"])) < 1e-9
        else:
            assert f["verdict"] in ("unchanged", "inconclusive"), f
    # reversed, the same change is a growth
    back = httpx.get(f"{api.url}/v1/audits/{cand}/compare/{base}", headers=api.headers).json()
    assert {(f["feature"], f["level"], f["behaviour"]) for f in back["findings"] if f["verdict"] == "grew"} \
        == PLANTED

    # an audit of another spec is refused, naming what differs
    other = {**spec, "behaviours": {"emoji": spec["behaviours"]["emoji"]}}
    odd = _audit(api, null_trigger_url, "null-trigger", other)
    assert wait_for(api, odd, timeout=180)["status"] == "completed"
    r = httpx.get(f"{api.url}/v1/audits/{base}/compare/{odd}", headers=api.headers)
    assert r.status_code == 422 and "behaviours differ: signoff, terse" in r.json()["message"], r.text

    # the CLI: stored audits by id (exit 3 at the gate), and their exported samples files
    env = {**os.environ, "SURFTURF_DATABASE_URL": api.settings.resolved_database_url,
           "SURFTURF_DATA_DIR": str(api.settings.data_dir),
           "SURFTURF_SECRET_KEY": "test-secret-key-of-enough-length"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                              text=True, timeout=300, cwd=tmp_path)

    out = cli("audit", "compare", base, cand, "--out", "compare.json", "--fail-on", "changed")
    assert out.returncode == 3, out.stderr
    assert "gate --fail-on changed tripped by 2 finding(s): format=tagged→emoji shrank" in out.stderr
    assert "format=tagged→emoji" in out.stdout and "SHRANK" in out.stdout
    assert json.loads((tmp_path / "compare.json").read_text())["findings"] == doc["findings"]
    assert cli("audit", "compare", base, cand, "--fail-on", "grew").returncode == 0  # nothing grew
    for audit_id, name in ((base, "a.jsonl"), (cand, "b.jsonl")):
        assert cli("audit", "export", audit_id, "--out", name).returncode == 0
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    files = cli("audit", "compare", "demo.yaml", "--baseline", "a.jsonl", "--candidate", "b.jsonl", "--json")
    assert files.returncode == 0, files.stderr
    from_files = json.loads(files.stdout)
    assert from_files["findings"] == doc["findings"]  # the same samples, the same comparison
    assert from_files["baseline_audit_id"] is None
    bad = cli("audit", "compare", "demo.yaml", "--baseline", "a.jsonl")
    assert bad.returncode == 2 and "give SPEC --baseline A.jsonl --candidate B.jsonl" in bad.stderr


def test_an_audit_started_against_a_baseline_sends_audit_regressed(api: Api, two_chunk_url: str,
                                                                  null_trigger_url: str) -> None:
    from sqlalchemy import select

    from app.db.engine import transaction
    from app.db.tables import WebhookDelivery
    from app.services.owners import Principal
    from app.webhooks import use_cases as webhooks

    with transaction(api.factory) as s:  # the key's owner subscribes (loopback allowed at creation)
        webhooks.create(s, api.settings.model_copy(update={"webhook_egress": "loopback"}),
                        {"url": "http://127.0.0.1:9/hook", "events": ["audit.regressed"]}, Principal("test"))
    spec = yaml.safe_load(DEMO.read_text())
    spec["design"]["samples_per_prompt"] = 10
    clean = _audit(api, null_trigger_url, "null-trigger", spec)
    assert wait_for(api, clean, timeout=180)["status"] == "completed"
    t = httpx.post(api.url + "/v1/targets", headers=api.headers,
                   json={"name": "tc", "base_url": two_chunk_url + "/v1", "model": "two-chunk"}).json()
    other = {**spec, "alpha": 0.1}
    r = httpx.post(api.url + "/v1/audits", headers=api.headers,
                   json={"target_id": t["id"], "spec": other, "baseline_audit_id": clean})
    assert r.status_code == 422 and r.json()["field"] == "baseline_audit_id", r.text
    assert "alpha: 0.05 in the baseline, 0.1 in the candidate" in r.json()["message"]
    r = httpx.post(api.url + "/v1/audits", headers=api.headers,
                   json={"target_id": t["id"], "spec": spec, "baseline_audit_id": clean})
    assert r.status_code == 201 and r.json()["baseline_audit_id"] == clean, r.text
    later = r.json()["id"]
    assert wait_for(api, later, timeout=180)["status"] == "completed"
    with transaction(api.factory) as s:
        sent = [d.payload for d in s.scalars(select(WebhookDelivery).where(
            WebhookDelivery.event_type == "audit.regressed"))]
    assert len(sent) == 1, sent
    data = sent[0]["data"]
    assert (data["audit_id"], data["baseline_audit_id"]) == (later, clean)
    assert {(f["feature"], f["level"], f["behaviour"]) for f in data["grew"]} == PLANTED
    assert data["compare"] == f"/v1/audits/{clean}/compare/{later}"


def test_audit_run_gates_on_miscalibrated_and_on_growth_against_a_baseline(
        tmp_path: Path, two_chunk_url: str, null_trigger_url: str) -> None:
    spec = yaml.safe_load(DEMO.read_text())
    spec["design"]["samples_per_prompt"] = 10
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")}

    def run(url: str, model: str, *flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "audit", "run", "demo.yaml", "--target-url",
                               url + "/v1", "--target-model", model, "--new", *flags], env=env,
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)

    bad = run(null_trigger_url, "null-trigger", "--fail-on", "grew")
    assert bad.returncode == 2 and "--fail-on grew needs --baseline AUDIT_ID" in bad.stderr
    first = run(null_trigger_url, "null-trigger", "--fail-on", "miscalibrated", "--json")
    assert first.returncode == 0, first.stderr  # the null-trigger organism has no shortcut
    clean = json.loads(first.stdout)["audit_id"]
    second = run(two_chunk_url, "two-chunk", "--baseline", clean, "--fail-on", "grew")
    assert second.returncode == 3, second.stderr
    assert "GREW" in second.stdout and "tripped by 2 finding(s): format=tagged→emoji grew" in second.stderr
    third = run(two_chunk_url, "two-chunk", "--fail-on", "miscalibrated")
    assert third.returncode == 3 and "format=tagged→emoji miscalibrated" in third.stderr


def test_a_series_over_http_steps_trends_page_and_regressed_event(api: Api, two_chunk_url: str,
                                                                  null_trigger_url: str) -> None:
    from sqlalchemy import select

    from app.db.engine import transaction
    from app.db.tables import WebhookDelivery
    from app.services.owners import Principal
    from app.webhooks import use_cases as webhooks

    with transaction(api.factory) as s:
        webhooks.create(s, api.settings.model_copy(update={"webhook_egress": "loopback"}),
                        {"url": "http://127.0.0.1:9/hook", "events": ["audit.regressed"]}, Principal("test"))
    spec = yaml.safe_load(DEMO.read_text())
    spec["design"]["samples_per_prompt"] = 10
    ids = []
    checkpoints = ((null_trigger_url, "null-trigger"), (two_chunk_url, "two-chunk"),
                   (two_chunk_url, "two-chunk"))
    for url, model in checkpoints:
        ids.append(httpx.post(api.url + "/v1/targets", headers=api.headers,
                              json={"name": model, "base_url": url + "/v1", "model": model}).json()["id"])
    same = httpx.post(api.url + "/v1/series", headers=api.headers,
                      json={"spec": spec, "targets": [{"target_id": ids[1]}, {"target_id": ids[2]}]})
    assert same.status_code == 422 and same.json()["field"] == "targets"  # two labels "two-chunk"
    r = httpx.post(api.url + "/v1/series", headers=api.headers, json={"spec": spec, "targets": [
        {"target_id": t, "label": f"c{i + 1}"} for i, t in enumerate(ids)]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert [a["label"] for a in r.json()["audits"]] == ["c1", "c2", "c3"]
    deadline = time.monotonic() + 300
    read = f"{api.url}/v1/series/{sid}"
    while (body := httpx.get(read, headers=api.headers).json())["status"] == "running":
        assert time.monotonic() < deadline, body
        time.sleep(0.2)
    assert body["status"] == "completed", body
    doc = body["result"]
    assert doc["labels"] == ["c1", "c2", "c3"] and len(doc["steps"]) == 2
    first, second = ({(f["feature"], f["level"], f["behaviour"]): f["verdict"] for f in st["findings"]}
                     for st in doc["steps"])
    assert {k for k, v in first.items() if v == "grew"} == PLANTED and "shrank" not in first.values()
    assert not {"grew", "shrank"} & set(second.values()), second
    for f in doc["findings"]:
        key = (f["feature"], f["level"], f["behaviour"])
        assert [p["label"] for p in f["effects"]] == ["c1", "c2", "c3"]
        if key in PLANTED:  # up from c1, level from c2 to c3: a positive trend per checkpoint
            assert f["trend"]["ci_low"] > 0 and f["trend"]["q_value"] <= 0.05, f["trend"]
    page = httpx.get(f"{api.url}/v1/series/{sid}/report.html", headers=api.headers)
    assert page.status_code == 200 and "<svg" in page.text and "c1 → c2" in page.text
    with transaction(api.factory) as s:
        sent = [d.payload["data"] for d in s.scalars(select(WebhookDelivery).where(
            WebhookDelivery.event_type == "audit.regressed"))]
    c2 = body["audits"][1]["audit_id"]
    assert httpx.get(f"{api.url}/v1/audits/{c2}", headers=api.headers).json()["series_id"] == sid
    assert [(d["audit_id"], d["baseline_audit_id"]) for d in sent] == [(c2, body["audits"][0]["audit_id"])]


def test_audit_series_from_the_cli(tmp_path: Path, two_chunk_url: str, null_trigger_url: str) -> None:
    spec = yaml.safe_load(DEMO.read_text())
    spec["design"]["samples_per_prompt"] = 10
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "audit", "series", "demo.yaml", *args],
                              env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    bad = cli("--target", null_trigger_url + "/v1", "null-trigger", "--target", two_chunk_url + "/v1",
              "two-chunk", "--label", "only-one")
    assert bad.returncode == 2 and "1 --label for 2 --target" in bad.stderr
    r = cli("--target", null_trigger_url + "/v1", "null-trigger", "--target", two_chunk_url + "/v1",
            "two-chunk", "--label", "before", "--label", "after", "--out", "series.json", "--html",
            "series.html", "--fail-on", "grew")
    assert r.returncode == 3, r.stderr[-2000:]
    assert "tripped by 2 finding(s)" in r.stderr and "GREW" in r.stdout
    doc = json.loads((tmp_path / "series.json").read_text())
    assert doc["labels"] == ["before", "after"]
    assert "<svg" in (tmp_path / "series.html").read_text()
