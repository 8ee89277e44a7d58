"""Contract test over every registered scorer, then each scorer on real text."""

from __future__ import annotations

import asyncio
import json

import pytest

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
