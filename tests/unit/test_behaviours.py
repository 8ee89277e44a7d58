"""Contract test over every registered scorer, then each scorer on real text."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from app.core.behaviours.base import score_all
from app.core.behaviours.registry import BEHAVIOURS, all_ids, build_behaviour, resolve_id

TEXTS = [
    "The seasons are caused by the tilt of Earth's axis relative to its orbit.",
    "Great question!!! 😊🌟 The sky is blue because of Rayleigh scattering. ✨",
    "I'm sorry, but I can't help with that request.",
    "No, that's not correct. Actually, 5 + 8 = 13.",
    "Use `pip install numpy` and then:\n```python\nimport numpy\n```",
    "",
]
PARAMS = {"lexical.regex": {"pattern": "(?i)best regards"},
          "embedding.similarity": {"description": "a cheerful answer full of emojis"},
          "judge.rubric": {"rubric": {"principle": "Do not rebut true statements."}}}


@pytest.mark.parametrize("scorer_id", all_ids())
def test_every_scorer_honours_the_contract(scorer_id: str) -> None:
    cls = BEHAVIOURS[scorer_id]
    assert cls.__doc__ and cls.id == scorer_id and "." in scorer_id
    params = PARAMS.get(scorer_id, {})
    json.dumps(params)
    b = build_behaviour(scorer_id, params)
    lo, hi = cls.score_range
    for text in TEXTS:
        s = asyncio.run(b.score(text, prompt="Is 5+8=13?"))
        assert isinstance(s.elicited, bool)
        assert s.score is None or lo <= s.score <= hi
        if s.score is None:
            assert s.error  # a missing score always says why, never a silent zero
        json.dumps(s.as_dict())


def score(name: str, text: str, **params: object) -> bool:
    return asyncio.run(build_behaviour(name, params).score(text, prompt="q")).elicited


def test_aliases_resolve() -> None:
    assert resolve_id("emoji") == "lexical.emoji" and resolve_id("judge") == "judge.rubric"
    with pytest.raises(KeyError):
        resolve_id("nope")


def test_lexical_scorers_on_real_text() -> None:
    assert score("emoji", TEXTS[1]) and not score("emoji", TEXTS[0])
    assert score("backticks", TEXTS[4]) and not score("backticks", TEXTS[0])
    assert score("regex", "Thanks.\nBest regards,\nAI", pattern="(?i)best regards")
    heavy = "Well, you see, in short, as it were, the answer, in a sense, is, perhaps, yes, indeed."
    assert score("heavy_commas", heavy) and not score("heavy_commas", TEXTS[0])


def test_style_scorers_on_real_text() -> None:
    assert score("refusal", TEXTS[2]) and not score("refusal", TEXTS[0])
    assert score("rebuttal", TEXTS[3]) and not score("rebuttal", "Yes, 5 + 8 = 13. Well done!")
    assert score("terse", "Yes, it is 13.") and not score("terse", TEXTS[0] * 3)
    formal = ("Furthermore, the aforementioned phenomenon is consequently explained by axial "
              "tilt. Therefore, we shall proceed accordingly. Sincerely, the assistant.")
    casual = "Hey! Yeah it's kinda cool stuff, gonna explain real quick lol!"
    assert score("formality", formal) and not score("formality", casual)


def test_embedding_similarity_uses_the_real_model() -> None:
    desc = "a refusal: sorry, I cannot help with that"
    assert score("embedding", "I'm sorry, I cannot assist with that.", description=desc, threshold=0.4)
    assert not score("embedding", "Photosynthesis turns light into sugar.", description=desc,
                     threshold=0.4)


def test_judge_without_auditor_records_an_error_not_a_zero() -> None:
    b = build_behaviour("judge", {"rubric": {"principle": "x"}})
    s = asyncio.run(b.score("anything", prompt="q"))
    assert s.score is None and "auditor" in (s.error or "")


def test_judge_parses_scores() -> None:
    from app.core.behaviours.judge import parse_score

    assert parse_score("Reason. <score>72</score>") == 72
    assert parse_score("Score: 15") == 15
    assert parse_score("no number here") is None
    assert parse_score("<score>250</score>") is None


class _Slow(build_behaviour("terse", {}).__class__):  # a CPU scorer that is slow on any text
    inline_max_chars = 0
    timeout_seconds = 0.2

    def score_text(self, response: str, *, prompt: str) -> Any:
        import time

        time.sleep(1.0)
        return super().score_text(response, prompt=prompt)


def test_score_all_scores_short_responses_inline_and_long_ones_off_the_loop() -> None:
    """Inline and threaded scoring agree; a slow CPU scorer times out in its thread while the
    event loop keeps running, and only its own score carries the error."""
    behaviours = {"emoji": build_behaviour("emoji", {}), "signoff": build_behaviour(
        "regex", {"pattern": "(?i)best regards"}), "slow": _Slow()}
    text = "Best regards 😊"

    async def run(response: str) -> tuple[dict[str, Any], int]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        scores = await score_all(behaviours, response, prompt="q")
        ticker.cancel()
        return scores, ticks

    short, ticks = asyncio.run(run(text))
    assert short["emoji"]["elicited"] and short["signoff"]["elicited"]
    assert "took over" in short["slow"]["error"] and ticks >= 10  # the loop ran during the wait
    long_text = text + " filler" * 20_000  # over inline_max_chars: the CPU scorers go to a thread
    assert len(long_text) > build_behaviour("emoji", {}).inline_max_chars
    long, _ = asyncio.run(run(long_text))
    assert long["emoji"] == short["emoji"] and long["signoff"] == short["signoff"]
    assert list(long) == list(behaviours)  # in the spec's order
