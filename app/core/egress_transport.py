"""The HTTP transport for a URL someone supplied (a target, an auditor): httpcore underneath
(a lane's own connection, or httpx's pool), sent to the address the egress policy approved, or
through the operator's proxy.

Through a proxy the policy applies to the proxy: it must be an address the policy allows, and a
plain-http proxy is connected to at the address that was checked. The target's host is then the
proxy's to resolve; a target named by a literal address the policy refuses is still refused."""

from __future__ import annotations

import ipaddress
import ssl
import urllib.request
from urllib.parse import urlsplit

import httpx

from app.core.egress import EgressDenied, EgressPolicy, IPAddress, address_class
from app.core.llm.lanes import KEEPALIVE_EXPIRY, LaneTransport
from app.core.pinned import PinnedTransport

# Through a proxy a lane is httpx's transport: one kept-alive connection is all it reuses.
LANE_LIMITS = httpx.Limits(max_connections=None, max_keepalive_connections=1,
                           keepalive_expiry=KEEPALIVE_EXPIRY)


def proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, in
    either case), unless NO_PROXY covers its host: the standard library's reading of them."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # no stub; in the stdlib
    if not parts.hostname or bypass(parts.hostname, proxies):
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


class ProxiedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: EgressPolicy, proxy: str, *, field: str, verify: ssl.SSLContext,
                 limits: httpx.Limits) -> None:
        self.policy, self.proxy, self.field = policy, proxy, field
        self._verify, self._limits = verify, limits
        self._inner: httpx.AsyncHTTPTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        literal = _literal_ip(request.url.host)
        if literal is not None and not self.policy.allows_ip(literal):
            raise EgressDenied(f"{self.field}: {request.url.host} is a {address_class(literal)} address the "
                               "egress policy does not allow", field=self.field)
        if self._inner is None:  # once per client: the proxy is the operator's, not the caller's
            ip = await self.policy.acheck_url(self.proxy, field=f"{self.field} (its proxy)")
            url = httpx.URL(self.proxy)
            pinned = url.copy_with(host=str(ip)) if url.scheme == "http" else url
            self._inner = httpx.AsyncHTTPTransport(verify=self._verify, limits=self._limits,
                                                   proxy=httpx.Proxy(pinned))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        if self._inner is not None:
            await self._inner.aclose()


def egress_transport(policy: EgressPolicy | None, *, field: str, verify: ssl.SSLContext | None = None,
                     proxy: str | None = None, limits: httpx.Limits | None = None,
                     cache: dict[tuple[str, str, int], tuple[float, IPAddress]] | None = None,
                     ) -> httpx.AsyncBaseTransport:
    """A sampling lane's transport (app/core/llm/lanes.py), or with `limits` a pool of them (an
    SDK's client). `proxy`: the operator's (proxy_for, when SURFTURF_TARGET_PROXY allows it), which
    httpx's own transport speaks. `cache`: the egress checks, shared by one client's lanes."""
    tls = verify if verify is not None else httpx.create_ssl_context()
    if proxy is not None:
        pool = limits or LANE_LIMITS
        if policy is None:
            return httpx.AsyncHTTPTransport(verify=tls, limits=pool, proxy=httpx.Proxy(proxy))
        return ProxiedTransport(policy, proxy, field=field, verify=tls, limits=pool)
    inner: httpx.AsyncBaseTransport = (LaneTransport(verify=tls) if limits is None
                                       else httpx.AsyncHTTPTransport(verify=tls, limits=limits))
    return inner if policy is None else PinnedTransport(policy, field=field, cache=cache, inner=inner)


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
