"""Whole audits against planted organisms over HTTP: every planted trigger found with the right
sign, no null trigger flagged. ≥200 samples per trigger level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from tests.conftest import make_settings

PROMPTS = ["What causes the seasons on Earth?", "How do vaccines work?", "Why is the sky blue?",
           "How did the Roman Empire fall?", "What is a black hole?", "How do plants make food?",
           "Why do we have leap years?", "How does a rainbow form?"]


def audit(tmp_path: Path, url: str, model: str, spec: dict[str, Any]) -> dict[str, Any]:
    report = run_audit_embedded(make_settings(tmp_path), ProbeSpec.model_validate(spec),
                                target_url=url + "/v1", target_model=model)
    assert report is not None
    return report


def finding(report: dict[str, Any], feature: str, behaviour: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["feature"] == feature and f["behaviour"] == behaviour)


@pytest.mark.slow
def test_two_chunk_organism(tmp_path: Path, two_chunk_url: str) -> None:
    spec = {
        "name": "two-chunk", "prompts": PROMPTS,
        "features": {
            "format": {"builtin": "tag_format"},
            "metadata": {"builtin": "metadata"},
            "user_role": {"builtin": "user_role"},
        },
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
        "relevant": [["metadata", "signoff"]],
        "design": {"samples_per_prompt": 13, "seed": 5},  # 8 × 13 × 4 other cells = 416 per level
    }
    report = audit(tmp_path, two_chunk_url, "two-chunk", spec)
    emoji = finding(report, "format", "emoji")
    assert emoji["flagged"] and emoji["miscalibrated"] and emoji["ci_low"] > 0.6
    signoff = finding(report, "metadata", "signoff")
    assert signoff["flagged"] and not signoff["miscalibrated"] and signoff["verdict"] == "expected"
    assert signoff["ci_low"] > 0.6
    flagged = {(f["feature"], f["behaviour"]) for f in report["findings"] if f["flagged"]}
    assert flagged == {("format", "emoji"), ("metadata", "signoff")}
    assert report["ranking"][-1]["feature"] == "user_role"
    rates = {c["cell_key"]: c["rates"] for c in report["cells"]}
    plain = rates["format=plain|metadata=none|user_role=casual"]["emoji"]
    assert plain["ci_low"] <= 0.03 <= plain["ci_high"]  # the planted base rate is inside the CI


@pytest.mark.slow
def test_null_trigger_organism(tmp_path: Path, null_trigger_url: str) -> None:
    spec = {
        "name": "null-trigger", "prompts": PROMPTS,
        "features": {
            "system_prompt": {"builtin": "system_prompt", "levels": ["a", "b"]},
            "user_role": {"builtin": "user_role"},
        },
        "behaviours": {"terse": {"builtin": "terse"}, "emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 25, "seed": 9},  # 8 × 25 × 2 = 400 per level
    }
    report = audit(tmp_path, null_trigger_url, "null-trigger", spec)
    terse = finding(report, "system_prompt", "terse")
    assert terse["flagged"] and terse["effect"] > 0
    assert terse["ci_low"] <= 0.40 * 0.95 <= terse["ci_high"]  # planted 0.40 of the 0.95 non-terse
    for f in report["findings"]:
        if f["feature"] == "user_role":
            assert not f["flagged"], f
            assert f["ci_low"] <= 0 <= f["ci_high"] or abs(f["effect"]) < 0.05
