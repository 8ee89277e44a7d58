"""The sampling client's HTTP/1.1 transport: h11 over asyncio's own transports, no pool.

Each lane of the client sends one request at a time, so a lane needs a connection, not a pool.
httpcore's pool guards its state with anyio locks, events and cancel scopes on every request,
and its default backend enters a cancel scope per read and write: at thousands of short
requests that machinery, not HTTP, was most of the client's CPU (py-spy, 2304 requests on
2 cores), and the client's CPU is what bounds an audit against a fast target. Here a request is
h11's bytes written once, a protocol that buffers what arrives, and one future with one timer
per wait. The request and response are httpx's, and so are the errors."""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import cast

import h11
import httpx

MAX_BUFFER = 1 << 20  # stop reading from the socket until the parser catches up
KEEPALIVE_EXPIRY = 5.0  # httpx's default: an idle connection older than this is not reused


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

    def take(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        if self.paused_reading and self.transport is not None:
            self.paused_reading = False
            self.transport.resume_reading()
        return data


Timeout = type[httpx.ReadTimeout] | type[httpx.WriteTimeout]


def _expire(fut: asyncio.Future[None], error: Timeout, timeout: float, request: httpx.Request) -> None:
    if not fut.done():
        fut.set_exception(error(f"nothing for {timeout} s", request=request))


async def _wait(fut: asyncio.Future[None], timeout: float | None, error: Timeout,
                request: httpx.Request) -> None:
    """Await `fut`, failing with `error` after `timeout` seconds: one timer, no cancel scope."""
    timer = (None if timeout is None
             else asyncio.get_running_loop().call_later(timeout, _expire, fut, error, timeout, request))
    try:
        await fut
    finally:
        if timer is not None:
            timer.cancel()


Origin = tuple[str, str, int]


class _Connection:
    """One HTTP/1.1 connection and its h11 state machine."""

    def __init__(self, origin: Origin, transport: asyncio.Transport, protocol: _Protocol) -> None:
        self.origin = origin
        self.transport = transport
        self.protocol = protocol
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    @classmethod
    async def open(cls, origin: Origin, request: httpx.Request, tls: ssl.SSLContext,
                   timeout: float | None) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        secure = scheme == "https"
        sni = request.extensions.get("sni_hostname") or host
        try:
            async with asyncio.timeout(timeout):
                transport, protocol = await loop.create_connection(
                    _Protocol, host, port, ssl=tls if secure else None,
                    server_hostname=sni if secure else None)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(f"no connection to {host}:{port} in {timeout} s",
                                       request=request) from exc
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, certificate not trusted
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        return cls(origin, transport, protocol)

    def reusable(self, now: float) -> bool:
        """Idle, not expired, and nothing arrived since the last response: bytes or an EOF now
        mean the server closed (or broke) it."""
        p = self.protocol
        return (self.h11.our_state is h11.IDLE and not p.eof and not p.buffer
                and now - self.idle_since < KEEPALIVE_EXPIRY)

    async def exchange(self, request: httpx.Request, timeouts: dict[str, float | None]) -> httpx.Response:
        try:
            body = request.content
        except httpx.RequestNotRead:  # a streamed body
            body = await request.aread()
        try:
            out = self.h11.send(h11.Request(method=request.method, target=request.url.raw_path,
                                            headers=request.headers.raw))
            if body:
                out += self.h11.send(h11.Data(data=body))
            out += self.h11.send(h11.EndOfMessage())
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        await self._write(out, request, timeouts.get("write"))
        head: h11.Response | None = None
        chunks: list[bytes] = []
        read_timeout = timeouts.get("read")
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self._read(request, read_timeout))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("the server closed the connection without a response",
                                                request=request)
            # h11.InformationalResponse (1xx) needs nothing; the final response follows
        assert head is not None
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.idle_since = time.monotonic()
        return httpx.Response(head.status_code, headers=head.headers.raw_items(),
                              stream=httpx.ByteStream(b"".join(chunks)), request=request,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason})

    async def _write(self, data: bytes, request: httpx.Request, timeout: float | None) -> None:
        p = self.protocol
        if self.transport.is_closing():
            raise httpx.WriteError("the connection is closed", request=request)
        self.transport.write(data)
        if p.paused_writing:
            p.drained = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.drained, timeout, httpx.WriteTimeout, request)
            finally:
                p.drained = None
            if p.error is not None:
                raise httpx.WriteError(str(p.error) or type(p.error).__name__, request=request)

    async def _read(self, request: httpx.Request, timeout: float | None) -> bytes:
        """What has arrived, waiting for it if nothing has; b"" at EOF (h11 then decides whether
        the message was complete)."""
        p = self.protocol
        if not p.buffer and not p.eof:
            p.waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(p.waiter, timeout, httpx.ReadTimeout, request)
            finally:
                p.waiter = None
        if p.buffer:
            return p.take()
        if p.error is not None:
            raise httpx.ReadError(str(p.error) or type(p.error).__name__, request=request)
        return b""

    def close(self) -> None:
        self.transport.close()


class LaneTransport(httpx.AsyncBaseTransport):
    """An httpx transport for one lane: a kept-alive HTTP/1.1 connection (TLS with the request's
    `sni_hostname` extension, as PinnedTransport sets it). Requests that overlap get a
    connection each; at most `max_idle` are kept between requests."""

    def __init__(self, *, verify: ssl.SSLContext, max_idle: int = 1) -> None:
        self._tls = verify
        self._max_idle = max_idle
        self._idle: list[_Connection] = []

    def _checkout(self, origin: Origin) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.origin == origin and conn.reusable(now):
                return conn
            conn.close()
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        conn = self._checkout(origin)
        if conn is None:
            conn = await _Connection.open(origin, request, self._tls, timeouts.get("connect"))
        try:
            response = await conn.exchange(request, timeouts)
        except BaseException:
            conn.close()
            raise
        if conn.h11.our_state is h11.IDLE and len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            conn.close()
        return response

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
