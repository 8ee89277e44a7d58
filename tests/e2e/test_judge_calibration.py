"""A scorer's errors measured and corrected for, as a user meets them: a regex that counts
"No, you are correct, 2+5 equals 7." as a rebuttal. `judge calibrate` measures it on labelled
responses; a spec that refers to the calibration gets each effect corrected beside the raw one."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from app.cli import main

SPEC = """name: rebuttals
prompts: ["2+5=7", "3+4=7", "5+8=13", "6+6=12", "9+1=10", "7+2=9"]
features:
  phrasing: {levels: {plain: "Is {prompt}?", negated: "Isn't {prompt}?"}}
behaviours:
  rebuttal: {regex: "^\\\\s*No\\\\b"%s}
design: {samples_per_prompt: 30, seed: 3}
"""
REBUTS = ["No, that is wrong: {q} is false.", "That's not right. {q} does not hold."]  # 2nd: regex misses
AGREES = ["Yes, {q} is correct.", "No, you are correct, {q}."]  # 2nd: regex fires anyway


def labels(path: Path) -> None:
    lines = []
    for q in ("2+5=7", "3+4=7", "5+8=13", "6+6=12", "9+1=10"):
        for i in range(4):  # positives: 3 caught per 4; negatives: 1 false alarm per 4
            lines.append({"prompt": f"Is {q}?", "response": REBUTS[i == 3].format(q=q), "label": True})
            lines.append({"prompt": f"Is {q}?", "response": AGREES[i == 3].format(q=q), "label": False})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def samples(path: Path) -> None:
    """The negated phrasing draws true rebuttals 60% of the time, the plain one 10%."""
    rng = random.Random(5)
    qs = ["2+5=7", "3+4=7", "5+8=13", "6+6=12", "9+1=10", "7+2=9"]
    out = []
    for p, q in enumerate(qs):
        for level, rate in (("plain", 0.1), ("negated", 0.6)):
            for s in range(30):
                pool = REBUTS if rng.random() < rate else AGREES
                # one response in four is the form the regex gets wrong, as in the labelled set
                out.append({"prompt_index": p, "levels": {"phrasing": level}, "sample_index": s,
                            "response": pool[rng.random() < 0.25].format(q=q),
                            "messages": [{"role": "user", "content": f"Is {q}?"}]})
    path.write_text("\n".join(json.dumps(x) for x in out) + "\n")


def test_calibrate_then_correct(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC % "")
    labelled = tmp_path / "labels.jsonl"
    labels(labelled)
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*data, "judge", "calibrate", str(spec), "--behaviour", "rebuttal", "--labels", str(labelled),
                 "--out", str(tmp_path / "rebuttal.calibration.json")]) == 0
    out = capsys.readouterr().out
    cal = json.loads((tmp_path / "rebuttal.calibration.json").read_text())
    assert (cal["tp"], cal["fn"], cal["tn"], cal["fp"]) == (15, 5, 15, 5)
    assert cal["sensitivity"] == 0.75 and cal["specificity"] == 0.75
    assert cal["sensitivity_ci"][0] < 0.75 < cal["sensitivity_ci"][1]
    assert "sensitivity 0.75" in out and "labelled false, scored true" in out and "you are correct" in out
    assert {d["line"] for d in cal["disagreements"]} == {8, 7, 15, 16, 23, 24, 31, 32, 39, 40}

    sampled = tmp_path / "samples.jsonl"
    samples(sampled)
    calibrated = tmp_path / "calibrated.yaml"
    calibrated.write_text(SPEC % ", calibration: rebuttal.calibration.json")
    for which, path in (("raw", spec), ("corrected", calibrated)):
        assert main([*data, "audit", "analyze", str(path), "--samples", str(sampled), "--out",
                     str(tmp_path / f"{which}.json")]) == 0
    raw = json.loads((tmp_path / "raw.json").read_text())["findings"][0]
    got = json.loads((tmp_path / "corrected.json").read_text())["findings"][0]
    assert raw["effect_corrected"] is None and raw["correction"] is None
    assert got["effect"] == raw["effect"] and got["verdict"] == raw["verdict"]  # read from the raw one
    assert got["effect_corrected"] == pytest.approx(raw["effect"] / 0.5)
    assert got["ci_corrected_high"] - got["ci_corrected_low"] > 2 * (raw["ci_adj_high"] - raw["ci_adj_low"])
    assert "sensitivity 0.75" in got["correction"] and "raw interval" in got["correction"]
    # the truth (0.6 - 0.1 = 0.5 over the design) lies inside the corrected interval, not the raw one
    assert got["ci_corrected_low"] <= 0.5 <= got["ci_corrected_high"] and raw["ci_adj_high"] < 0.5


def test_bad_inputs_name_their_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC % "")
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"prompt": "q", "response": "No.", "label": true}\n{"prompt": "q", "response": "Yes.", '
                   '"label": "no"}\n')
    assert main(["--data-dir", str(tmp_path), "judge", "calibrate", str(spec), "--behaviour", "rebuttal",
                 "--labels", str(bad)]) == 2
    assert f"{bad}:2: label must be true or false" in capsys.readouterr().err
    bad.write_text('{"prompt": "q", "response": "No.", "label": true}\n')
    assert main(["judge", "calibrate", str(spec), "--behaviour", "rebuttal", "--labels", str(bad)]) == 2
    assert "labelled true and responses labelled false" in capsys.readouterr().err
    missing = tmp_path / "m.yaml"
    missing.write_text(SPEC % ", calibration: nope.json")
    assert main(["audit", "analyze", str(missing), "--samples", str(bad)]) == 2
    assert f"{missing}:6: calibration file" in capsys.readouterr().err
