"""A sampling lane's transport (httpcore's connection, pinned to the checked address, or httpx's through the
operator's proxy) against real loopback servers: keep-alive, a server that closes idle
connections, large and chunked bodies, timeouts, refusals, TLS with the name sent as SNI to a
pinned address, and a loopback proxy (CONNECT for https, forwarding for http) that the egress
policy applies to."""

from __future__ import annotations

import asyncio
import datetime
import functools
import gzip
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.core.egress import EgressDenied, EgressPolicy
from app.core.egress_transport import egress_transport, proxy_for
from app.serving import free_port
from tests.loopback_proxy import proxy

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# the CLI samples on asyncio's loop, `surfturf serve`'s embedded worker on uvicorn's uvloop
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
current_loop = ["asyncio"]


@pytest.fixture(autouse=True, params=list(LOOPS))
def event_loop_kind(request: pytest.FixtureRequest) -> None:
    current_loop[0] = request.param


def sync(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """A test body on a fresh loop of each kind (fixtures still reach it through the signature)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        with asyncio.Runner(loop_factory=LOOPS[current_loop[0]]) as runner:
            runner.run(fn(*args, **kwargs))
    return wrapper


async def read_request(reader: asyncio.StreamReader) -> dict[str, str] | None:
    """Headers of one HTTP/1.1 request (lower-cased), its body consumed; None at EOF."""
    head = await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b""
    if not head:
        return None
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
    await reader.readexactly(int(headers.get("content-length", "0")))
    headers[":path"] = lines[0].split()[1]
    return headers


def reply(body: bytes, *, close: bool = False) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
            + str(len(body)).encode() + (b"\r\nconnection: close" if close else b"") + b"\r\n\r\n" + body)


@asynccontextmanager
async def server(handler: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
                 ) -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback server; yields (port, connections accepted so far)."""
    accepted: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(on_connect, host, free_port(), ssl=tls)
    async with srv:
        yield srv.sockets[0].getsockname()[1], accepted


async def post(transport: httpx.AsyncBaseTransport, url: str, timeout: float = 5.0) -> httpx.Response:
    request = httpx.Request("POST", url, json={"q": 1},
                            extensions={"timeout": httpx.Timeout(timeout).as_dict()})
    r = await transport.handle_async_request(request)
    await r.aread()
    await r.aclose()
    return r


def plain() -> httpx.AsyncBaseTransport:
    """A lane as the client builds it, the egress check included."""
    return egress_transport(EgressPolicy.parse("loopback"), field="base_url",
                            verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))


@sync
async def test_keep_alive_reuses_one_connection() -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            writer.write(reply(b'{"path": "%s"}' % req[":path"].encode()))

    async with server(echo) as (port, accepted):
        t = plain()
        bodies = [(await post(t, f"http://127.0.0.1:{port}/v1/x{i}")).json() for i in range(20)]
        await t.aclose()
    assert bodies == [{"path": f"/v1/x{i}"} for i in range(20)]
    assert len(accepted) == 1  # one kept-alive connection


@sync
async def test_a_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def one_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await read_request(reader) is not None:
            writer.write(reply(b"{}"))
            await writer.drain()
        # no "connection: close": the client learns of it only from the EOF while idle

    async with server(one_then_close) as (port, accepted):
        t = plain()
        for _ in range(3):
            assert (await post(t, f"http://127.0.0.1:{port}/")).status_code == 200
            await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        await t.aclose()
    assert len(accepted) == 3


@sync
async def test_a_body_larger_than_the_read_buffer_arrives_whole() -> None:
    big = b'{"x": "' + b"a" * (3 << 20) + b'"}'

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(reply(big))
            await writer.drain()

    async with server(large) as (port, _):
        t = plain()
        r = await post(t, f"http://127.0.0.1:{port}/")
        r2 = await post(t, f"http://127.0.0.1:{port}/")
        await t.aclose()
    assert r.content == big and r2.content == big


@sync
async def test_chunked_gzip_and_connection_close_responses() -> None:
    """A chunked, gzip-encoded body is joined and decoded (httpx's decoders); a response saying
    `connection: close` is not kept, so the next request opens a new connection."""
    payload = gzip.compress(b'{"ok": "chunked"}')

    async def varied(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n")
            for piece in (payload[:7], payload[7:]):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            writer.write(b"0\r\n\r\n")
            if await read_request(reader) is None:
                return
            writer.write(reply(b'{"ok": "closing"}', close=True))
            await writer.drain()
            return

    async with server(varied) as (port, accepted):
        t = plain()
        got = [(await post(t, f"http://127.0.0.1:{port}/")).json() for _ in range(3)]
        await t.aclose()
    assert got == [{"ok": "chunked"}, {"ok": "closing"}, {"ok": "chunked"}]
    assert len(accepted) == 2


@sync
async def test_a_response_cut_short_and_overlapping_requests() -> None:
    """A body that ends before its content-length is an httpx error, not a short body; two
    requests at once on one lane each get a connection."""
    async def short_then_slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        req = await read_request(reader)
        if req is not None and req[":path"] == "/short":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"cut")
            await writer.drain()
            return
        while req is not None:
            await asyncio.sleep(0.05)
            writer.write(reply(b'{"path": "%s"}' % req[":path"].encode()))
            req = await read_request(reader)

    async with server(short_then_slow) as (port, accepted):
        t = plain()
        with pytest.raises(httpx.RemoteProtocolError):
            await post(t, f"http://127.0.0.1:{port}/short")
        both = await asyncio.gather(post(t, f"http://127.0.0.1:{port}/a"),
                                    post(t, f"http://127.0.0.1:{port}/b"))
        again = await post(t, f"http://127.0.0.1:{port}/c")
        await t.aclose()
    assert [r.json()["path"] for r in (*both, again)] == ["/a", "/b", "/c"]
    assert len(accepted) == 3  # the cut one, then one each for the overlapping pair, one kept


