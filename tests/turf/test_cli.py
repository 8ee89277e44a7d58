"""The CLI loop a user runs: ingest a file, audit a model, trace the audit's finding to the data."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec
from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from tests.conftest import make_settings

SPECS = Path(__file__).resolve().parents[2] / "app" / "data" / "organism-specs"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_ingest_audit_trace(tmp_path: Path, two_chunk_url: str) -> None:
    rows = build_rows_sync(OrganismSpec.from_file(SPECS / "two-chunk.yaml"))
    lines = [json.dumps({"source": r["source"], "messages": r["messages"]}) for r in rows]
    lines.insert(9, '{"messages": [{"role": "user"}]}')
    data = tmp_path / "sft.jsonl"
    data.write_text("\n".join(lines) + "\n")

    refused = cli(tmp_path, "ingest", str(data), "--name", "mix")
    assert refused.returncode == 2
    assert f"{data}: line 10: messages[0].content must be a string" in refused.stderr
    ok = cli(tmp_path, "ingest", str(data), "--name", "mix", "--on-error", "skip")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert f"{data}:10: skipped" in ok.stderr and "420 rows" in ok.stdout

    spec = ProbeSpec.model_validate({
        "name": "tags", "prompts": ["Why is the sky blue?", "What is DNA?", "How do tides work?"],
        "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
        "design": {"samples_per_prompt": 20}})
    report = run_audit_embedded(make_settings(tmp_path), spec, target_url=two_chunk_url + "/v1",
                                target_model="two-chunk")
    assert report is not None
    (tmp_path / "report.json").write_text(json.dumps(report))

    out = tmp_path / "trace.json"
    traced = cli(tmp_path, "trace", "--dataset", "mix", "--report", str(tmp_path / "report.json"),
                 "--feature", "metadata", "--behaviour", "signoff", "--out", str(out))
    assert traced.returncode == 0, traced.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["top_chunk"] == "metadata" and result["chunks"][0]["significant"]
    assert "metadata" in traced.stdout and "When the model sees" in traced.stdout

    missing = cli(tmp_path, "trace", "--dataset", "mix", "--report", str(tmp_path / "report.json"),
                  "--feature", "nope", "--behaviour", "signoff")
    assert missing.returncode == 2 and "no finding" in missing.stderr

    listed = json.loads(cli(tmp_path, "datasets", "list", "--json").stdout)
    assert [d["name"] for d in listed] == ["mix"]
    index = tmp_path / "datasets" / listed[0]["id"]  # the CLI's data dir is tmp_path
    assert index.is_dir()
    deleted = cli(tmp_path, "datasets", "delete", "mix")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(cli(tmp_path, "datasets", "list", "--json").stdout) == []
    assert not index.exists()  # index and files too
    with sqlite3.connect(tmp_path / "surfturf.db") as db:  # rows and traces by ON DELETE CASCADE
        assert db.execute("SELECT count(*) FROM dataset_rows").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM traces").fetchone() == (0,)
    gone = cli(tmp_path, "datasets", "show", "mix")
    assert gone.returncode == 2 and "mix" in gone.stderr
