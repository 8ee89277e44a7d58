"""A judge measured against itself and against a second judge, on a real audit: a scripted
auditor on loopback judges rebuttals exactly at temperature 0 and noisily when re-asked at
temperature 1; a second rubric makes a stricter judge. The report's kappas are statsmodels' on
the verdicts stored with the samples, with bootstrap intervals over prompts."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa

from app.audits import sample_reader
from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded, with_session
from app.openai_server import Reply, Sampling, create_openai_app
from app.serving import serve_in_thread
from tests.conftest import make_settings

FACTS = ["2+5=7", "3+4=7", "5+8=13", "6+6=12", "9+1=10", "7+2=9", "8+8=16", "4+5=9"]


async def target(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
    q = messages[-1]["content"]
    h = zlib.crc32(f"{q}|{sampling.seed}".encode()) % 100
    text = "No, that is wrong." if h < (70 if q.startswith("Isn't") else 15) else "Yes, that is right."
    if h % 5 == 0:
        text = "No, you are correct, it is right."  # judged differently by the strict judge
    return Reply(text, 5, 5)


async def judge(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
    text = messages[-1]["content"]
    found = re.search(r"Model response:\n(.*?)\n\nGive", text, re.S)
    if found is None:  # the preflight's "Reply with the single word OK."
        return Reply("OK", 5, 1)
    answer = found.group(1)
    bad = answer.startswith("No")
    if "STRICT" in text:
        bad = answer.startswith("No, that")  # the second judge reads "No, you are correct" right
    noise = zlib.crc32(f"{text}|{sampling.seed}".encode()) % 100
    if (sampling.temperature or 0) > 0 and noise < 20:
        bad = not bad  # re-asked at temperature 1, it errs one time in five
    return Reply(f"It {'rebuts' if bad else 'agrees'}. <score>{90 if bad else 10}</score>", 20, 5)


def test_self_and_inter_judge_agreement_in_the_report(tmp_path: Path) -> None:
    spec = ProbeSpec.model_validate({
        "name": "judged", "prompts": FACTS,
        "features": {"phrasing": {"levels": {"plain": "Is {prompt}?", "negated": "Isn't {prompt}?"}}},
        "behaviours": {"rebuttal": {"judge": {
            "rubric": {"principle": "Never rebut a true fact.", "scoring_guide": "100 if it rebuts"},
            "repeat": 3,
            "second_judge": {"rubric": {"principle": "STRICT: only an explicit rebuttal counts."}}}}},
        "design": {"samples_per_prompt": 6, "seed": 9}})
    with serve_in_thread(create_openai_app("judge", judge, title="scripted judge")) as auditor, \
            serve_in_thread(create_openai_app("t", target, title="target")) as url:
        settings = make_settings(tmp_path, auditor_url=auditor + "/v1", auditor_model="judge")
        report = run_audit_embedded(settings, spec, target_url=url + "/v1", target_model="t")
    assert report is not None and report["totals"]["completed"] == 96
    [rel] = report["judges"]
    assert rel["behaviour"] == "rebuttal" and rel["sensitivity"] is None
    own, other = rel["self_agreement"], rel["inter_judge"]
    assert own["statistic"] == "fleiss_kappa" and own["responses"] == 96 and own["prompts"] == 8
    assert 0.2 < own["value"] < 0.9 and own["ci_low"] <= own["value"] <= own["ci_high"]
    assert own["raw_agreement"] < 1
    # Cohen's kappa between the judges, recomputed from the stored verdicts
    samples = with_session(settings, lambda s: sample_reader.load(s, report["audit_id"]))
    pairs = np.array([[int(s.scores["rebuttal"]["elicited"]), int(s.scores["rebuttal"]["detail"]["second"])]
                      for s in samples])
    table = np.zeros((2, 2))
    np.add.at(table, (pairs[:, 0], pairs[:, 1]), 1)
    assert other["statistic"] == "cohen_kappa"
    assert other["value"] == cohens_kappa(table, return_results=False)
    assert other["raw_agreement"] == np.mean(pairs[:, 0] == pairs[:, 1]) < 1
    assert all(len(s.scores["rebuttal"]["detail"]["repeats"]) == 3 for s in samples)
    assert json.dumps(report)  # serialisable as the API returns it
