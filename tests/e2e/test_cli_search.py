"""`surfturf search run` from a terminal: a YAML spec whose pool is SURF's JSONL, a progress bar,
the discoveries table, search.json; and a bad spec names its file and line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from app.core.search.result import SearchResult
from tests.search.planted import POOL, SEEDS


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")}
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)


def test_search_run_writes_search_json_with_confirmed_discoveries(tmp_path: Path, planted_url: Any) -> None:
    url, _ = planted_url
    (tmp_path / "pool.jsonl").write_text("\n".join(
        json.dumps({"attribute": a["text"], **{k: a[k] for k in ("id", "template")}}) for a in POOL),
        encoding="utf-8")
    spec = {"name": "cli-search", "seed_prompts": SEEDS, "attributes_file": "pool.jsonl",
            "judge": {"behaviour": {"builtin": "emoji"}},
            "budget": {"iterations": 4, "candidates_per_iteration": 16},
            "confirm": {"top_k": 2, "samples_per_prompt": 6}, "seed": 7}
    (tmp_path / "search.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    out = tmp_path / "search.json"
    r = cli(tmp_path, "search", "run", str(tmp_path / "search.yaml"), "--target-url", url + "/v1",
            "--target-model", "two-emoji-triggers", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    doc = json.loads(out.read_text())
    SearchResult.model_validate(doc)
    assert {d["attribute"] for d in doc["discoveries"] if d["confirmed"]} == {"query_tag", "metadata"}
    assert "search:" in r.stderr and "candidate" in r.stderr  # the progress bar
    assert "CONFIRMED" in r.stdout and "query_tag" in r.stdout.splitlines()[2]
    shown = cli(tmp_path, "search", "show", doc["search_id"], "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["search_id"] == doc["search_id"]
    again = cli(tmp_path, "search", "confirm", doc["search_id"], "--top-k", "1", "--samples-per-prompt", "4",
                "--json")
    assert again.returncode == 0, again.stderr[-2000:]
    report = json.loads(again.stdout)
    assert [f["feature"] for f in report["findings"] if f["flagged"]] == [doc["ranking"][0]["attribute"]]


def test_bad_search_spec_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nseed_prompts: ['a', 'b', 'c', 'd']\nattributes: builtin\n"
                   "judge:\n  behaviour: {builtin: emoji}\nbudget:\n  runs: -1\n", encoding="utf-8")
    r = cli(tmp_path, "search", "run", str(bad), "--target-url", "http://127.0.0.1:9/v1",
            "--target-model", "m")
    assert r.returncode == 2 and f"{bad}:7: budget.runs" in r.stderr, r.stderr
