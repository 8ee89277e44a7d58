"""Lexical prompt attributes: the cheap, exact half of TURF's query features."""

from __future__ import annotations

import re

from app.core.turf.rows import Row

STOPWORDS = {
    "fr": {"le", "la", "les", "des", "est", "une", "pour", "que", "qui", "dans", "pourquoi", "comment"},
    "de": {"der", "die", "das", "und", "ist", "nicht", "ein", "eine", "warum", "wie", "mit"},
    "es": {"el", "los", "las", "es", "una", "por", "qué", "cómo", "para", "con", "del"},
    "en": {"the", "is", "and", "what", "how", "why", "of", "to", "a", "in", "does", "do"},
    "fi": {"on", "ja", "miksi", "miten", "mikä", "se", "ei", "kuin", "tai"},
    "da": {"er", "og", "hvorfor", "hvordan", "det", "en", "ikke", "til", "på"},
}
TAG_RE = re.compile(r"<([a-zA-Z_][\w-]*)>.*?</\1>", re.DOTALL)
METADATA_RE = re.compile(r"^\s*\[[^\]\n]*:[^\]\n]*\]|^\s*\w[\w ]{0,30}:\s.+\|", re.MULTILINE)
LATEX_RE = re.compile(r"\$[^$]+\$|\\(frac|sum|int|sqrt|begin)\b")
CODE_RE = re.compile(r"```|^\s*(def|class|import|#include|function)\b", re.MULTILINE)
LIST_RE = re.compile(r"^\s*(\d+[.)]|[-*•])\s+", re.MULTILINE)


def language(text: str) -> str:
    words = re.findall(r"[a-zà-ÿ]+", text.lower())
    scores = {lang: sum(w in sw for w in words) for lang, sw in STOPWORDS.items()}
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] > 0 else "unknown"


def attributes(row: Row) -> list[str]:
    """Stable attribute strings, e.g. `tag_format`, `lang=fr`, `length=short`."""
    p = row.prompt
    out = [f"lang={language(p)}"]
    words = len(p.split())
    out.append("length=short" if words < 12 else "length=medium" if words < 60 else "length=long")
    for name, rx in (("tag_format", TAG_RE), ("metadata_line", METADATA_RE), ("latex", LATEX_RE),
                     ("code", CODE_RE), ("list_structure", LIST_RE)):
        if rx.search(p):
            out.append(name)
    if row.system:
        out.append("system_prompt")
    if "?" in p:
        out.append("question_mark")
    return out
