"""SURF's model strings on our command line: `http://HOST:PORT/v1:MODEL` names an
OpenAI-compatible server and its model in one flag; a bare name keeps the configured URL."""

from __future__ import annotations

import re

URL_AND_MODEL = re.compile(r"^(https?://[^/\s]+/[^:\s]*):(\S.*)$")  # the path (/v1) is required
PROVIDERS = ("anthropic", "openrouter", "openai", "vllm", "google", "gemini")
PROTOCOLS = ("openai", "anthropic")  # what a target or the auditor may speak


def join_protocol(protocol: str, model: str) -> str:
    """The inverse of split_protocol: how a command line names this target's model."""
    return f"anthropic:{model}" if protocol == "anthropic" else model


def split_protocol(model: str) -> tuple[str, str]:
    """SURF's `anthropic:MODEL` → ("anthropic", MODEL); any other name → ("openai", name)."""
    head, sep, rest = model.partition(":")
    if sep and head.lower() == "anthropic" and rest.strip():
        return "anthropic", rest.strip()
    return "openai", model


def parse_model(value: str) -> tuple[str | None, str]:
    """(base URL or None, model). Raises ValueError for what surfturf does not speak yet."""
    value = value.strip()
    m = URL_AND_MODEL.match(value)
    if m:
        return m.group(1), m.group(2)
    if value.startswith(("http://", "https://")):
        raise ValueError(f"{value!r}: a server URL needs its model after a colon: "
                         "http://HOST:PORT/v1:MODEL")
    prefix = value.split(":", 1)[0].lower()
    if ":" in value and prefix in PROVIDERS and prefix != "anthropic":
        raise ValueError(f"{value!r}: the {prefix}: prefix is not spoken here; anthropic:MODEL is (the "
                         "Messages API), and any OpenAI-compatible endpoint as http://HOST:PORT/v1:MODEL "
                         "(vLLM, a LiteLLM proxy, Gemini's OpenAI-compatible endpoint)")
    if not value:
        raise ValueError("empty model name")
    return None, value
