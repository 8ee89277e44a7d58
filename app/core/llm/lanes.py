"""A sampling lane's HTTP: httpcore's own connection (HTTP/1.1 through h11, keep-alive, TLS with
the request's `sni_hostname`), without a pool, on asyncio's streams.

A lane sends one request at a time, so it needs a connection, not a pool: httpx's pool and
httpcore's anyio backend (a cancel scope per read and write) cost the client's CPU per request
that an audit against a fast target is bound by (what it buys: `bench/README.md`). Here
httpcore speaks HTTP; this module only moves bytes (connect, read, write, TLS) with asyncio's
streams and one timer per wait, and maps httpcore's errors to httpx's, which the clients catch."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import httpcore
import httpx

KEEPALIVE_EXPIRY = 5.0  # httpx's default: an idle connection older than this is not reused


class _Stream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(f"nothing for {timeout} s") from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(f"could not send for {timeout} s") from exc
        except OSError as exc:
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no TLS handshake in {timeout} s") from exc
        except (OSError, ssl.SSLError) as exc:  # a certificate not trusted, a reset
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # what httpcore asks of an idle connection: did the server close it?
            return self._reader.at_eof() or self._writer.is_closing()
        return self._writer.get_extra_info(info)


class _Backend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None, socket_options: Any = None
                          ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"no connection to {host}:{port} in {timeout} s") from exc
        except OSError as exc:  # refused, unreachable
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return _Stream(reader, writer)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.UnsupportedProtocol("a lane speaks TCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


BACKEND = _Backend()


class LaneTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over httpcore connections of this lane's own: a kept-alive one
    is reused; requests that overlap (a caller sharing the lane) each get one."""

    def __init__(self, *, verify: ssl.SSLContext) -> None:
        self._tls = verify
        self._connections: list[httpcore.AsyncHTTPConnection] = []

    async def _connection(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        found = None
        for c in list(self._connections):
            if c.is_closed() or c.has_expired():
                self._connections.remove(c)
                await c.aclose()
            elif found is None and c.is_idle() and c.can_handle_request(origin):
                found = c
        if found is None:
            found = httpcore.AsyncHTTPConnection(origin, ssl_context=self._tls,
                                                 keepalive_expiry=KEEPALIVE_EXPIRY, network_backend=BACKEND)
            self._connections.append(found)
        return found

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        conn = await self._connection(httpcore.Origin(url.raw_scheme, url.raw_host, port))
        target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=port, target=url.raw_path)
        core = httpcore.Request(request.method, target, headers=request.headers.raw, content=request.stream,
                                extensions=request.extensions)
        try:
            response = await conn.handle_async_request(core)
            try:
                body = await response.aread()
            finally:
                await response.aclose()
        except httpcore.UnsupportedProtocol as exc:
            raise httpx.UnsupportedProtocol(str(exc), request=request) from exc
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise getattr(httpx, type(exc).__name__, httpx.TransportError)(str(exc), request=request) from exc
        return httpx.Response(response.status, headers=response.headers, content=body, request=request,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        while self._connections:
            await self._connections.pop().aclose()
