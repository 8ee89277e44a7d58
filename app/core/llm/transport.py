"""httpx's HTTP/1.1 over asyncio's own transports, for the sampling client's lanes.

httpcore's default network backend goes through anyio: every read and write enters a cancel
scope (`fail_after`), and every pooled connection's "closed by the server?" check polls the
socket with a syscall. At thousands of short requests that was ~30% of the sampling client's
CPU (py-spy, 9216 requests on 2 cores), and the client's CPU is what bounds an audit against a
fast target. Here a protocol buffers what arrives, reads wait on one future with one timer, and
"is readable" is a flag the event loop already set. HTTP itself stays httpcore's (h11)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable
from typing import Any, cast

import httpcore
import httpx

MAX_BUFFER = 1 << 20  # stop reading from the socket until the parser catches up


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.paused_writing = False
        self.paused_reading = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are no subclass of it

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > MAX_BUFFER and self.transport is not None and not self.paused_reading:
            self.paused_reading = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        self.paused_writing = True

    def resume_writing(self) -> None:
        self.paused_writing = False
        if self.drained is not None and not self.drained.done():
            self.drained.set_result(None)

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _expire(fut: asyncio.Future[None], error: type[Exception], timeout: float) -> None:
    if not fut.done():
        fut.set_exception(error(f"nothing for {timeout} s"))


async def _wait(fut: asyncio.Future[None], timeout: float | None, error: type[Exception]) -> None:
    """Await `fut`, failing with `error` after `timeout` seconds: one timer, no cancel scope."""
    timer = (None if timeout is None
             else asyncio.get_running_loop().call_later(timeout, _expire, fut, error, timeout))
    try:
        await fut
    finally:
        if timer is not None:
            timer.cancel()


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self._transport = transport
        self._protocol = protocol

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        p = self._protocol
        if not p.buffer and not p.eof:
            p.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.waiter, timeout, httpcore.ReadTimeout)
            finally:
                p.waiter = None
        if p.buffer:
            data = bytes(p.buffer[:max_bytes])
            del p.buffer[:max_bytes]
            if p.paused_reading and len(p.buffer) <= MAX_BUFFER // 2:
                p.paused_reading = False
                self._transport.resume_reading()
            return data
        if p.error is not None:
            raise httpcore.ReadError(str(p.error) or type(p.error).__name__)
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        p = self._protocol
        if self._transport.is_closing():
            raise httpcore.WriteError("the connection is closed")
        self._transport.write(buffer)
        if p.paused_writing:
            p.drained = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.drained, timeout, httpcore.WriteTimeout)
            finally:
                p.drained = None
            if p.error is not None:
                raise httpcore.WriteError(str(p.error) or type(p.error).__name__)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(self._transport, self._protocol, ssl_context,
                                           server_hostname=server_hostname)
        except TimeoutError as exc:
            self._transport.close()
            raise httpcore.ConnectTimeout(f"TLS handshake took over {timeout} s") from exc
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        if tls is None:  # the loop is closing
            raise httpcore.ConnectError("TLS handshake interrupted")
        self._protocol.transport = tls
        return AsyncioStream(tls, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # idle, yet data or EOF arrived: the server closed it
            return bool(self._protocol.buffer) or self._protocol.eof
        names = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername",
                 "socket": "socket"}
        return self._transport.get_extra_info(names[info]) if info in names else None


async def _opened(connecting: Awaitable[tuple[Any, _Protocol]], timeout: float | None) -> AsyncioStream:
    """A connection being made, bounded by `timeout`, as a stream; failures as httpcore's."""
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await connecting
    except TimeoutError as exc:
        raise httpcore.ConnectTimeout(f"no connection in {timeout} s") from exc
    except OSError as exc:
        raise httpcore.ConnectError(str(exc)) from exc
    return AsyncioStream(transport, protocol)


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        stream = await _opened(asyncio.get_running_loop().create_connection(
            _Protocol, host, port, local_addr=(local_address, 0) if local_address else None), timeout)
        sock = stream.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return stream

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        return await _opened(asyncio.get_running_loop().create_unix_connection(_Protocol, path), timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class LaneTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (its request/response mapping and error types) over a pool of one
    connection on the asyncio backend above."""

    def __init__(self, *, verify: ssl.SSLContext, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry, network_backend=AsyncioBackend())
