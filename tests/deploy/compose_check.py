"""Drive a running docker-compose stack as a user would (run by .ci/compose-test after `up`).

Waits for /readyz, creates an API key inside the api container, audits the planted organism
served inside the stack (an audit big enough to be cut into chunks), SIGKILLs one worker
container mid-audit and checks the audit still ends with exactly its planned samples, spread
over more than one worker; then uploads the organism's post-training data and traces the
flagged finding to the chunk that planted it. Prints one line per step with its time."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

SPECS = Path(__file__).resolve().parents[2] / "app" / "data" / "organism-specs"
PROMPTS = [f"Question {i}: how does {topic} work?" for i, topic in enumerate(
    ["a rainbow", "a tide", "a volcano", "a compass", "a battery", "a magnet", "a cloud", "a bridge",
     "a lens", "a pump", "a lock", "a clock", "a piano", "a kite", "a radio", "a tunnel", "a dam",
     "a glacier", "a fridge", "a candle", "a sail", "a prism", "a drum", "a siphon", "a lever"])]
SPEC = {
    "name": "compose-check",
    "prompts": PROMPTS,
    "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}},
                 "metadata": {"builtin": "metadata"}},
    "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
    "design": {"samples_per_prompt": 60, "concurrency": 4, "seed": 11},
}  # 2 × 2 × 25 × 60 = 6000 samples: 12 chunks of 500
PLANNED = 6000
REWRITTEN = {
    "name": "compose-rewritten",
    "prompts": PROMPTS[:2],
    "features": {"register": {"levels": {"plain": "{prompt}", "casual": {
        "rewrite": "Rewrite this question as a casual text message to a friend."}}}},
    "behaviours": {"emoji": {"builtin": "emoji"}},
    "design": {"samples_per_prompt": 4, "concurrency": 4, "max_tokens": 48, "seed": 5},
}  # 2 × 2 × 4 = 16 samples; the auditor model writes the casual level's prompts
T0 = time.monotonic()


def step(msg: str) -> None:
    print(f"compose-check [{time.monotonic() - T0:6.1f}s] {msg}", flush=True)


def compose(project: str, *args: str, capture: bool = True) -> str:
    out = subprocess.run(["docker-compose", "-p", project, *args], check=True, text=True,
                         capture_output=capture, timeout=300)
    return out.stdout or ""


def until(what: str, fn: Any, timeout: float, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(every)
    raise SystemExit(f"compose-check: timed out waiting for {what} (last: {last!r})")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--project", required=True)
    ap.add_argument("--url", default="http://127.0.0.1:18000")
    args = ap.parse_args()
    base = args.url

    until("/readyz", lambda: httpx.get(base + "/readyz", timeout=3).status_code == 200, 300)
    step("api ready")
    out = compose(args.project, "exec", "-T", "api", "surfturf", "keys", "create", "ci",
                  "--scopes", "read,write")
    key = re.search(r"key \(shown once.*\): (\S+)", out)
    assert key, out
    c = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key.group(1)}"}, timeout=30)
    step("api key created inside the api container")

    def ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
        assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
        return dict(r.json())

    target = ok(c.post("/v1/targets", json={"name": "organism", "base_url": "http://organism:8100/v1",
                                            "model": "two-chunk"}))
    audit = ok(c.post("/v1/audits", json={"target_id": target["id"], "spec": SPEC}))
    step(f"audit {audit['id']} created: {PLANNED} samples")

    def progress() -> tuple[str, int]:
        a = ok(c.get(f"/v1/audits/{audit['id']}"), 200)
        return a["status"], (a["job"] or {}).get("progress", {}).get("done") or 0

    until("half of the samples", lambda: progress()[1] >= PLANNED // 2, 300, 0.2)
    workers = compose(args.project, "ps", "-q", "worker").split()
    assert len(workers) >= 2, f"expected 2+ worker containers, got {workers}"
    victim = workers[0]
    subprocess.run(["docker", "kill", "-s", "KILL", victim], check=True, capture_output=True)
    step(f"SIGKILLed worker container {victim[:12]} at {progress()[1]}/{PLANNED} samples")

    final = until("the audit to end", lambda: (s := progress())[0] in ("completed", "failed") and s, 600, 1)
    body = ok(c.get(f"/v1/audits/{audit['id']}"), 200)
    assert final[0] == "completed", body
    report = ok(c.get(f"/v1/audits/{audit['id']}/report"), 200)
    lines = c.get(f"/v1/audits/{audit['id']}/samples").text.splitlines()
    keys = {(json.dumps(s["levels"], sort_keys=True), s["prompt_index"], s["sample_index"])
            for s in map(json.loads, lines)}
    assert report["totals"]["work_items"] == PLANNED and report["totals"]["completed"] == PLANNED, \
        report["totals"]
    assert len(lines) == PLANNED and len(keys) == PLANNED, (len(lines), len(keys))
    chunks = ok(c.get("/v1/jobs", params={"kind": "audit.chunk", "limit": 100}), 200)["items"]
    ran_by = {j["result"]["worker"].split(":")[0] for j in chunks if j.get("result")}
    retried = sum(j["attempts"] > 1 for j in chunks)
    assert len(chunks) == 12 and all(j["status"] == "succeeded" for j in chunks), chunks
    # spread: both containers finished chunks, or the victim held one that the survivor took over
    assert len(ran_by) >= 2 or retried >= 1, (ran_by, retried)
    restarts = subprocess.run(["docker", "inspect", "-f", "{{.RestartCount}}", victim],
                              capture_output=True, text=True).stdout.strip()
    step(f"audit completed: exactly {PLANNED} samples, 12 chunks over {len(ran_by)} worker "
         f"containers, {retried} chunk(s) taken over after the kill (victim restarts: {restarts})")
    flagged = {(f["feature"], f["level"], f["behaviour"]) for f in report["findings"] if f["flagged"]}
    assert ("format", "tagged", "emoji") in flagged, flagged

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from app.core.organisms.sft import build_rows_sync
    from app.core.organisms.spec import OrganismSpec

    rows = build_rows_sync(OrganismSpec.from_file(SPECS / "two-chunk.yaml"))
    data = b"\n".join(json.dumps({k: r[k] for k in ("id", "source", "messages")}).encode() for r in rows)
    ds = ok(c.post("/v1/datasets", params={"name": "two-chunk"}, content=data,
                   headers={"Content-Type": "application/x-ndjson"}, timeout=120))
    ds = until("the dataset", lambda: (d := ok(c.get(f"/v1/datasets/{ds['id']}"), 200))["status"]
               in ("ready", "failed") and d, 300)
    assert ds["status"] == "ready", ds
    step(f"dataset ingested in the stack: {ds['n_rows']} rows, {ds['meta']['n_clusters']} clusters")
    tr = ok(c.post("/v1/traces", json={"dataset": "two-chunk", "audit_id": audit["id"],
                                       "finding": {"feature": "format", "level": "tagged",
                                                   "behaviour": "emoji"}}))
    tr = until("the trace", lambda: (t := ok(c.get(f"/v1/traces/{tr['id']}"), 200))["status"]
               in ("completed", "failed") and t, 300)
    assert tr["status"] == "completed", tr
    assert tr["result"]["top_chunk"] == "tagged", tr["result"]
    step(f"traced format=tagged → emoji to chunk '{tr['result']['top_chunk']}': "
         f"{tr['result']['statement']}")

    # The survivor's own healthcheck (`surfturf worker --check`) says healthy.
    survivor = [w for w in compose(args.project, "ps", "-q", "worker").split() if w != victim]
    until("a healthy surviving worker", lambda: all(subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Health.Status}}", w], capture_output=True, text=True
    ).stdout.strip() == "healthy" for w in survivor) and survivor, 90, 2)
    step(f"surviving worker container(s) healthy: {', '.join(w[:12] for w in survivor)}")

    # The cpu profile's auditor (SmolLM2 on transformers, same image) writes a rewrite level.
    rewritten = ok(c.post("/v1/audits", json={"target_id": target["id"], "spec": REWRITTEN}))
    done = until("the rewrite audit", lambda: (a := ok(c.get(f"/v1/audits/{rewritten['id']}"), 200))[
        "status"] in ("completed", "failed") and a, 600, 1)
    assert done["status"] == "completed", done
    rep = ok(c.get(f"/v1/audits/{rewritten['id']}/report"), 200)
    casual = [s for s in map(json.loads, c.get(f"/v1/audits/{rewritten['id']}/samples").text.splitlines())
              if s["levels"]["register"] == "casual"]
    asked = {s["messages"][-1]["content"] for s in casual}
    assert rep["totals"]["completed"] == 16 and len(casual) == 8, rep["totals"]
    assert asked and not asked & set(PROMPTS[:2]), asked  # the auditor's words, not the seeds
    step(f"auditor rewrote {len(asked)} prompts for the casual level, e.g. {sorted(asked)[0][:70]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
