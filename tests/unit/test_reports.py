"""HTML reports from a simulated audit: every finding is drawn, the flagged one with the
responses behind it, model text escaped, nothing loaded from anywhere."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from app.core.reports.html import audit_html, render, trace_html
from app.core.reports.plots import safe_id
from app.core.surf.analysis import analyze
from app.core.surf.simulation import Scenario, draw


def simulated_report() -> dict[str, Any]:
    sc = Scenario(prompts=16, heterogeneity=0.15)  # nuisance=l1 → b0 +0.35, the rest null
    spec = sc.spec(6)
    samples = draw(sc, spec, np.random.default_rng(11))
    for s in samples:  # model output is untrusted markup
        s.response = f"<script>alert({s.sample_index})</script> answer"
    return analyze(spec, samples, total=spec.work_item_count(), n_boot=100).model_dump(mode="json")


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    return simulated_report()


def test_every_finding_is_drawn_and_the_flag_shows_its_responses(report: dict[str, Any]) -> None:
    page = audit_html(report)
    for f in report["findings"]:
        if f["effect"] is not None:
            assert f'id="{safe_id("effect", f["feature"], f["level"], f["behaviour"])}"' in page
    [flag] = [f for f in report["findings"] if f["flagged"]]
    pair_id = safe_id("pair", flag["feature"], flag["level"], flag["behaviour"])
    pair = re.search(rf'<div class="pair" id="{pair_id}">(.*?)</div>\s*</div>', page, re.S)
    assert pair and "trigger" in pair.group(1) and "baseline" in pair.group(1)
    cells = len(report["cells"]) * len({b for c in report["cells"] for b in c["rates"]})
    assert len(re.findall(r'id="rate-', page)) == cells


def test_the_page_is_self_contained_and_escapes_model_text(report: dict[str, Any]) -> None:
    page = audit_html(report)
    assert "<script" not in page and "&lt;script&gt;alert(" in page
    assert "default-src 'none'" in page  # even a stray reference could not load
    refs = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert all(r.startswith(("#", "data:")) for r in refs), [r[:40] for r in refs]  # all inline


def test_render_tells_the_kinds_apart_and_refuses_others(report: dict[str, Any]) -> None:
    assert render(report).startswith("<!doctype html>")
    trace = {"dataset": "d", "behaviour": "emoji", "method": "scorer", "positives": 3,
             "statement": "When the model sees tags, it emoji", "top_chunk": "a", "trigger": None,
             "chunks": [{"family": "chunk", "group": "a", "hits": 3, "n_hits": 3, "base": 5,
                         "n_all": 10, "odds_ratio": 9.0, "odds_ratio_ci": [1.2, 60.0],
                         "q_value": 0.01, "significant": True}],
             "clusters": [], "attributes": [], "exemplars": []}
    page = trace_html(trace)
    assert 'id="enrichment-chunk-a"' in page and "When the model sees tags" in page
    assert render(trace) == page
    with pytest.raises(ValueError, match="not a surfturf"):
        render({"hello": 1})
