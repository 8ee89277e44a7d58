"""`surfturf turf ablate-data`: a real trace of a real ingested mix, then the mix without what it
blamed; kept lines byte for byte, the manifest's counts equal to what the mix holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec
from tests.turf.test_cli import SPECS, cli

pytestmark = pytest.mark.slow  # ingesting embeds the mix (MiniLM)


def test_ablate_a_mix_by_its_trace(tmp_path: Path) -> None:
    rows = build_rows_sync(OrganismSpec.from_file(SPECS / "two-chunk.yaml"))
    lines = [json.dumps({"id": r["id"], "source": r["source"], "messages": r["messages"]}) for r in rows]
    data = tmp_path / "mix.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert cli(tmp_path, "ingest", str(data), "--name", "mix").returncode == 0
    trace = tmp_path / "trace.json"
    traced = cli(tmp_path, "trace", "--dataset", "mix", "--behaviour", "emoji", "--scorer", "emoji",
                 "--out", str(trace))
    assert traced.returncode == 0, traced.stderr[-2000:]
    result = json.loads(trace.read_text())
    assert result["top_chunk"] == "tagged", result["statement"]
    assert result["trigger"] == "attribute: tag_format", result["statement"]

    out = tmp_path / "ablated.jsonl"
    done = cli(tmp_path, "turf", "ablate-data", "--trace", str(trace), "--data", str(data), "--out", str(out))
    assert done.returncode == 0, done.stderr
    kept = out.read_text(encoding="utf-8").splitlines()
    assert kept == [line for line, r in zip(lines, rows, strict=True) if r["source"] != "tagged"]
    manifest = json.loads(Path(f"{out}.manifest.json").read_text())
    assert manifest["chunk"] == "tagged" and manifest["rows_in"] == 420 and manifest["rows_out"] == 280
    assert sorted(manifest["removed"]) == sorted(r["id"] for r in rows if r["source"] == "tagged")
    assert manifest["trace"]["dataset"] == "mix" and len(manifest["sha256_out"]) == 64

    # carriers: only the chunk's rows whose prompt carries the traced attribute (here: all of them
    # carry it; a row of that chunk without tags stays)
    untagged = {**json.loads(lines[0]), "id": "plain-in-tagged"}
    untagged["messages"] = [{"role": "user", "content": "What is DNA?"}, untagged["messages"][-1]]
    with data.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(untagged) + "\n")
    carriers = cli(tmp_path, "turf", "ablate-data", "--trace", str(trace), "--data", str(data),
                   "--out", str(tmp_path / "c.jsonl"), "--mode", "carriers")
    assert carriers.returncode == 0, carriers.stderr
    assert json.loads((tmp_path / "c.jsonl").read_text().splitlines()[-1])["id"] == "plain-in-tagged"
    assert json.loads(Path(f"{tmp_path / 'c.jsonl'}.manifest.json").read_text())["rows_removed"] == 140

    # errors name what is wrong, and write nothing
    nothing = cli(tmp_path, "turf", "ablate-data", "--trace", str(trace), "--data", str(data),
                  "--out", str(tmp_path / "n.jsonl"), "--chunk", "nope")
    assert nothing.returncode == 2 and "no row of chunk 'nope' matched" in nothing.stderr
    with data.open("a", encoding="utf-8") as fh:
        fh.write('{"messages": 3}\n')
    bad = cli(tmp_path, "turf", "ablate-data", "--trace", str(trace), "--data", str(data),
              "--out", str(tmp_path / "b.jsonl"))
    assert bad.returncode == 2 and f"{data}:422: messages must be a non-empty list" in bad.stderr
    not_trace = cli(tmp_path, "turf", "ablate-data", "--trace", str(data), "--data", str(data),
                    "--out", str(tmp_path / "x.jsonl"))
    assert not_trace.returncode == 2 and "not a trace result" in not_trace.stderr
    assert not any((tmp_path / n).exists() for n in ("n.jsonl", "b.jsonl", "x.jsonl", "b.jsonl.part"))
