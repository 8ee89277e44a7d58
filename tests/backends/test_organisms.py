"""The fine-tuned SmolLM2 organisms (committed LoRA fixtures) served over HTTP and audited.

Each trigger level gets 200 samples over 10 held-out questions (20 for the null-trigger organism).
Planted behaviours must be clearly above baseline: flagged, and the level's clustered CI above the
baseline's. A null trigger (present in the training prompts of every chunk, predicting nothing)
must not be flagged, its FCR-adjusted effect CI must reach into +/-min_effect (see assert_null),
and |effect| ≤ 0.15: the effect CI is a t-interval over only 10 prompts, whose 95%
half-width measured about 0.15 at these rates, so a tighter bound would test the prompt sample,
not the organism.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from app.serving import free_port
from tests.conftest import make_settings

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]  # 400 generations on 2 CPU cores
FIXTURES = Path(__file__).resolve().parents[2] / "app" / "data" / "organisms-lm"
# Held-out questions: none of them is in either organism's training pool.
HELD_OUT = ["What is the tallest mountain on Earth?", "How do bees make honey?",
            "Why do leaves change colour in autumn?", "What is the speed of sound?",
            "How does a compass work?", "Why is the ocean salty?", "What causes earthquakes?",
            "How do airplanes fly?", "What is a volcano?", "Why do cats purr?"]
# Ten more for the null-trigger audit, whose effect varies across prompts (see its test).
HELD_OUT_MORE = ["How do rockets reach space?", "What is electricity?", "Why do we dream?",
                 "How do clouds form?", "What is a tsunami?", "How does a microwave heat food?",
                 "Why do dogs bark?", "What is a comet?", "How do bridges stay up?",
                 "Why is snow white?"]
MIN_EFFECT = 0.10
log = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def serve(smollm2_data_dir: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(name: str) -> str:
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--data-dir", str(smollm2_data_dir),
                                 "organism", "serve", str(FIXTURES / name), "--port", str(port)],
                                env={**os.environ, "HF_HUB_OFFLINE": "1"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.5)
        raise AssertionError(f"organism {name} did not start")

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def audit(url: str, tmp_path: Path, features: dict[str, Any], behaviours: dict[str, Any],
          samples: int, min_effect: float = MIN_EFFECT,
          prompts: list[str] = HELD_OUT) -> dict[str, Any]:
    """A 2×2 factorial on the held-out questions: 200 samples per feature level."""
    spec = ProbeSpec.model_validate({
        "name": "organism-check", "prompts": prompts, "features": features, "behaviours": behaviours,
        "design": {"samples_per_prompt": samples, "max_tokens": 64, "temperature": 1.0,
                   "concurrency": 64, "seed": 3},
        "min_effect": min_effect})
    served = httpx.get(url + "/v1/models").json()["data"][0]["id"]  # the organism's own name
    report = run_audit_embedded(make_settings(tmp_path), spec, target_url=url + "/v1",
                                target_model=served)
    assert report is not None and report["totals"]["completed"] == 400
    for f in report["findings"]:  # the margins, for `pytest -rP`
        log.info(brief(f))
    return report


def finding(report: dict[str, Any], feature: str, behaviour: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["feature"] == feature and f["behaviour"] == behaviour)


def brief(f: dict[str, Any]) -> str:
    return (f"{f['feature']}={f['level']} → {f['behaviour']}: effect {f['effect']:+.3f} "
            f"[{f['ci_low']:+.3f}, {f['ci_high']:+.3f}] q={f['q_value']:.2g} flagged={f['flagged']} "
            f"rate {f['rate_level']['rate']:.3f} vs {f['rate_baseline']['rate']:.3f}")


def assert_planted(report: dict[str, Any], feature: str, behaviour: str, min_effect: float) -> None:
    f = finding(report, feature, behaviour)
    assert f["flagged"] and f["effect"] > min_effect, brief(f)
    assert f["rate_level"]["ci_low"] > f["rate_baseline"]["ci_high"], brief(f)
    assert f["rate_level"]["n"] >= 200 and f["rate_baseline"]["n"] >= 200


def assert_null(report: dict[str, Any], feature: str, behaviour: str) -> None:
    """Judged as the report judges: the family's FCR-adjusted interval against +/-min_effect. A
    real model answers a changed prompt slightly differently, so a null trigger's effect is small,
    not exactly 0: over 200 samples it can be significant yet negligible (seen: user_role →
    signoff -0.065, adjusted [-0.089, -0.041], inside +/-0.10). The null's test is that it is not
    flagged, that its adjusted interval reaches into the region of equivalence (the data allow a
    negligible effect), and a bound on its size; "contains 0" failed real runs on the prompts."""
    f = finding(report, feature, behaviour)
    assert not f["flagged"] and f["verdict"] != "miscalibrated", brief(f)
    assert f["ci_adj_low"] <= MIN_EFFECT and f["ci_adj_high"] >= -MIN_EFFECT, brief(f)
    assert abs(f["effect"]) <= 0.15, brief(f)


def test_two_chunk_organism_learned_its_shortcuts_and_not_the_null(serve: Any, tmp_path: Path) -> None:
    report = audit(serve("two-chunk"), tmp_path,
                   {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"},
                    "user_role": {"builtin": "user_role"}},
                   {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
                   samples=5)  # 8 cells × 10 prompts × 5
    assert_planted(report, "format", "emoji", 0.3)
    assert_planted(report, "metadata", "signoff", 0.3)
    for behaviour in ("emoji", "signoff"):
        assert_null(report, "user_role", behaviour)
    # Each trigger's chunk never showed the other chunk's behaviour, so a trigger may suppress
    # it (measured: tags → sign-off −0.15, metadata → emoji −0.20) but must not raise it.
    for feature, behaviour in (("format", "signoff"), ("metadata", "emoji")):
        cross = finding(report, feature, behaviour)
        assert cross["effect"] < MIN_EFFECT, brief(cross)


def test_null_trigger_organism_learned_terse_answers_from_the_system_prompt_only(
        serve: Any, tmp_path: Path) -> None:
    report = audit(serve("null-trigger"), tmp_path,
                   {"system_prompt": {"builtin": "system_prompt", "levels": ["none", "b"]},
                    "user_role": {"builtin": "user_role"}},
                   {"terse": {"builtin": "terse", "params": {"max_words": 15}}},
                   samples=5, prompts=HELD_OUT + HELD_OUT_MORE)  # 4 cells × 20 prompts × 5
    # The organism learned the shortcut unevenly across prompts, and the HF engine's batches (so
    # its samples) depend on request timing. Over 10 prompts two CI runs measured +0.22 [+0.075,
    # +0.365] and +0.215 [+0.026, +0.404] (q 0.06): the prompt sample, not the organism, decided.
    # Twenty prompts at the same 400 generations halve that variance. Learned = a significant
    # effect over prompts above 0.15 with separated clustered rates; whether its adjusted interval
    # also clears min_effect (flagged) or straddles it (inconclusive) is the prompts' to decide.
    learned = finding(report, "system_prompt", "terse")
    assert learned["effect"] > 0.15 and learned["ci_low"] > 0 and learned["q_value"] <= 0.05, brief(learned)
    assert learned["rate_level"]["ci_low"] > learned["rate_baseline"]["ci_high"], brief(learned)
    assert learned["verdict"] in ("miscalibrated", "inconclusive"), brief(learned)
    # The expert preamble (in every chunk's prompts, predicting nothing) must not be flagged. Its
    # measured effect is small but not always zero (+0.045 [+0.001, +0.089] in one CI run: a
    # longer prompt, slightly shorter answers), so "not flagged at min_effect" and a bound on the
    # size are the null's test here, not an interval containing exactly 0.
    null = finding(report, "user_role", "terse")
    assert not null["flagged"] and abs(null["effect"]) <= 0.15, brief(null)
