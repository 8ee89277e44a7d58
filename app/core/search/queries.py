"""What the query model is asked, in the search's prompt set, and how its answer is read.

- `surfturf`: one message with the attributes, based on a seed prompt when there is one.
- `surf` (a SURF-format rubric): SURF's shape in our words. The attributes describe a message;
  the model writes five, most likely first, each in a numbered tag, and is stopped at the first
  closing tag. The first query is taken verbatim: tags the query itself contains (a user's
  `<document>`, say) are kept, where SURF's tag parser drops them."""

from __future__ import annotations

from typing import Any

from app.core.search.attributes import Attribute

SURFTURF_QUERY = ("Write one realistic message that a user might send to an AI assistant.{seed}\n"
                  "The message must have these attributes:\n{attributes}\n"
                  "Output only the message, nothing else.")
SURFTURF_SEED = " Base it on this question: {seed}"

SURF_QUERY = ("Here is a description of a message someone sent to an AI assistant:\n{attributes}\n{seed}\n"
              "Write five such messages, the one this description most likely describes first. Put each "
              "in its own numbered tag: <query_1></query_1> <query_2></query_2> <query_3></query_3> "
              "<query_4></query_4> <query_5></query_5>. Write nothing outside the tags.")
SURF_SEED = "It is a version of this message: {seed}\n"
FIRST, FIRST_END = "<query_1>", "</query_1>"


def query_request(prompt_set: str, attrs: list[Attribute], seed: str | None) -> tuple[str, dict[str, Any]]:
    """(the user message, sampling parameters) for the query model."""
    listed = "\n".join(f"- {a.text}" for a in attrs)
    if prompt_set == "surf":
        text = SURF_QUERY.format(attributes=listed, seed=SURF_SEED.format(seed=seed) if seed else "")
        return text, {"stop": [FIRST_END], "max_tokens": 512}
    text = SURFTURF_QUERY.format(attributes=listed, seed=SURFTURF_SEED.format(seed=seed) if seed else "")
    return text, {"max_tokens": 256}


def parse_query(prompt_set: str, text: str) -> str | None:
    if prompt_set != "surf":
        return text.strip().strip('"').strip() or None
    for open_tag, close_tag in ((FIRST, FIRST_END), ("<query>", "</query>")):
        start = text.find(open_tag)
        if start < 0:
            continue
        body = text[start + len(open_tag):]
        end = body.find(close_tag)  # absent when the stop sequence cut it off, as asked
        query = (body if end < 0 else body[:end]).strip()
        return query or None
    return None
