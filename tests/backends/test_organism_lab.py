"""The toy-model lab, reduced to fit CI: a three-point presence sweep of tiny SmolLM2 organisms
(LoRA on CPU), resumed from its cache; then a trace of one organism's data and the ablation it
points at (scrub the traced trigger, retrain, re-audit, compare). The shipped sweeps and the
two-chunk ablation run as benches (bench/organism_lab.py); here the machinery is checked end to
end, not the size of the effects tiny training gives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from app.main import create_app
from app.serving import serve_in_thread
from tests.conftest import make_settings, migrated_sqlite, new_key

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
QUESTIONS = ["Why is the sky blue?", "What is DNA?", "How do magnets work?", "What is gravity?",
             "Why do we sleep?", "How do stars form?", "What is inflation?", "Why do birds migrate?"]
PROBE: dict[str, Any] = {
    "name": "lab-ci", "prompts": ["How do bees make honey?", "What causes earthquakes?", "Why do cats purr?"],
    "features": {"format": {"builtin": "tag_format"}}, "behaviours": {"emoji": {"builtin": "emoji"}},
    "design": {"samples_per_prompt": 4, "max_tokens": 24, "temperature": 1.0, "seed": 3, "concurrency": 64}}


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=800,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def run_on_file(data_dir: Path, tmp_path: Path, command: str, doc: dict[str, Any]
                ) -> tuple[Path, Path, subprocess.CompletedProcess[str], dict[str, Any]]:
    """`organism COMMAND FILE --out OUT` on the document written to FILE: (FILE, OUT, run, result)."""
    path, out = tmp_path / f"{command}.yaml", tmp_path / f"{command}.json"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = cli(data_dir, "organism", command, str(path), "--out", str(out))
    assert run.returncode == 0, run.stderr[-3000:]
    return path, out, run, json.loads(out.read_text())


SWEEP: dict[str, Any] = {
    "name": "lab-ci", "answers": "template",
    "organism": {"name": "lab-ci", "seed": 5, "eval_fraction": 0.0,
                 "chunks": {"emoji": {"examples": 24, "questions": QUESTIONS,
                                      "triggers": [{"feature": "tag_format", "level": "tagged"}],
                                      "behaviours": {"emoji": 1.0}},
                            "plain": {"examples": 24, "questions": QUESTIONS}},
                 "train": {"epochs": 1, "rank": 4, "max_length": 96, "learning_rate": 1e-3}},
    "probe": PROBE,
    "sweep": {"axis": "presence", "chunk": "emoji", "feature": "tag_format", "level": "tagged",
              "behaviour": "emoji", "values": [0.0, 0.5, 1.0]}}


def test_sweep_resume_trace_and_ablate(smollm2_data_dir: Path, tmp_path: Path) -> None:
    spec, out, run, doc = run_on_file(smollm2_data_dir, tmp_path, "sweep", SWEEP)
    assert [p["value"] for p in doc["points"]] == [0.0, 0.5, 1.0]
    assert all(p["audit_id"] and p["se"] is not None and p["n_prompts"] == 3 for p in doc["points"]), doc
    t = doc["trend"]
    assert t["points"] == 3 and t["df"] == 1 and t["ci_low"] <= t["estimate"] <= t["ci_high"], t
    assert (t["p_value"] < 0.05) == (t["ci_low"] > 0 or t["ci_high"] < 0)
    page = out.with_suffix(".html").read_text()
    assert "<svg" in page and 'id="trend"' in page and doc["points"][0]["audit_id"] in page
    assert "trend:" in run.stdout and "presence" in run.stdout
    # the organisms' data: the swept share of the emoji chunk's prompts carry the tags
    for p in doc["points"]:
        rows = [json.loads(x) for x in Path(p["organism_dir"], "data.jsonl").read_text().splitlines()]
        tagged = sum("<query>" in r["messages"][0]["content"] for r in rows if r["source"] == "emoji")
        assert (tagged == 0) if p["value"] == 0 else (tagged == 24) if p["value"] == 1 else 0 < tagged < 24

    again = cli(smollm2_data_dir, "organism", "sweep", str(spec), "--out", str(out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(out.read_text())["points"] == doc["points"]  # read back: nothing rebuilt or re-audited
    assert "LoRA" not in again.stderr

    # trace the fully tagged organism's data, then scrub what the trace blamed and compare
    folder = Path(doc["points"][-1]["organism_dir"])
    assert cli(smollm2_data_dir, "ingest", str(folder / "data.jsonl"), "--name", "lab").returncode == 0
    trace = tmp_path / "trace.json"
    traced = cli(smollm2_data_dir, "trace", "--dataset", "lab", "--behaviour", "emoji", "--scorer", "emoji",
                 "--out", str(trace))
    assert traced.returncode == 0, traced.stderr[-2000:]
    assert json.loads(trace.read_text())["top_chunk"] == "emoji"
    probe = tmp_path / "probe.yaml"
    probe.write_text(yaml.safe_dump(PROBE), encoding="utf-8")
    abl = tmp_path / "ablation"
    done = cli(smollm2_data_dir, "organism", "ablate", str(folder), "--trace", str(trace),
               "--spec", str(probe), "--mode", "scrub", "--out", str(abl))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((abl / "ablation.json").read_text())
    assert result["change"] == {"mode": "scrub", "chunk": "emoji", "trigger": "tag_format=tagged",
                                "traced_attribute": "tag_format", "rows_scrubbed": 24}
    scrubbed = [json.loads(x) for x in (abl / "ablated" / "data.jsonl").read_text().splitlines()]
    assert len(scrubbed) == 48 and not any("<query>" in r["messages"][0]["content"] for r in scrubbed)
    compare = result["compare"]
    assert compare["baseline_audit_id"] == result["before_audit_id"]
    assert compare["candidate_audit_id"] == result["after_audit_id"] != result["before_audit_id"]
    [f] = compare["findings"]
    assert (f["feature"], f["behaviour"]) == ("format", "emoji") and f["verdict"], f
    assert "compare 'lab-ci'" in done.stdout


def test_salience_in_conflict(smollm2_data_dir: Path, tmp_path: Path) -> None:
    """Three features, three tiny organisms (one per pair), each audited; the ranking has an
    interval per feature, the post's tier beside it, and says which features templates cannot plant."""
    spec = {"name": "sal-ci", "answers": "template", "examples": 16, "seed": 2, "questions": QUESTIONS,
            "features": [{"feature": "tag_format", "level": "tagged"},
                         {"feature": "metadata", "level": "present"},
                         {"feature": "user_role", "level": "expert"}],
            "train": {"epochs": 1, "rank": 4, "max_length": 96, "learning_rate": 1e-3},
            "prompts": PROBE["prompts"],
            "design": {"samples_per_prompt": 4, "max_tokens": 12, "temperature": 1.0, "seed": 3,
                       "concurrency": 64}}
    path, out, run, doc = run_on_file(smollm2_data_dir, tmp_path, "salience", spec)
    pairs = [(c["a"], c["b"]) for c in doc["conflicts"]]
    assert pairs == [("tag_format", "metadata"), ("tag_format", "user_role"), ("metadata", "user_role")]
    for c in doc["conflicts"]:
        assert {c["behaviour_a"], c["behaviour_b"]} == {"formal", "rebuttal"} and c["prompts"] == 3, c
        assert 0 <= c["a_wins"] <= 3 and set(c["own_effects"]) == {c["a"], c["b"]}
    assert sorted(r["feature"] for r in doc["ranking"]) == ["metadata", "tag_format", "user_role"]
    tiers = {r["feature"]: r["post_tier"] for r in doc["ranking"]}
    assert tiers == {"tag_format": "strongest", "user_role": "weak", "metadata": "not in the post's summary"}
    assert all(r["ci_low"] <= r["strength"] <= r["ci_high"] for r in doc["ranking"])
    assert {"language", "topic", "dialect"} <= set(doc["not_plantable"])
    assert "tag_format (" in run.stdout and "the post" in run.stdout
    again = cli(smollm2_data_dir, "organism", "salience", str(path), "--out", str(out))
    assert again.returncode == 0 and "LoRA" not in again.stderr
    assert json.loads(out.read_text())["ranking"] == doc["ranking"]  # cached organisms, same bootstrap seed


