from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from app.core.egress import EgressPolicy, address_class
from app.core.pinned import PinnedTransport
from app.errors import EgressDenied


@pytest.mark.parametrize(("ip", "cls"), [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.5", "private"), ("169.254.169.254", "link-local"), ("8.8.8.8", "public"),
    ("::ffff:127.0.0.1", "loopback"),
    # D6: unspecified addresses connect to this host, so they are loopback
    ("0.0.0.0", "loopback"), ("::", "loopback"), ("0.1.2.3", "loopback"),
    # D6: IPv6 forms that carry an IPv4 address are judged as that address
    ("64:ff9b::7f00:1", "loopback"),        # NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", "link-local"),   # NAT64 of 169.254.169.254
    ("2002:7f00:1::", "loopback"),          # 6to4 of 127.0.0.1
    ("2002:a00:1::", "private"),            # 6to4 of 10.0.0.1
    ("::127.0.0.1", "loopback"),            # deprecated IPv4-compatible
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),  # Teredo, client 127.0.0.1
    ("100.64.0.1", "private"),              # carrier-grade NAT is not public
    ("2606:4700:4700::1111", "public"),
])
def test_address_classes(ip: str, cls: str) -> None:
    assert address_class(ipaddress.ip_address(ip)) == cls


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8000/v1", "http://localhost/v1", "http://169.254.169.254/",
    "http://0.0.0.0:8000/v1", "http://[::]:8000/v1", "http://[64:ff9b::7f00:1]/v1",
    "http://[2002:7f00:1::]/v1", "http://[::ffff:127.0.0.1]/v1",
])
def test_public_only_policy_blocks_loopback_in_every_spelling(url: str) -> None:
    policy = EgressPolicy.parse("public")
    with pytest.raises(EgressDenied) as err:
        policy.check_url(url, field="url")
    assert err.value.field == "url"


def test_cidr_allows_a_specific_range_and_schemes_are_checked() -> None:
    policy = EgressPolicy.parse("public,127.0.0.0/8")
    policy.check_url("http://127.0.0.1:9/v1")
    with pytest.raises(EgressDenied, match="http"):
        policy.check_url("file:///etc/passwd")
    with pytest.raises(ValueError, match="unknown token"):
        EgressPolicy.parse("public,intranet")


class Recorder(httpx.AsyncBaseTransport):
    """Records where the pinned transport sends a request (no connection is made)."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return httpx.Response(200, json={})


def test_pinned_transport_sends_to_the_checked_address_with_the_original_host() -> None:
    inner = Recorder()
    transport = PinnedTransport(EgressPolicy.parse("loopback"), inner=inner)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://localhost:9/v1/models")

    asyncio.run(go())
    req = inner.seen[0]
    assert ipaddress.ip_address(req.url.host).is_loopback  # an address, not a name to re-resolve
    assert req.headers["host"] == "localhost:9"


def test_pinned_transport_refuses_before_sending() -> None:
    inner = Recorder()
    transport = PinnedTransport(EgressPolicy.parse("public"), field="base_url", inner=inner)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://127.0.0.1:9/v1/models")

    with pytest.raises(EgressDenied) as err:
        asyncio.run(go())
    assert err.value.field == "base_url" and inner.seen == []


def test_pinned_urls_are_reused_per_url_and_rechecked_after_the_ttl() -> None:
    """Each URL keeps its own path and query when pinned; once the check expires (ttl 0 here),
    the policy is asked again, so a tightened policy refuses the same URL it just allowed."""
    inner = Recorder()
    transport = PinnedTransport(EgressPolicy.parse("loopback"), inner=inner, ttl=0.0)

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            for path in ("/v1/a?x=1", "/v1/b", "/v1/a?x=1"):
                await client.get(f"http://localhost:9{path}")
            transport.policy = EgressPolicy.parse("public")
            await client.get("http://localhost:9/v1/a?x=1")

    with pytest.raises(EgressDenied):
        asyncio.run(go())
    assert [(r.url.raw_path, r.headers["host"]) for r in inner.seen] == [
        (b"/v1/a?x=1", "localhost:9"), (b"/v1/b", "localhost:9"), (b"/v1/a?x=1", "localhost:9")]
    assert all(ipaddress.ip_address(r.url.host).is_loopback for r in inner.seen)
