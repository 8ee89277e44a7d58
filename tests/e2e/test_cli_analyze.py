"""`surfturf audit run | export | analyze` from the command line, on the embedded default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

SPEC = """name: cli-analyze
prompts: ["Why is the sky blue?", "How do tides work?", "What is DNA?", "How do bees fly?"]
features:
  format: {levels: {plain: "{prompt}", tagged: "<query>{prompt}</query>"}}
  user_role: {builtin: user_role}
behaviours:
  emoji: {builtin: emoji}
  signoff: {regex: "(?i)best regards"}
design: {samples_per_prompt: 6, seed: 11}
"""


def test_run_export_analyze_round_trip(tmp_path: Path, two_chunk_url: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "audit", "run", str(spec), "--target-url", two_chunk_url + "/v1",
                 "--target-model", "two-chunk", "--out", str(tmp_path / "report.json")]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert main([*data, "audit", "export", report["audit_id"], "--out", str(tmp_path / "s.jsonl")]) == 0
    lines = (tmp_path / "s.jsonl").read_text().splitlines()
    assert len(lines) == 4 * 4 * 6
    capsys.readouterr()
    assert main(["audit", "analyze", str(spec), "--samples", str(tmp_path / "s.jsonl"),
                 "--out", str(tmp_path / "again.json")]) == 0
    assert "miscalibrated" in capsys.readouterr().out
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["findings"] == report["findings"] and again["cells"] == report["cells"]

    # scores are optional: drop them and the spec's scorers re-score the stored responses
    bare = [json.loads(line) for line in lines]
    for rec in bare:
        rec.pop("scores")
    (tmp_path / "bare.jsonl").write_text("\n".join(json.dumps(r) for r in bare))
    assert main(["audit", "analyze", str(spec), "--samples", str(tmp_path / "bare.jsonl"),
                 "--out", str(tmp_path / "rescored.json")]) == 0
    rescored = json.loads((tmp_path / "rescored.json").read_text())
    assert [f["effect"] for f in rescored["findings"]] == [f["effect"] for f in report["findings"]]


@pytest.mark.parametrize(("line", "message"), [
    ('{"prompt_index": 9, "levels": {"format": "plain", "user_role": "casual"}, "sample_index": 0}',
     "prompt_index 9 is out of range"),
    ('{"prompt_index": 0, "levels": {"format": "bold", "user_role": "casual"}, "sample_index": 0}',
     "levels.format: 'bold' is not a level"),
    ('{"prompt_index": 0, "levels": {"format": "plain"}, "sample_index": 0}', "levels must name"),
    ('{"prompt_index": 0, "levels": {"format": "plain", "user_role": "casual"}, "sample_index": 0, '
     '"scores": {"emoji": "yes"}}', "scores.emoji"),
    ('{"prompt_index": 0, "levels": {"format": "plain", "user_role": "casual"}, "sample_index": 0, '
     '"scores": {"tone": true}}', "unknown behaviours ['tone']"),
    ("not json", "3: (line): Invalid JSON"),
])
def test_bad_samples_name_the_file_and_line(tmp_path: Path, line: str, message: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    good = '{"prompt_index": 0, "levels": {"format": "plain", "user_role": "casual"}, "sample_index": 0}'
    samples = tmp_path / "s.jsonl"
    samples.write_text(f"{good}\n\n{line}\n")
    assert main(["audit", "analyze", str(spec), "--samples", str(samples)]) == 2
    err = capsys.readouterr().err
    assert f"{samples}:3" in err and message in err, err
