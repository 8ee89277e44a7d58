"""Web sessions: an API key is exchanged once for a signed, expiring, HttpOnly SameSite=Strict
cookie naming the key and its session version (never the key itself). Logout bumps the version,
so every cookie issued for that key stops working at once. State-changing forms carry a CSRF
token derived from the cookie, and a POST whose Origin differs in scheme, host or port is refused."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import urlsplit

from app.config import Settings

COOKIE = "surfturf_session"
TTL = 8 * 3600
DEFAULT_PORTS = {"http": 80, "https": 443}


def _sign(settings: Settings, payload: str) -> str:
    return hmac.new(settings.secret_key.encode(), payload.encode(), hashlib.sha256).hexdigest()


def issue(settings: Settings, key_id: str, version: int = 0) -> str:
    payload = f"{key_id}.{version}.{int(time.time()) + TTL}.{secrets.token_hex(8)}"
    return f"{payload}.{_sign(settings, 'session:' + payload)}"


def key_of(settings: Settings, cookie: str | None) -> tuple[str, int] | None:
    """(API key id, session version) of a valid, unexpired cookie; None otherwise. An expiry
    further out than a fresh cookie's is refused too, whoever signed it."""
    if not cookie or cookie.count(".") != 4:
        return None
    payload, sig = cookie.rsplit(".", 1)
    if not hmac.compare_digest(sig, _sign(settings, "session:" + payload)):
        return None
    key_id, version, expiry, _ = payload.split(".")
    now = time.time()
    if not (version.isdigit() and expiry.isdigit() and now < int(expiry) <= now + TTL + 60):
        return None
    return key_id, int(version)


def csrf_token(settings: Settings, cookie: str) -> str:
    return _sign(settings, "csrf:" + cookie)[:40]


def _origin(scheme: str, netloc: str) -> tuple[str, str, int | None]:
    parts = urlsplit(f"{scheme}://{netloc}")
    try:
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return scheme, "", None
    return scheme, (parts.hostname or "").lower(), port


def same_origin(origin: str | None, scheme: str, host: str | None) -> bool:
    """Browsers send Origin on every POST; absent (old clients) passes, `null` or foreign fails.
    Foreign: another scheme, host or port than the request's own."""
    if origin is None:
        return True
    if origin == "null":
        return False
    o = urlsplit(origin)
    theirs = _origin(o.scheme, o.netloc)
    return bool(theirs[1]) and theirs == _origin(scheme, host or "")


def csrf_ok(settings: Settings, cookie: str | None, token: str | None, origin: str | None,
            scheme: str, host: str | None) -> bool:
    """Token bound to this session, and no foreign Origin."""
    return same_origin(origin, scheme, host) and bool(
        cookie and token and hmac.compare_digest(token, csrf_token(settings, cookie)))
