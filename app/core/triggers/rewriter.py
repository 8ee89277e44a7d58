"""Auditor-model rewrites with a persistent cache, so a rerun sends the target identical prompts."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

from app.core.llm.base import ChatClient


class CachedRewriter:
    """Rewrites at temperature 0; results keyed by (model, instruction, text) in a JSONL file."""

    def __init__(self, client: ChatClient, cache_path: Path | None) -> None:
        self.client = client
        self.cache_path = cache_path
        self._cache: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        if cache_path and cache_path.exists():
            for line in cache_path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                    self._cache[row["key"]] = row["text"]
                except (ValueError, KeyError):
                    continue  # a torn last line from a crash is harmless

    def _key(self, instruction: str, text: str) -> str:
        raw = json.dumps([self.client.model, instruction, text])
        return hashlib.sha256(raw.encode()).hexdigest()

    async def rewrite(self, instruction: str, text: str) -> str:
        key = self._key(instruction, text)
        if key in self._cache:
            return self._cache[key]
        async with self._locks.setdefault(key, asyncio.Lock()):
            if key in self._cache:
                return self._cache[key]
            resp = await self.client.chat(
                [{"role": "system", "content": "You rewrite messages exactly as instructed."},
                 {"role": "user", "content": f"{instruction}\n\nMessage:\n{text}"}],
                temperature=0.0, max_tokens=512, seed=0,
            )
            out = resp.text.strip()
            if not out:
                raise RuntimeError("auditor model returned an empty rewrite")
            self._cache[key] = out
            if self.cache_path:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with self.cache_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps({"key": key, "instruction": instruction, "source": text,
                                         "text": out}) + "\n")
            return out
