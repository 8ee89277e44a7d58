"""SURF's model strings on our command line: `http://HOST:PORT/v1:MODEL` names an
OpenAI-compatible server and its model in one flag; a bare name keeps the configured URL."""

from __future__ import annotations

import re

URL_AND_MODEL = re.compile(r"^(https?://[^/\s]+/[^:\s]*):(\S.*)$")  # the path (/v1) is required
PROVIDERS = ("anthropic", "openrouter", "openai", "vllm", "google", "gemini")


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
    if ":" in value and prefix in PROVIDERS:
        raise ValueError(f"{value!r}: provider prefixes ({prefix}:) are not supported yet; serve the model "
                         "behind an OpenAI-compatible endpoint and give http://HOST:PORT/v1:MODEL")
    if not value:
        raise ValueError("empty model name")
    return None, value
