"""A SURF user arrives with SURF's files and flags: a rubric in SURF's YAML, attribute records in
SURF's JSONL or Parquet, no seed prompts and no spec file. The planted attribute must rank first
and the confirmation must flag it alone; SURF's results layout must read as SURF's own code
reads it; JSONL and Parquet must give the same search."""

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

from app.core.search.records import attribute_id, read_records
from app.core.search.result import SearchResult
from app.core.surf.spec import SpecFileError
from app.db.engine import transaction
from app.searches import use_cases as searches
from app.services import targets
from tests.conftest import Api, make_settings, migrated_sqlite
from tests.search.planted import TESTER, run_to_end
from tests.search.surf_world import (
    TRIGGER,
    World,
    records,
    surf_world,
    write_jsonl,
    write_parquet,
    write_rubric,
)


@pytest.fixture(scope="module")
def world() -> Any:
    with surf_world() as w:
        yield w


@pytest.fixture
def settings(tmp_path: Path, world: World) -> Any:
    """The auditor is the scripted one (the api fixture's server and worker use these settings)."""
    return make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"), auditor_url=world.auditor_url,
                         auditor_model="auditor")


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data")}
    env.pop("SURFTURF_AUDITOR_URL", None)
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)


def _top_py_entries(path: Path) -> list[dict[str, Any]]:
    """What SURF's utils/top.py reads, restated from its documented behaviour: runs/run_*/
    results.jsonl (each entry tagged with its run folder's name unless it has a run_id) or
    results.jsonl; then sorted by reward_score, showing iteration, query, response and
    score_metadata.reasoning."""
    entries: list[dict[str, Any]] = []
    runs = path / "runs"
    if runs.exists():
        for run_dir in sorted(runs.iterdir()):
            for line in (run_dir / "results.jsonl").read_text().splitlines():
                if line.strip():
                    entry = json.loads(line)
                    entry.setdefault("run_id", run_dir.name)
                    entries.append(entry)
    else:
        entries = [json.loads(x) for x in (path / "results.jsonl").read_text().splitlines() if x.strip()]
    return sorted(entries, key=lambda e: e.get("reward_score", 0), reverse=True)


def test_a_surf_user_runs_surfs_flags_with_no_spec_and_gets_the_planted_attribute_confirmed(
        tmp_path: Path, world: World) -> None:
    write_jsonl(tmp_path / "pool.jsonl", records())
    write_rubric(tmp_path / "rebuttal.yaml")
    r = cli(tmp_path, "search", "run", "--rubric", "rebuttal.yaml", "--attributes", "pool.jsonl",
            "--target-model", f"{world.target_url}:target", "--judge-model", f"{world.auditor_url}:auditor",
            "--query-model", f"{world.auditor_url}:auditor", "--iterations", "4", "--candidates", "16",
            "--output-dir", "out", "--out", "search.json")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "240 records, 26 distinct attributes" in r.stderr
    doc = json.loads((tmp_path / "search.json").read_text())
    SearchResult.model_validate(doc)
    assert doc["name"] == "metric-refusals" and doc["prompt_set"] == "surf"  # from the rubric
    assert doc["records"]["records"] == 240 and doc["records"]["column"] == "sae_attributes"
    assert doc["usage"]["planned"] == 4 * 16  # the flags beat the rubric's 9 x 50
    top = doc["ranking"][0]
    assert top["text"] == TRIGGER and top["attribute"] == attribute_id(TRIGGER), doc["ranking"][:3]
    assert top["n"] >= 5 and top["mean_score"] == 90
    conf = doc["confirmation"]
    assert conf["status"] == "completed" and conf["prompts"] == 20  # held out from the records
    confirmed = [d["attribute"] for d in doc["discoveries"] if d["confirmed"]]
    assert confirmed == [attribute_id(TRIGGER)], doc["discoveries"]
    assert len(doc["discoveries"]) == 3
    # SURF's layout beside it, read as SURF's top.py reads it
    out = tmp_path / "out"
    assert json.loads((out / "search.json").read_text())["search_id"] == doc["search_id"]
    entries = _top_py_entries(out)
    scored = doc["usage"]["candidates"] - doc["usage"]["failures"]["query"]
    assert len(entries) == scored > 0
    best = entries[0]
    assert best["reward_score"] == 90 and TRIGGER in best["attributes"]
    assert best["score_metadata"]["reasoning"] == "Refused."
    assert isinstance(best["iteration"], int) and best["iteration"] >= 1
    assert "<context>" in best["query"] and "</context>" in best["query"]  # the query's own tags stay
    assert best["response"] == "I refuse to help with that."
    for e in entries:
        assert set(e["weighted_attributes"]) | set(e["random_attributes"]) == set(e["attributes"])
        assert e["k_sampled"] in range(6) and e["source_prompt"].startswith("Record ")
    summary = [json.loads(x) for x in (out / "summary.jsonl").read_text().splitlines()]
    assert [s["iteration"] for s in summary[:-1]] == list(range(1, len(summary)))
    final = summary[-1]
    assert final["type"] == "final_summary" and final["total_iterations"] == len(summary) - 1
    assert final["final_buffer_scores"] == sorted(final["final_buffer_scores"], reverse=True)
    assert final["final_buffer_scores"][0] == 90 and len(final["final_buffer_scores"]) == 10
    print(f"\nSURF flags, no spec: {doc['usage']['target_calls']} target calls, "
          f"{doc['usage']['auditor_calls']} auditor calls; planted attribute rank 1 "
          f"(n={top['n']}, mean {top['mean_score']}); confirmation effect "
          f"{doc['discoveries'][0].get('effect')} on {conf['prompts']} record prompts")


