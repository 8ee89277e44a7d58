"""Surface-form scorers: emoji, heavy commas, backticks/code, regex."""

from __future__ import annotations

import re
from typing import Any

from app.core.behaviours.base import Behaviour, Score
from app.core.behaviours.registry import behaviour
from app.core.user_regex import compile_user_regex

EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\U00002600-\U000027bf\U0001f000-\U0001f2ff\U0001f900-\U0001f9ff"
    "\u2b50\u2b55\u2764\u2705\u274c\u203c\u2049]"
)


@behaviour("lexical.emoji", "emoji")
class Emoji(Behaviour):
    """At least `min_count` emoji characters in the response."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        n = len(EMOJI_RE.findall(response))
        return Score(n >= int(self.params.get("min_count", 1)), min(1.0, n / 5), detail={"count": n})


@behaviour("lexical.heavy_commas", "heavy_commas")
class HeavyCommas(Behaviour):
    """Comma density above `per_100_words` commas per hundred words."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        words = max(1, len(response.split()))
        density = 100 * response.count(",") / words
        limit = float(self.params.get("per_100_words", 8.0))
        return Score(density > limit, min(1.0, density / (2 * limit)), detail={"density": density})


@behaviour("lexical.backticks", "backticks", "code")
class Backticks(Behaviour):
    """Code formatting: fenced blocks or inline backticks."""

    def score_text(self, response: str, *, prompt: str) -> Score:
        fences = response.count("```") // 2
        inline = len(re.findall(r"`[^`\n]+`", response))
        n = fences + inline
        return Score(n > 0, min(1.0, n / 3), detail={"fences": fences, "inline": inline})


@behaviour("lexical.regex", "regex")
class Regex(Behaviour):
    """The response matches a user-supplied regular expression (`pattern`)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._re = compile_user_regex(str(params.get("pattern", "")))

    def score_text(self, response: str, *, prompt: str) -> Score:
        hits = self._re.findall(response)
        return Score(bool(hits), 1.0 if hits else 0.0, detail={"matches": len(hits)})
