"""Web sessions: an API key is exchanged once for a signed, expiring, HttpOnly SameSite=Strict
cookie naming the key (never the key itself); state-changing forms carry a CSRF token derived
from the cookie, and a POST whose Origin is another origin is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from app.config import Settings

COOKIE = "surfturf_session"
TTL = 8 * 3600


def _sign(settings: Settings, payload: str) -> str:
    return hmac.new(settings.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue(settings: Settings, key_id: str) -> str:
    payload = f"{key_id}.{int(time.time()) + TTL}.{secrets.token_hex(8)}"
    return f"{payload}.{_sign(settings, 'session:' + payload)}"


def key_of(settings: Settings, cookie: str | None) -> str | None:
    """The API key id a valid, unexpired cookie names; None otherwise."""
    if not cookie or cookie.count(".") != 3:
        return None
    payload, sig = cookie.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(settings, "session:" + payload)):
        return None
    key_id, expiry, _ = payload.split(".")
    return key_id if expiry.isdigit() and int(expiry) > time.time() else None


def csrf_token(settings: Settings, cookie: str) -> str:
    return _sign(settings, "csrf:" + cookie)[:40]


def same_origin(origin: str | None, host: str | None) -> bool:
    """Browsers send Origin on every POST; absent (old clients) passes, `null` or foreign fails."""
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == (host or "")


def csrf_ok(settings: Settings, cookie: str | None, token: str | None, origin: str | None,
            host: str | None) -> bool:
    """Token bound to this session, and no foreign Origin."""
    return same_origin(origin, host) and bool(
        cookie and token and hmac.compare_digest(token, csrf_token(settings, cookie)))