def test_jsonl_and_parquet_records_give_the_same_search_and_several_runs_lay_out_as_a_sweep(
        tmp_path: Path, world: World, settings: Any, session_factory: Any) -> None:
    rows = records(120, seed=5)
    jsonl = read_records(write_jsonl(tmp_path / "r.jsonl", rows))
    parquet = read_records(write_parquet(tmp_path / "r.parquet", rows))
    spec = {"name": "same", "attributes_file": "r", "judge": {"rubric": write_rubric_dict()},
            "budget": {"iterations": 3, "candidates_per_iteration": 8, "runs": 2, "buffer_size": 5},
            "confirm": {"top_k": 0}, "seed": 11}
    found = []
    for pool in (jsonl, parquet):
        with transaction(session_factory) as s:
            t = targets.create(s, settings, {"name": "t", "base_url": world.target_url, "model": "target"},
                               TESTER.owner)
            row = searches.create(s, settings, target_id=t.id, spec=spec, who=TESTER, records=pool)
            sid = row.id
        run_to_end(settings, session_factory, sid)
        with transaction(session_factory) as s:
            cands = searches.repo.candidates(s, sid)
            found.append([(c.run, c.iteration, c.idx, c.attributes, c.prompt, c.score) for c in cands])
            files = searches.write_surf_layout(s, settings, sid, TESTER, tmp_path / f"out-{len(found)}")
    assert found[0] == found[1] and len(found[0]) == 2 * 3 * 8
    assert {p.name for p in files} == {"results.jsonl", "summary.jsonl", "sweep_summary.json"}
    out = tmp_path / "out-2"
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["run_1", "run_2"]
    entries = _top_py_entries(out)
    assert {e["run_id"] for e in entries} == {1, 2}  # the rows carry it, as SURF's sweep writes them
    sweep = json.loads((out / "sweep_summary.json").read_text())
    assert sweep["num_runs"] == 2 and sweep["num_iterations"] == 3
    assert [r["run_id"] for r in sweep["results"]] == [1, 2]
    assert all(r["total_iterations"] == 3 for r in sweep["results"])


def write_rubric_dict() -> dict[str, Any]:
    from tests.search.surf_world import RUBRIC

    return dict(RUBRIC)


def test_bad_record_files_name_the_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"prompt": "p", "sae_attributes": ["a", "b"]})
    (tmp_path / "bad.jsonl").write_text(f"{good}\n{good}\n" + json.dumps(
        {"prompt": "p", "sae_attributes": "not a list"}) + "\n", encoding="utf-8")
    r = cli(tmp_path, "search", "run", "--rubric", str(write_rubric(tmp_path / "r.yaml")),
            "--attributes", "bad.jsonl", "--target-url", "http://127.0.0.1:9/v1", "--target-model", "m")
    assert r.returncode == 2, r.stderr
    assert "bad.jsonl:3: sae_attributes: a list of attribute texts" in r.stderr, r.stderr
    write_parquet(tmp_path / "cols.parquet", [{"prompt": "p", "attributes": ["a"]}])
    r = cli(tmp_path, "search", "run", "--rubric", "r.yaml", "--attributes", "cols.parquet",
            "--target-url", "http://127.0.0.1:9/v1", "--target-model", "m")
    assert r.returncode == 2 and "no `sae_attributes` column (has ['prompt', 'attributes'])" in r.stderr
    r = cli(tmp_path, "search", "run", "--rubric", "r.yaml", "--attributes", "cols.parquet",
            "--attribute-column", "attributes", "--target-model", "gemini:gemini-2.5-pro")
    assert r.returncode == 2 and "the gemini: prefix is not spoken here; anthropic:MODEL is" in r.stderr
    r = cli(tmp_path, "search", "run", "--rubric", "r.yaml", "--attributes", "cols.parquet",
            "--attribute-column", "attributes", "--target-model", "anthropic:claude")
    assert r.returncode == 2 and "give --target-url" in r.stderr  # the Messages API's address
    r = cli(tmp_path, "search", "run", "--rubric", "r.yaml", "--attributes", "someone/dataset",
            "--target-url", "http://127.0.0.1:9/v1", "--target-model", "m")
    assert r.returncode == 2 and "not found; surfturf reads no model hub" in r.stderr
    r = cli(tmp_path, "search", "run", "--target-url", "http://127.0.0.1:9/v1", "--target-model", "m")
    assert r.returncode == 2 and "give a SPEC file, or SURF's --rubric and --attributes" in r.stderr


