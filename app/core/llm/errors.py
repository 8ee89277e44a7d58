"""Typed errors carrying what the endpoint said."""

from __future__ import annotations


class LLMError(Exception):
    """A chat call failed; `status` is the HTTP status if any, `retryable` drives the retry loop."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class BudgetExceeded(LLMError):
    """The request or token budget is spent; callers stop cleanly instead of failing."""
