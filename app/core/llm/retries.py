"""The call schedule every chat client keeps, whatever protocol it speaks: the budget is reserved
before a call and settled after it, usage is counted, and retryable errors (rate limits, 5xx,
timeouts, lost connections) are retried with jittered exponential backoff, or after the server's
own Retry-After. An SDK's own retries stay off, so a budget or a retry count means one thing."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable

from app.core.llm.base import Budget, ChatResponse, Usage
from app.core.llm.errors import BudgetExceeded, LLMError


class Retrier:
    def __init__(self, usage: Usage, budget: Budget, *, max_retries: int, backoff_base: float,
                 backoff_max: float) -> None:
        self.usage, self.budget = usage, budget
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max

    async def call(self, send: Callable[[], Awaitable[ChatResponse]]) -> ChatResponse:
        await self.budget.reserve()
        self.usage.requests += 1
        for attempt in range(1, self.max_retries + 2):
            started = time.perf_counter()
            try:
                resp = await send()
            except LLMError as err:
                self.usage.count_error(error_kind(err))
                if not err.retryable or attempt > self.max_retries:
                    self.usage.failed += 1
                    raise
                self.usage.retries += 1
                await asyncio.sleep(self.delay(attempt, err.retry_after))
                continue
            elapsed = time.perf_counter() - started
            resp.latency_ms = elapsed * 1000
            resp.attempts = attempt
            self.usage.succeeded += 1
            self.usage.prompt_tokens += resp.prompt_tokens
            self.usage.completion_tokens += resp.completion_tokens
            self.budget.settle(resp.prompt_tokens + resp.completion_tokens)
            return resp
        raise AssertionError("unreachable")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.backoff_max)
        cap = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)


def error_kind(err: LLMError) -> str:
    if isinstance(err, BudgetExceeded):
        return "budget"
    return f"http_{err.status}" if err.status else "transport"