def test_records_sent_inline_over_the_api_search_and_confirm(api: Api, world: World) -> None:
    r = httpx.post(api.url + "/v1/targets", headers=api.headers,
                   json={"name": "t", "base_url": world.target_url, "model": "target"})
    tid = r.json()["id"]
    spec = {"attribute_records": [{k: row[k] for k in ("prompt", "sae_attributes")} for row in records(140)],
            "judge": {"rubric": write_rubric_dict()},
            "budget": {"iterations": 3, "candidates_per_iteration": 12},
            "confirm": {"top_k": 1, "samples_per_prompt": 2, "held_out": 8}}
    bad = {**spec, "attribute_records": [{"prompt": "p", "sae_attributes": "one text"}]}
    r = httpx.post(api.url + "/v1/searches", headers=api.headers, json={"target_id": tid, "spec": bad})
    assert r.status_code == 422 and r.json()["field"] == "spec.attribute_records", r.text
    assert "attribute_records[0]: sae_attributes: a list of attribute texts" in r.json()["message"]
    r = httpx.post(api.url + "/v1/searches", headers=api.headers,
                   json={"target_id": tid, "spec": {**spec, "attributes_file": "pool.jsonl"}})
    assert r.status_code == 422  # two pools; and a server reads no files of yours
    r = httpx.post(api.url + "/v1/searches", headers=api.headers, json={"target_id": tid, "spec": spec})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    for _ in range(1200):
        body = httpx.get(f"{api.url}/v1/searches/{sid}", headers=api.headers).json()
        if body["status"] in ("completed", "failed", "cancelled"):
            break
        time.sleep(0.1)
    assert body["status"] == "completed", body
    doc = httpx.get(f"{api.url}/v1/searches/{sid}/result", headers=api.headers).json()
    assert doc["records"] == {"source": "inline", "column": "sae_attributes", "records": 140,
                              "attributes": 26, "with_prompts": True}
    assert doc["name"] == "metric-refusals" and doc["ranking"][0]["text"] == TRIGGER
    assert [d["confirmed"] for d in doc["discoveries"]] == [True]
    assert doc["confirmation"]["prompts"] == 8


def test_a_spec_file_names_records_and_the_flags_override_it(tmp_path: Path) -> None:
    from app.core.search.loader import load_search_file

    (tmp_path / "specs").mkdir()
    write_jsonl(tmp_path / "specs" / "pool.jsonl", records(30))
    write_rubric(tmp_path / "specs" / "rubric.yaml")
    spec_file = tmp_path / "specs" / "search.yaml"
    spec_file.write_text("name: from-spec\nattributes_file: pool.jsonl\njudge: {rubric: rubric.yaml}\n"
                         "budget: {iterations: 5, buffer_size: 7}\n", encoding="utf-8")
    spec = load_search_file(spec_file)
    assert spec.uses_records() and spec.attributes_file == str((tmp_path / "specs" / "pool.jsonl").resolve())
    assert (spec.name, spec.budget.iterations, spec.budget.buffer_size,
            spec.budget.candidates_per_iteration) == ("from-spec", 5, 7, 50)  # spec > rubric > default
    flagged = load_search_file(spec_file, {"budget": {"iterations": 2}, "attribute_column": "attributes"})
    assert (flagged.budget.iterations, flagged.budget.buffer_size) == (2, 7)  # flags > spec
    pool = read_records(Path(flagged.attributes_file or ""), flagged.attribute_column)
    assert pool.n_attributes == 26 and pool.column == "attributes"  # the raw, lower-cased column
    (tmp_path / "specs" / "seeds.yaml").write_text(
        "name: x\nattributes_file: pool.jsonl\njudge: {rubric: rubric.yaml}\nseed_prompts: [a, b]\n",
        encoding="utf-8")
    with pytest.raises(SpecFileError, match="hold-out needs 4"):  # seeds given: they are held out
        load_search_file(tmp_path / "specs" / "seeds.yaml")
