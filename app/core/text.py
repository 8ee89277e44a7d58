"""Text every database can store: no NUL characters, no lone UTF-16 surrogates."""

from __future__ import annotations

import re
from typing import Any

from app.core.limits import MAX_NESTING

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    m = UNSTORABLE.search(value)
    if m is None:
        return None
    what = "a NUL character" if m.group() == "\x00" else "a lone surrogate (invalid Unicode)"
    return f"contains {what} at position {m.start()}"


Problem = tuple[str, str]  # (dotted path, what is wrong)


def find_unstorable(value: Any, path: str = "", depth: int = 0,
                    max_depth: int = MAX_NESTING) -> Problem | None:
    """The first string (key or value) no database would store, or nesting deeper than
    max_depth; None when all is well."""
    if depth > max_depth:
        return path, f"nested deeper than {max_depth} levels"
    if isinstance(value, str):
        problem = text_problem(value)
        return (path, problem) if problem else None
    if isinstance(value, dict):
        for k, v in value.items():
            sub = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and (problem := text_problem(k)):
                return path, f"a key {problem}"
            found = find_unstorable(v, sub, depth + 1, max_depth)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            found = find_unstorable(v, f"{path}.{i}" if path else str(i), depth + 1, max_depth)
            if found:
                return found
    return None


def fmt_q(q: float | None) -> str:
    """One rule for a q- or p-value wherever it is shown (CLI, HTML report, /ui): two significant
    digits, and below double precision's resolution near 1 just `<1e-16` (smaller values are
    artefacts of the tail approximation, not evidence)."""
    if q is None:
        return "—"
    return "<1e-16" if q < 1e-16 else f"{q:.2g}"
