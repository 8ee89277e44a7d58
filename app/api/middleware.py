"""Request ids, access logs, HTTP metrics and security headers, as pure ASGI middleware."""

from __future__ import annotations

import logging
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import request_id_var

log = logging.getLogger("surfturf.http")
HTTP_REQUESTS = Counter("surfturf_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("surfturf_http_request_seconds", "HTTP latency", ["method", "route"])


# Every HTML page (/ui, reports, the docs) may not be framed; pages that set their own, stricter
# policy (the /ui templates) keep it.
HTML_CSP = b"frame-ancestors 'none'; base-uri 'none'; object-src 'none'; form-action 'self'"
EVERY_RESPONSE = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
HTML_RESPONSE = [(b"content-security-policy", HTML_CSP), (b"x-frame-options", b"DENY")]


def _secure(headers: list[tuple[bytes, bytes]]) -> None:
    """nosniff and a referrer policy on every response; CSP frame-ancestors 'none' and
    X-Frame-Options on every HTML one (a <meta> CSP cannot stop framing)."""
    names = {k.lower() for k, _ in headers}
    ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    extra = EVERY_RESPONSE + (HTML_RESPONSE if ctype.startswith(b"text/html") else [])
    headers.extend((k, v) for k, v in extra if k not in names)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode()[:64]
        rid = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.setdefault("headers", [])
                headers.append((b"x-request-id", rid.encode()))
                _secure(headers)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(scope["method"], path, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], path).observe(elapsed)
            log.info("request", extra={"method": scope["method"], "path": scope["path"],
                                       "status": status, "ms": round(elapsed * 1000, 1)})
            request_id_var.reset(token)
