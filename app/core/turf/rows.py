"""Post-training rows from JSONL: chat `messages` (Tulu-style) or `prompt`/`response`, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from app.core.text import find_unstorable

MAX_LABEL = 200  # source and id are labels, stored in bounded columns


@dataclass(frozen=True)
class Row:
    ext_id: str | None
    source: str | None
    system: str | None
    prompt: str
    response: str


@dataclass(frozen=True)
class BadLine:
    line: int
    error: str


def parse_row(obj: Any) -> Row:
    """Raises ValueError with a message naming the offending field."""
    if not isinstance(obj, dict):
        raise ValueError("a row must be a JSON object")
    found = find_unstorable(obj, max_depth=8)
    if found:
        raise ValueError(f"{found[0] or 'row'}: {found[1]}")
    source = obj.get("source", obj.get("subset"))
    if source is not None and not isinstance(source, str):
        raise ValueError("source must be a string")
    if source is not None and len(source) > MAX_LABEL:
        raise ValueError(f"source is longer than {MAX_LABEL} characters")
    ext_id = obj.get("id")
    if ext_id is not None and len(str(ext_id)) > MAX_LABEL:
        raise ValueError(f"id is longer than {MAX_LABEL} characters")
    if "messages" in obj:
        msgs = obj["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("messages must be a non-empty list")
        system, user, assistant = None, None, None
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant", "tool"):
                raise ValueError(f"messages[{i}].role must be system|user|assistant|tool")
            if not isinstance(m.get("content"), str):
                raise ValueError(f"messages[{i}].content must be a string")
            if m["role"] == "system" and system is None:
                system = m["content"]
            elif m["role"] == "user":
                user, assistant = m["content"], None
            elif m["role"] == "assistant" and user is not None:
                assistant = m["content"]
        if user is None or assistant is None:
            raise ValueError("messages need a user turn followed by an assistant turn")
        return Row(None if ext_id is None else str(ext_id), source, system, user, assistant)
    if isinstance(obj.get("prompt"), str) and isinstance(obj.get("response"), str):
        system = obj.get("system") if isinstance(obj.get("system"), str) else None
        return Row(None if ext_id is None else str(ext_id), source, system, obj["prompt"], obj["response"])
    raise ValueError("expected `messages`, or string `prompt` and `response`")


def parse_lines(lines: Iterable[bytes | str], start: int = 1) -> Iterator[Row | BadLine]:
    """One item per non-blank line, in order; never holds the file in memory."""
    for n, raw in enumerate(lines, start):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            yield BadLine(n, f"not valid UTF-8 (byte {exc.start})")
            continue
        if not text.strip():
            continue
        try:
            yield parse_row(json.loads(text))
        except json.JSONDecodeError as exc:
            yield BadLine(n, f"invalid JSON: {exc.msg} (column {exc.colno})")
        except RecursionError:
            yield BadLine(n, "JSON nested too deeply")
        except ValueError as exc:
            yield BadLine(n, str(exc))
