"""The HTTP transport that sends each request to the address its egress check approved."""

from __future__ import annotations

import time

import httpx

from app.core.egress import EgressPolicy, IPAddress

MAX_PINNED_URLS = 256


class PinnedTransport(httpx.AsyncBaseTransport):
    """Checks each request's host against the policy and connects to the checked address.

    The request goes to the IP itself, with the original Host header and TLS server name, so a
    DNS answer that changes after the check is never used. Checks are cached for `ttl` seconds."""

    def __init__(self, policy: EgressPolicy, *, field: str = "url", ttl: float = 30.0,
                 inner: httpx.AsyncBaseTransport | None = None,
                 cache: dict[tuple[str, str, int], tuple[float, IPAddress]] | None = None,
                 **transport_kwargs: object) -> None:
        """`cache` may be shared by several transports to one host (a client's lanes)."""
        self.policy = policy
        self.field = field
        self.ttl = ttl
        self._inner = inner or httpx.AsyncHTTPTransport(**transport_kwargs)  # type: ignore[arg-type]
        self._cache = {} if cache is None else cache
        # each URL's pinned form, per check: rebuilding an httpx.URL re-parses it, and a
        # sampling lane posts to one URL thousands of times
        self._pinned: dict[str, tuple[tuple[float, IPAddress], httpx.URL, str]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        key = (url.scheme, url.host, url.port or 0)
        hit = self._cache.get(key)
        if hit is None or time.monotonic() - hit[0] > self.ttl:
            ip = await self.policy.acheck_url(str(url), field=self.field)
            self._cache[key] = hit = (time.monotonic(), ip)
        text = str(url)
        pinned = self._pinned.get(text)
        if pinned is None or pinned[0] is not hit:
            if len(self._pinned) >= MAX_PINNED_URLS:
                self._pinned.clear()
            pinned = (hit, url.copy_with(host=str(hit[1])), url.netloc.decode("ascii"))
            self._pinned[text] = pinned
        request.url = pinned[1]
        request.headers["Host"] = pinned[2]
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": url.host}
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
