"""Chat clients: one async interface for targets and auditor models."""

from app.core.llm import local_engines, local_models  # noqa: E402  (light: heavy imports are lazy)
from app.core.llm.base import Budget, ChatClient, ChatResponse, Usage
from app.core.llm.errors import BudgetExceeded, LLMError
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
