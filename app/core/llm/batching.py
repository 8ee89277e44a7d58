"""Turn concurrent chat calls into batched generate calls for in-process engines."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.llm.base import ChatResponse, Message, Usage
from app.core.llm.errors import LLMError

# A batch: list of (messages, params) → list of Generated
Generated = tuple[str, int, int, str]  # text, prompt_tokens, completion_tokens, finish_reason
GenerateFn = Callable[[list[tuple[list[Message], dict[str, Any]]]], list[Generated]]


@dataclass
class _Pending:
    messages: list[Message]
    params: dict[str, Any]
    future: asyncio.Future[Generated]


class BatchingChatClient:
    """Collects requests for up to `window` seconds (or `max_batch`) and runs them together in a
    worker thread, so concurrency turns into batch size, which is where CPU/GPU throughput is."""

    def __init__(self, model: str, generate: GenerateFn, *, max_batch: int = 32,
                 window: float = 0.01, on_close: Callable[[], None] | None = None) -> None:
        self.model = model
        self.usage = Usage()
        self._generate = generate
        self._max_batch = max_batch
        self._window = window
        self._queue: asyncio.Queue[_Pending] | None = None
        self._runner: asyncio.Task[None] | None = None
        self._loop_of: asyncio.AbstractEventLoop | None = None
        self._on_close = on_close

    async def chat(self, messages: list[Message], **params: Any) -> ChatResponse:
        if params.get("model") not in (None, self.model):
            raise LLMError(f"model {params['model']!r}: this in-process engine serves {self.model!r} only")
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop_of is not loop:  # engines outlive event loops
            self._loop_of = loop
            self._queue = asyncio.Queue()
            self._runner = asyncio.create_task(self._loop())
        fut: asyncio.Future[Generated] = loop.create_future()
        self.usage.requests += 1
        await self._queue.put(_Pending(messages, params, fut))
        text, p_tok, c_tok, finish = await fut
        self.usage.succeeded += 1
        self.usage.prompt_tokens += p_tok
        self.usage.completion_tokens += c_tok
        return ChatResponse(text=text, finish_reason=finish, prompt_tokens=p_tok,
                            completion_tokens=c_tok, model=self.model)

    async def _loop(self) -> None:
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            deadline = asyncio.get_running_loop().time() + self._window
            while len(batch) < self._max_batch:
                timeout = deadline - asyncio.get_running_loop().time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), timeout))
                except TimeoutError:
                    break
            try:
                outs = await asyncio.to_thread(self._generate, [(p.messages, p.params) for p in batch])
            except Exception as exc:  # the engine failed: every caller in the batch hears why
                self.usage.failed += len(batch)
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            for p, out in zip(batch, outs, strict=True):
                if not p.future.done():
                    p.future.set_result(out)

    async def aclose(self) -> None:
        if self._runner is not None:
            self._runner.cancel()

    def shutdown(self) -> None:
        """Release the engine itself (processes, memory); the client is unusable afterwards."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None
