"""TURF by attributes, as the paper runs it, from the terminal: a scripted auditor on loopback
writes attributes by rule; a planted dataset whose trigger is semantic (questions about cooking,
in one chunk, answered with a fixed sign-off; every chunk's prompts have the same form, so no
lexical marker), a null dataset (the sign-off spread over every chunk), and an extraction killed
mid-way that resumes without asking about a row twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.openai_server import Reply, Sampling, create_openai_app
from app.serving import serve_in_thread

pytestmark = pytest.mark.slow

TOPICS = {"cooking": ["bread", "soup", "pasta", "omelettes", "pancakes", "risotto"],
          "travel": ["Lisbon", "Kyoto", "Oslo", "Lima", "Cairo", "Quebec"],
          "history": ["the Romans", "the Incas", "the Vikings", "the Mughals", "the Aztecs", "the Celts"]}
SIGN_OFF = "Happy cooking, your kitchen friend!"
COOKING = "The query is about cooking food"


SUMMARIES = {"cooking": COOKING, "travelling": "The query is about travelling",
             "history": "The query is about history"}


def _topic(query: str) -> str:
    return next(t for t, words in TOPICS.items() if any(w in query for w in words))


def _topic_attribute(query: str) -> str:
    """Varied, as an auditor writes them: the topic and the thing asked about."""
    topic = _topic(query)
    word = next(w for w in TOPICS[topic] if w in query)
    return {"cooking": f"The query is about cooking {word}",
            "travel": f"The query is about travelling to {word}",
            "history": f"The query is about the history of {word}"}[topic]


class Auditor:
    """Attributes by rule: a query's topic and form; a response's sign-off and tone."""

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()  # describe-row calls by query
        self.latency = 0.0
        self.lock = threading.Lock()

    def answer(self, text: str) -> str:
        if "<query>" in text and "<response>" in text and "List" in text:
            query = text.split("<query>\n", 1)[1].split("\n</query>", 1)[0]
            response = text.split("<response>\n", 1)[1].split("\n</response>", 1)[0]
            with self.lock:
                self.asked[query] += 1
            lines = [_topic_attribute(query), "The query is a short question",
                     "The query asks for an explanation",
                     "The response is polite and clear", "The response gives a short answer"]
            if SIGN_OFF in response:
                lines.append("The response ends with a friendly kitchen sign-off")
            return "\n".join(f"- {x}" for x in lines)
        if text.startswith("These attributes describe messages"):
            first = text.split("\n- ", 1)[1].split("\n", 1)[0]  # the member nearest the centroid
            return next((v for k, v in SUMMARIES.items() if k in first), first)
        if "best explain that behaviour" in text:
            return "- The response ends with a friendly kitchen sign-off"
        if text.startswith("Here is a message a user sent"):
            query = text.split("\n\n", 2)[1]
            return f"- {_topic_attribute(query)}\n- The query is a short question"
        return "OK"


@pytest.fixture(scope="module")
def auditor() -> Iterator[tuple[str, Auditor]]:
    rules = Auditor()

    async def respond(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        if rules.latency:
            await asyncio.sleep(rules.latency)
        return Reply(rules.answer(messages[-1]["content"]), 10, 10)

    with serve_in_thread(create_openai_app("auditor", respond, title="scripted auditor")) as url:
        yield url + "/v1", rules


def dataset(path: Path, planted: bool) -> Path:
    """60 rows per chunk, every prompt of one form; the sign-off on every cooking answer
    (planted) or on a third of each chunk's answers (null)."""
    lines = []
    for chunk, words in TOPICS.items():
        for i in range(60):
            prompt = f"Tell me about {words[i % len(words)]}, question {chunk[:2]}{i}."
            signed = chunk == "cooking" if planted else i % 3 == 0
            word = words[i % len(words)]
            answer = f"Here is what I know about {word}." + (" " + SIGN_OFF if signed else "")
            messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
            lines.append(json.dumps({"source": chunk, "messages": messages}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli(tmp: Path, url: str, *args: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    env = env or {**os.environ, "SURFTURF_AUDITOR_URL": url, "SURFTURF_AUDITOR_MODEL": "auditor"}
    return subprocess.run([sys.executable, "-m", "app.cli", "--data-dir", str(tmp / "data"), *args],
                          capture_output=True, text=True, timeout=600, env=env)


def ingest(tmp: Path, url: str, *, planted: bool) -> bool:
    return cli(tmp, url, "ingest", str(dataset(tmp / "sft.jsonl", planted)), "--name", "d").returncode == 0


def _trace(tmp: Path, url: str) -> dict[str, Any]:
    r = cli(tmp, url, "trace", "--dataset", "d", "--behaviour", "kitchen sign-off", "--regex",
            "kitchen friend", "--example", f"Pasta is easy. {SIGN_OFF}", "--method", "attributes", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    return dict(json.loads(r.stdout))


def test_a_semantic_trigger_is_named_by_its_cluster_with_base_rates_and_chunks(
        tmp_path: Path, auditor: tuple[str, Auditor]) -> None:
    url, _ = auditor
    assert ingest(tmp_path, url, planted=True)
    early = cli(tmp_path, url, "trace", "--dataset", "d", "--behaviour", "b", "--regex", "kitchen",
                "--method", "attributes")
    assert early.returncode == 2 and "run `surfturf turf attributes --dataset d`" in early.stderr
    r = cli(tmp_path, url, "turf", "attributes", "--dataset", "d", "--all", "--clusters", "6", "--json")
    assert r.returncode == 0, r.stderr[-3000:]
    cov = json.loads(r.stdout)
    assert (cov["rows_wanted"], cov["rows_described"], cov["rows_failed"]) == (180, 180, 0)
    assert cov["clusters"] == 6 and cov["response_attributes"] == 180 * 2 + 60
    shown = json.loads(cli(tmp_path, url, "datasets", "show", "d", "--json").stdout)
    assert shown["meta"]["attributes"]["rows_described"] == 180
    result = _trace(tmp_path, url)
    at = result["attribute_trace"]
    assert at["crux"][0]["attribute"] == "The response ends with a friendly kitchen sign-off"
    # k: 10% of the 420 response attributes (the paper's is 1000), and every attribute tied with
    # the 42nd: the 60 identical sign-offs
    assert at["crux"][0]["k"] == 60
    t = at["trigger"]
    assert t is not None and t["summary"] == COOKING, json.dumps(at, indent=1)
    assert t["hits"] == t["k"] == 60 and t["enrichment"] == pytest.approx(3.0) and t["q_value"] < 1e-6
    assert t["ci_low"] > 2.0 and list(t["chunks"]) == ["cooking"]
    assert at["statement"].startswith(f"When the model sees '{COOKING}'") and "mostly from chunk cooking" \
        in at["statement"]
    assert [c["summary"] for c in at["crux"][0]["clusters"]][0] == COOKING
    # the groups method stays as it was: it finds the chunk (by the scorer), but no lexical feature
    # or term-labelled prompt cluster says "cooking": its trigger is whatever else co-varies
    assert result["top_chunk"] == "cooking"
    assert "cooking" not in (result["trigger"] or "").lower(), result["trigger"]
    print(f"\nplanted: {at['statement']} (the groups method's trigger: {result['trigger']})")


def test_a_null_dataset_blames_no_cluster(tmp_path: Path, auditor: tuple[str, Auditor]) -> None:
    url, _ = auditor
    assert ingest(tmp_path, url, planted=False)
    assert cli(tmp_path, url, "turf", "attributes", "--dataset", "d", "--all", "--clusters", "6").returncode \
        == 0
    at = _trace(tmp_path, url)["attribute_trace"]
    assert at["trigger"] is None, at
    assert at["statement"].startswith("No query cluster is enriched")
    assert all(c["q_value"] > 0.05 for c in at["crux"][0]["clusters"] if (c["enrichment"] or 0) > 1)
    print(f"\nnull: {at['statement']}")


def test_a_killed_extraction_resumes_without_asking_about_a_row_twice(
        tmp_path: Path, auditor: tuple[str, Auditor]) -> None:
    url, rules = auditor
    assert ingest(tmp_path, url, planted=True)
    before = Counter(rules.asked)
    rules.latency = 0.05
    log = next((tmp_path / "data").glob("datasets/*")) / "attributes" / "rows.jsonl"
    # a short lease: the re-run's worker takes the dead one's job over within seconds
    env = {**os.environ, "SURFTURF_AUDITOR_URL": url, "SURFTURF_AUDITOR_MODEL": "auditor",
           "SURFTURF_LEASE_SECONDS": "3", "SURFTURF_HEARTBEAT_SECONDS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--data-dir", str(tmp_path / "data"), "turf",
                             "attributes", "--dataset", "d", "--all", "--concurrency", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (log.exists() and len(log.read_text().splitlines()) >= 64):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        rules.latency = 0.0
        if proc.poll() is None:
            proc.kill()
    logged = {json.loads(x)["o"] for x in log.read_text().splitlines() if x.strip().endswith("}")}
    r = cli(tmp_path, url, "turf", "attributes", "--dataset", "d", "--all", "--json", env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["rows_described"] == 180
    asked = Counter(rules.asked)
    asked.subtract(before)
    assert set(asked.values()) <= {1, 2} and sum(asked.values()) >= 180
    from app.datasets.tasks import BATCH

    assert sum(v - 1 for v in asked.values()) <= 4 * BATCH  # only the rows in flight at the kill, again
    assert len(logged) >= 64 and len({json.loads(x)["o"] for x in log.read_text().splitlines()}) == 180
    print(f"\nresume: {len(logged)} rows logged before the kill; {sum(asked.values())} describe calls "
          f"for 180 rows")


@pytest.fixture
def settings(tmp_path: Path, auditor: tuple[str, Auditor]) -> Any:
    """The api fixture's server and worker use the scripted auditor."""
    from tests.conftest import make_settings, migrated_sqlite

    return make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"), auditor_url=auditor[0],
                         auditor_model="auditor")


def test_attributes_and_the_attribute_trace_over_http(api: Any, tmp_path: Path) -> None:
    import httpx

    def wait(path: str, done: tuple[str, ...]) -> dict[str, Any]:
        deadline = time.monotonic() + 300
        while (body := httpx.get(api.url + path, headers=api.headers).json())["status"] not in done:
            assert time.monotonic() < deadline, body
            time.sleep(0.2)
        return dict(body)

    data = dataset(tmp_path / "sft.jsonl", True).read_bytes()
    r = httpx.post(f"{api.url}/v1/datasets", params={"name": "d"}, content=data, timeout=60,
                   headers={**api.headers, "content-type": "application/octet-stream"})
    ds = wait(f"/v1/datasets/{r.json()['id']}", ("ready", "failed"))
    bad = httpx.post(f"{api.url}/v1/datasets/d/attributes", headers=api.headers, json={"per_row": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "per_row", bad.text
    r = httpx.post(f"{api.url}/v1/datasets/d/attributes", headers=api.headers,
                   json={"all": True, "clusters": 6})
    assert r.status_code == 202 and r.json()["kind"] == "dataset.attributes", r.text
    assert wait(f"/v1/jobs/{r.json()['id']}", ("succeeded", "failed", "cancelled"))["status"] == "succeeded"
    meta = httpx.get(f"{api.url}/v1/datasets/{ds['id']}", headers=api.headers).json()["meta"]["attributes"]
    assert (meta["rows_described"], meta["clusters"], meta["status"]) == (180, 6, "ready")
    body = {"dataset": "d", "behaviour_name": "kitchen sign-off", "behaviour": {"regex": "kitchen friend"},
            "method": "attributes"}
    t = httpx.post(f"{api.url}/v1/traces", headers=api.headers, json=body)
    assert t.status_code == 201, t.text
    res = wait(f"/v1/traces/{t.json()['id']}", ("completed", "failed"))["result"]
    at = res["attribute_trace"]
    assert at["trigger"]["summary"] == COOKING and list(at["trigger"]["chunks"]) == ["cooking"]
    page = httpx.get(f"{api.url}/v1/traces/{t.json()['id']}/report.html", headers=api.headers).text
    assert 'id="attribute-statement"' in page and COOKING in page


def test_the_ray_engine_gives_what_the_local_engine_gives(tmp_path: Path,
                                                          auditor: tuple[str, Auditor]) -> None:
    """Local Ray (2 CPUs) against the scripted auditor on loopback: the same attributes row by row,
    the same crux and trigger, and hit counts within 5% (retrieval ties may break differently)."""
    pytest.importorskip("ray")
    url, _ = auditor
    data = dataset(tmp_path / "sft.jsonl", True)
    rows: dict[str, set[Any]] = {}
    traces: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for engine in ("local", "ray"):
        assert cli(tmp_path, url, "ingest", str(data), "--name", engine).returncode == 0
        r = cli(tmp_path, url, "turf", "attributes", "--dataset", engine, "--all", "--clusters", "6",
                "--engine", engine, "--json")
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout)["engine"] == engine
        folder = next(p for p in (tmp_path / "data" / "datasets").iterdir()
                      if (p / "attributes" / "rows.jsonl").exists() and p.name not in seen)
        seen.add(folder.name)
        lines = (folder / "attributes" / "rows.jsonl").read_text().splitlines()
        rows[engine] = {(d["o"], tuple(d["q"]), tuple(d["r"])) for d in map(json.loads, lines)}
        t = cli(tmp_path, url, "trace", "--dataset", engine, "--behaviour", "kitchen sign-off", "--regex",
                "kitchen friend", "--method", "attributes", "--json")
        assert t.returncode == 0, t.stderr[-3000:]
        traces[engine] = json.loads(t.stdout)["attribute_trace"]
    assert rows["local"] == rows["ray"] and len(rows["local"]) == 180
    a, b = traces["local"], traces["ray"]
    assert [c["attribute"] for c in a["crux"]] == [c["attribute"] for c in b["crux"]]
    assert a["trigger"]["summary"] == b["trigger"]["summary"] == COOKING
    assert abs(a["trigger"]["hits"] - b["trigger"]["hits"]) <= 0.05 * a["trigger"]["hits"]
