"""Target resource contract; the API key is write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl, field_validator, model_validator

from app.core.llm.model_ref import split_protocol
from app.schemas.common import Body, ORMModel


class TargetCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    base_url: HttpUrl = Field(description="OpenAI-compatible root, e.g. http://vllm:8000/v1")
    model: str = Field(min_length=1, max_length=500, description="The served model's name; SURF's "
                       "`anthropic:MODEL` sets protocol anthropic.")
    protocol: Literal["openai", "anthropic"] = Field(default="openai", description="openai: "
                                                     "/v1/chat/completions (vLLM, OpenAI, LiteLLM, "
                                                     "Gemini's compatible endpoint…); anthropic: the "
                                                     "Messages API, through the official SDK.")
    api_key: str | None = Field(default=None, description="Write-only; stored encrypted, never returned.")
    api_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an env var on the server holding the key.",
    )
    default_params: dict[str, Any] = Field(default_factory=dict, description="Default sampling params.")
    max_concurrency: int = Field(default=8, ge=1, le=512)

    @model_validator(mode="after")
    def _surf_model_string(self) -> TargetCreate:
        protocol, model = split_protocol(self.model)
        if protocol == "anthropic":
            self.protocol, self.model = "anthropic", model
        return self

    @field_validator("base_url")
    @classmethod
    def _no_credentials(cls, v: HttpUrl) -> HttpUrl:
        if v.username or v.password:
            raise ValueError("put credentials in api_key, not in the URL")
        return v


class TargetRead(ORMModel):
    id: str
    name: str
    base_url: str
    model: str
    protocol: str
    api_key_env: str | None
    has_api_key: bool = Field(description="True when a key (stored or env) is configured.")
    default_params: dict[str, Any]
    max_concurrency: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> TargetRead:
        return cls(
            id=row.id, name=row.name, base_url=row.base_url, model=row.model, protocol=row.protocol,
            api_key_env=row.api_key_env,
            has_api_key=bool(row.api_key_encrypted or row.api_key_env),
            default_params=row.default_params, max_concurrency=row.max_concurrency,
            created_at=row.created_at,
        )


class TargetList(BaseModel):
    items: list[TargetRead]


class TargetCheck(BaseModel):
    ok: bool
    latency_ms: float
    model: str
    response: str | None
    error: str | None
    status: int | None = None
