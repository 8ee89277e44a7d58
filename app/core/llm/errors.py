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


def network_error(exc: BaseException) -> str:
    """What the network said, for a person: httpx's error type and the operating system's own
    words where the chain holds them ("ConnectError: [Errno 111] Connect call failed
    ('127.0.0.1', 9)"), not only httpcore's summary ("All connection attempts failed")."""
    root: BaseException | None = exc
    words = str(exc) or type(exc).__name__
    while root is not None:
        if isinstance(root, OSError) and root.errno is not None:
            words = str(root)
            break
        root = root.__cause__ or root.__context__
    return f"{type(exc).__name__}: {words}"
