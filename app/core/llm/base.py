"""Chat client interface, responses, usage accounting and budgets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.core.llm.errors import BudgetExceeded

Message = dict[str, str]


@dataclass
class ChatResponse:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    attempts: int = 1
    model: str | None = None


@dataclass
class Usage:
    """Running totals for one client, reported in job results and audit reports."""

    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "retries": self.retries,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "errors": dict(self.errors),
        }


class Budget:
    """Caps on requests and total tokens; reserve before sending, settle after."""

    def __init__(self, max_requests: int | None = None, max_tokens: int | None = None) -> None:
        self.max_requests = max_requests
        self.max_tokens = max_tokens
        self.requests = 0
        self.tokens = 0
        self._lock = asyncio.Lock()

    async def reserve(self) -> None:
        async with self._lock:
            if self.max_requests is not None and self.requests >= self.max_requests:
                raise BudgetExceeded(f"request budget of {self.max_requests} spent")
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                raise BudgetExceeded(f"token budget of {self.max_tokens} spent")
            self.requests += 1

    def settle(self, tokens: int) -> None:
        self.tokens += tokens


class ChatClient(Protocol):
    """What SURF and TURF need from any model: a chat call and a close."""

    model: str
    usage: Usage

    async def chat(self, messages: list[Message], **params: Any) -> ChatResponse: ...

    async def aclose(self) -> None: ...
