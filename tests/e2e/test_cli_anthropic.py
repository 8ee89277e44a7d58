"""`audit run --target-model anthropic:MODEL`: SURF's model string names a Messages-API target on
the command line; the audit runs through the official SDK against the organism server."""

from __future__ import annotations

import json
from pathlib import Path

from app.cli import main

SPEC = """name: tags-over-messages
prompts: ["Why is the sky blue?", "How do tides work?", "What is DNA?", "How do bees fly?"]
features:
  format: {builtin: tag_format}
behaviours:
  emoji: {builtin: emoji}
design: {samples_per_prompt: 10, seed: 4}
"""


def test_audit_a_messages_api_target_from_the_command_line(tmp_path: Path, two_chunk_url: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "report.json"
    args = ["--data-dir", str(tmp_path), "audit", "run", str(spec), "--target-url", two_chunk_url,
            "--target-model", "anthropic:two-chunk", "--out", str(out)]
    assert main(args) == 0
    report = json.loads(out.read_text())
    assert report["target"] == {"base_url": two_chunk_url, "model": "two-chunk", "protocol": "anthropic"}
    assert report["totals"]["completed"] == 80 and report["totals"]["target_errors"] == 0
    [f] = report["findings"]
    assert f["flagged"] and f["effect"] > 0.5
