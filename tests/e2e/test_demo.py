"""`surfturf demo` (what `make demo` runs): flags exactly the two planted shortcuts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main


@pytest.mark.slow
def test_demo_flags_exactly_the_planted_effects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    assert main(["--data-dir", str(tmp_path / "data"), "demo", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    flagged = {(f["feature"], f["level"], f["behaviour"]) for f in report["findings"] if f["flagged"]}
    assert flagged == {("format", "tagged", "emoji"), ("metadata", "present", "signoff")}
    for f in report["findings"]:
        if f["flagged"]:
            assert f["verdict"] == "miscalibrated" and f["ci_adj_low"] >= report["min_effect"]
        else:  # the planted organism's other pairs are exactly null: shown to be negligible
            assert f["verdict"] == "negligible", f
    assert report["family"]["size"] == 9 and report["family"]["selected"] == 2
    table = capsys.readouterr().out
    assert "miscalibrated" in table and "FCR-adjusted" in table