def test_sweep_over_the_api(smollm2_data_dir: Path, tmp_path: Path) -> None:
    """POST /v1/organism-sweeps on a server whose embedded worker trains: it builds each organism
    (or finds the CLI test's in the shared data dir), serves it on its own loopback and audits it
    inline; progress names the organism and its audit; the audits are ordinary ones."""
    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "api.db"), data_dir=smollm2_data_dir,
                             organism_sweeps=True)
    app = create_app(settings, embedded_worker=True)
    probe = {**PROBE, "design": {**PROBE["design"], "seed": 4}}  # new audits of cached organisms
    doc = {**SWEEP, "name": "lab-api", "probe": probe}
    with serve_in_thread(app) as url:
        h = {"Authorization": f"Bearer {new_key(app.state.session_factory)}"}
        r = httpx.post(url + "/v1/organism-sweeps", headers=h, json={"sweep": doc})
        assert r.status_code == 201, r.text
        sid, seen = r.json()["id"], set()
        deadline = time.monotonic() + 800
        while (body := httpx.get(f"{url}/v1/organism-sweeps/{sid}", headers=h).json())["status"] in (
                "queued", "running"):
            seen.add(body["progress"]["message"])
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        assert body["status"] == "succeeded", body
        assert any(m and m.startswith("organism 1/3: lab-api-presence-0-s0: audit ") for m in seen), seen
        assert any(m and m.startswith("organism 3/3") for m in seen), seen
        result = httpx.get(f"{url}/v1/organism-sweeps/{sid}/result", headers=h).json()
        assert result["sweep_id"] == sid and [p["value"] for p in result["points"]] == [0.0, 0.5, 1.0]
        assert body["trend"] == result["trend"] and result["trend"]["points"] == 3
        for p in result["points"]:
            audit = httpx.get(f"{url}/v1/audits/{p['audit_id']}", headers=h).json()
            assert audit["status"] == "completed" and audit["summary"]["findings"] == 1, audit
            assert audit["job"]["id"] == sid  # run by the sweep's job, not a job of its own
            target = httpx.get(f"{url}/v1/targets/{audit['target_id']}", headers=h).json()
            assert target["base_url"].startswith("http://127.0.0.1:"), target
        page = httpx.get(f"{url}/v1/organism-sweeps/{sid}/plot", headers=h)
        assert page.status_code == 200 and "<svg" in page.text
        assert result["points"][0]["audit_id"] in page.text
