"""A loopback HTTP proxy for tests: CONNECT tunnels (https) and absolute-form forwarding (http),
recording the request line of everything it was asked to carry."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx

from app.serving import free_port


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def _handler(seen: list[str], live: set[asyncio.Task[None]],
             ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            live.add(task)
            task.add_done_callback(live.discard)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        line = head.split(b"\r\n", 1)[0].decode()
        seen.append(line)
        method, target, _ = line.split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_r, up_w = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = httpx.URL(target)
            up_r, up_w = await asyncio.open_connection(url.host, url.port)
            up_w.write(head)  # the origin server takes the absolute-form request line as it is
        await asyncio.gather(_relay(reader, up_w), _relay(up_r, writer))

    return handle


@asynccontextmanager
async def proxy() -> AsyncIterator[tuple[str, list[str]]]:
    """On the running loop: (its URL, request lines seen)."""
    seen: list[str] = []
    live: set[asyncio.Task[None]] = set()
    srv = await asyncio.start_server(_handler(seen, live), "127.0.0.1", free_port())
    async with srv:
        try:
            yield f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", seen
        finally:  # tunnels still open end here, not when their loop is gone
            for task in list(live):
                task.cancel()
            await asyncio.gather(*live, return_exceptions=True)


@contextmanager
def proxy_in_thread() -> Iterator[tuple[str, list[str]]]:
    """On a loop of its own, for code under test that runs its own (the CLI)."""
    loop = asyncio.new_event_loop()
    ready: list[tuple[str, list[str]]] = []
    stop = asyncio.Event()

    async def serve() -> None:
        async with proxy() as running:
            ready.append(running)
            await stop.wait()

    t = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    t.start()
    while not ready:
        threading.Event().wait(0.01)
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        t.join(5)
