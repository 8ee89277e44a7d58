"""JSONL parsing with line numbers, and lexical prompt attributes on real text."""

from __future__ import annotations

import json

from app.core.turf.attributes import attributes, language
from app.core.turf.rows import BadLine, Row, parse_lines


def test_both_row_shapes_and_bad_lines_with_numbers() -> None:
    lines = [
        json.dumps({"messages": [{"role": "system", "content": "Be brief."},
                                 {"role": "user", "content": "Hi?"},
                                 {"role": "assistant", "content": "Hello."}], "source": "chat"}),
        "",
        json.dumps({"prompt": "2+2?", "response": "4", "id": 7}),
        "{not json",
        json.dumps({"messages": [{"role": "user", "content": "no answer"}]}),
        json.dumps({"messages": [{"role": "wizard", "content": "x"}]}),
        json.dumps({"prompt": "only a prompt"}),
        json.dumps(["a", "list"]),
    ]
    out = list(parse_lines(lines))
    assert out[0] == Row(None, "chat", "Be brief.", "Hi?", "Hello.")
    assert out[1] == Row("7", None, None, "2+2?", "4")
    bad = [o for o in out if isinstance(o, BadLine)]
    assert [b.line for b in bad] == [4, 5, 6, 7, 8]
    assert "invalid JSON" in bad[0].error
    assert "assistant turn" in bad[1].error
    assert "messages[0].role" in bad[2].error
    assert "prompt" in bad[3].error and "object" in bad[4].error


def test_lexical_attributes() -> None:
    def attrs(prompt: str, system: str | None = None) -> set[str]:
        return set(attributes(Row(None, None, system, prompt, "")))

    assert {"tag_format", "question_mark", "lang=en"} <= attrs("<query>What is the time?</query>")
    assert "metadata_line" in attrs("[Location: Oslo | Local time: 09:12]\nWhat is a star?")
    assert "latex" in attrs(r"Solve $x^2 = 4$ using \frac{a}{b}.")
    assert "code" in attrs("Fix this:\n```python\nprint(1)\n```")
    assert "list_structure" in attrs("Compare:\n1. apples\n2. pears")
    assert "system_prompt" in attrs("hello", system="You are an AI model.")
    assert "length=short" in attrs("Hi") and "length=long" in attrs("word " * 80)
    assert language("Pourquoi le ciel est-il bleu ? C'est une question pour les enfants.") == "fr"
    assert language("Warum ist der Himmel blau und nicht grün?") == "de"
