"""Anthropic's Messages API (POST /v1/messages) on the servers surfturf runs itself, beside the
OpenAI protocol: the same `Respond` answers both, so an organism or a local model can stand in
for a Messages-API target in tests and demos. Non-streaming text only; a parameter it cannot
honour is a 400 naming it, in Anthropic's error shape."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

PATH = "/v1/messages"


class TextBlock(BaseModel):
    model_config = ConfigDict(extra="allow")  # cache_control and the like: carried, not interpreted
    type: Literal["text"]
    text: str


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"]
    content: str | list[TextBlock]

    def text(self) -> str:
        return self.content if isinstance(self.content, str) else "".join(b.text for b in self.content)


class MessagesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    messages: list[Turn] = Field(min_length=1)
    max_tokens: int = Field(ge=1, le=32_768)
    system: str | list[TextBlock] | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    top_k: int | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=4)
    stream: bool = False
    metadata: dict[str, Any] | None = None

    def chat_messages(self) -> list[dict[str, str]]:
        system = self.system if isinstance(self.system, str) else "".join(b.text for b in self.system or [])
        out = [{"role": "system", "content": system}] if system else []
        return out + [{"role": t.role, "content": t.text()} for t in self.messages]


def error(status: int, message: str, type_: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"type": "error", "error": {"type": type_, "message": message}}, status_code=status)


def add_messages_route(app: FastAPI, model: str, respond: Any) -> None:
    from app.openai_server import EngineError, Sampling, cut_at_stop

    @app.post(PATH, response_model=None)
    async def messages(body: MessagesBody) -> dict[str, Any] | JSONResponse:
        app.state.requests += 1
        if body.model != model:
            return error(404, f"model: {body.model} (this server serves {model})", "not_found_error")
        if body.stream:
            return error(400, "stream: streaming is not served here")
        if body.top_k is not None:
            return error(400, "top_k: not supported by this backend")
        stops = tuple(s for s in body.stop_sequences or [] if s)
        sampling = Sampling(temperature=body.temperature, top_p=body.top_p, max_tokens=body.max_tokens,
                            stop=stops)
        try:
            raw = await respond(body.chat_messages(), sampling)
        except EngineError as exc:
            return error(500, str(exc), "api_error")
        reply = cut_at_stop(raw, stops)
        hit = next((s for s in stops if reply.text != raw.text and raw.text[len(reply.text):].startswith(s)),
                   None)
        reason = "stop_sequence" if hit else "max_tokens" if reply.finish_reason == "length" else "end_turn"
        return {"id": f"msg_{uuid.uuid4().hex[:24]}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": reply.text}], "stop_reason": reason,
                "stop_sequence": hit,
                "usage": {"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens}}