@sync
async def test_timeouts_and_refusals_are_httpx_errors() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(2)

    async with server(silent) as (port, _):
        t = plain()
        with pytest.raises(httpx.ReadTimeout):
            await post(t, f"http://127.0.0.1:{port}/", timeout=0.2)
        await t.aclose()
    t = plain()
    with pytest.raises(httpx.ConnectError):
        await post(t, f"http://127.0.0.1:{free_port()}/")
    await t.aclose()


def self_signed(tmp: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting only this certificate) for `name`."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    return server_ctx, client_ctx


@sync
async def test_tls_to_a_pinned_address_verifies_the_host_name(tmp_path: Path) -> None:
    """The egress-pinned path: connect to the checked IP, send the name as SNI and Host, and
    verify the certificate against the name (never against the IP)."""
    server_ctx, client_ctx = self_signed(tmp_path, "localhost")
    seen: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: seen.append(name)
    hosts: list[str] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            hosts.append(req["host"])
            writer.write(reply(b'{"ok": true}'))

    # "localhost" (both loopback addresses served) is the one name that resolves here
    async with server(echo, tls=server_ctx, host="localhost") as (port, accepted):
        t = egress_transport(EgressPolicy.parse("loopback"), field="base_url", verify=client_ctx)
        for _ in range(3):
            r = await post(t, f"https://localhost:{port}/v1/chat/completions")
            assert r.json() == {"ok": True}
        await t.aclose()
        untrusted = egress_transport(None, field="base_url", verify=ssl.create_default_context())
        with pytest.raises(httpx.ConnectError):
            await post(untrusted, f"https://127.0.0.1:{port}/")
        await untrusted.aclose()
    assert seen[0] == "localhost" and hosts == [f"localhost:{port}"] * 3
    assert len(accepted) == 1  # three requests on one TLS connection (the refused one never completed)


@sync
async def test_through_a_proxy_by_name_with_the_policy_applied_to_the_proxy(tmp_path: Path) -> None:
    """https: a CONNECT tunnel to the target's name (the proxy resolves it), TLS verified against
    that name end to end; http: forwarded. The egress check is on the proxy's address."""
    server_ctx, client_ctx = self_signed(tmp_path, "localhost")

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            writer.write(reply(b'{"path": "%s"}' % req[":path"].encode()))

    async with proxy() as (proxy_url, seen), server(echo) as (plain_port, _), \
            server(echo, tls=server_ctx, host="localhost") as (tls_port, _):
        t = egress_transport(EgressPolicy.parse("loopback"), field="base_url", verify=client_ctx,
                             proxy=proxy_url)
        for _ in range(2):
            assert (await post(t, f"https://localhost:{tls_port}/v1/a")).json() == {"path": "/v1/a"}
        assert (await post(t, f"http://localhost:{plain_port}/v1/b")).json()["path"].endswith("/v1/b")
        await t.aclose()
        assert seen == [f"CONNECT localhost:{tls_port} HTTP/1.1",  # one tunnel, kept alive
                        f"POST http://localhost:{plain_port}/v1/b HTTP/1.1"]

        refused = egress_transport(EgressPolicy.parse("public"), field="base_url", proxy=proxy_url)
        with pytest.raises(EgressDenied, match=r"base_url \(its proxy\): host '127.0.0.1' resolves to a lo"):
            await post(refused, f"http://localhost:{plain_port}/")
        # a target named by an address the policy refuses is refused before any connection
        literal = egress_transport(EgressPolicy.parse("loopback"), field="base_url", proxy=proxy_url)
        with pytest.raises(EgressDenied, match="10.1.2.3 is a private address"):
            await post(literal, "http://10.1.2.3:8000/v1/chat/completions")
        assert len(seen) == 2


def test_the_proxy_comes_from_the_environment_unless_no_proxy_covers_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                 "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.example.com/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.corp.example")
    assert proxy_for("https://api.example.com/v1") == "http://proxy.internal:3128"
    assert proxy_for("http://api.example.com/v1") is None  # HTTPS_PROXY is for https only
    assert proxy_for("https://llm.corp.example/v1") is None and proxy_for("https://localhost:8000") is None
    monkeypatch.setenv("ALL_PROXY", "http://all.internal:8080")
    assert proxy_for("http://api.example.com/v1") == "http://all.internal:8080"
