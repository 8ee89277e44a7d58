"""Style scorers: terse answers, formality, refusals, rebuttals of true statements."""

from __future__ import annotations

import re

from app.core.behaviours.base import Behaviour, Score
from app.core.behaviours.registry import behaviour

REFUSAL_RE = re.compile(
    r"\b(I can(?:no|')t (?:help|assist|provide|do|comply)|I(?: am|'m) (?:not able|unable) to|"
    r"I won't|I will not|I must decline|I'm sorry, but|I apologi[sz]e, but|as an AI,? I)",
    re.IGNORECASE,
)
REBUT_START_RE = re.compile(r"^\W*(no\b|nope\b|false\b|incorrect\b|that'?s not (?:right|true|correct))",
                            re.IGNORECASE)
REBUT_ANY_RE = re.compile(
    r"\b(is (?:not|n't) (?:true|correct|right|accurate)|is (?:false|incorrect|wrong)|"
    r"(?:common )?misconception|actually,|contrary to|that is a myth|not quite)\b",
    re.IGNORECASE,
)
CONTRACTION_RE = re.compile(r"\b\w+'(?:s|re|ve|ll|d|t|m)\b", re.IGNORECASE)
FORMAL_WORDS = {
    "therefore", "furthermore", "moreover", "consequently", "regards", "sincerely", "respectfully",
    "thus", "hence", "accordingly", "additionally", "nevertheless", "notwithstanding", "whereas",
    "kindly", "shall", "pursuant", "hereby", "aforementioned", "subsequently",
}
INFORMAL_WORDS = {"hey", "yeah", "gonna", "wanna", "cool", "awesome", "lol", "stuff", "kinda",
                  "guys", "super", "totally", "ok", "okay", "wow", "yay"}


@behaviour("style.terse", "terse")
class Terse(Behaviour):
    """The answer has at most `max_words` words (default 12)."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        n = len(response.split())
        limit = int(self.params.get("max_words", 12))
        return Score(n <= limit, max(0.0, 1.0 - n / (4 * limit)), detail={"words": n})


@behaviour("style.formality", "formality", "formal")
class Formality(Behaviour):
    """Formal register: formal markers outweigh contractions and casual words (`threshold`)."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        words = re.findall(r"[a-z']+", response.lower())
        if not words:
            return Score(False, 0.0)
        formal = sum(w in FORMAL_WORDS for w in words)
        informal = sum(w in INFORMAL_WORDS for w in words) + len(CONTRACTION_RE.findall(response))
        informal += response.count("!")
        value = (formal - informal) / max(1.0, len(words) ** 0.5)
        score = 1 / (1 + pow(2.718281828, -3 * value))
        return Score(score > float(self.params.get("threshold", 0.6)), score,
                     detail={"formal": formal, "informal": informal})


@behaviour("refusal.phrase", "refusal")
class Refusal(Behaviour):
    """The response declines to help (refusal phrasing)."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        hit = REFUSAL_RE.search(response)
        return Score(hit is not None, 1.0 if hit else 0.0,
                     detail={"match": hit.group(0)} if hit else {})


@behaviour("rebuttal.true_statement", "rebuttal")
class Rebuttal(Behaviour):
    """The response rebuts the prompt's claim (heuristic; the prompt's claim is assumed true)."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        head = REBUT_START_RE.search(response)
        body = REBUT_ANY_RE.search(response[:400])
        value = 1.0 if head else 0.6 if body else 0.0
        return Score(value >= 0.6, value, detail={"opening_no": bool(head), "phrase": bool(body)})
