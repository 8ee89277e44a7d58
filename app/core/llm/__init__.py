"""Chat clients: one async interface for targets and auditor models.

`OpenAIChatClient` (httpx) loads on first use, so the API process starts without an HTTP client."""

from typing import TYPE_CHECKING, Any

from app.core.llm import local_engines, local_models  # noqa: E402  (light: heavy imports are lazy)
from app.core.llm.base import Budget, ChatClient, ChatResponse, Usage
from app.core.llm.errors import BudgetExceeded, LLMError

if TYPE_CHECKING:
    from app.core.llm.openai_client import OpenAIChatClient

__all__ = [
    "local_engines",
    "local_models",
    "Budget",
    "BudgetExceeded",
    "ChatClient",
    "ChatResponse",
    "LLMError",
    "OpenAIChatClient",
    "Usage",
]


def __getattr__(name: str) -> Any:
    if name == "OpenAIChatClient":
        from app.core.llm.openai_client import OpenAIChatClient

        return OpenAIChatClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
