"""Web session cookies and CSRF tokens: forged, expired or foreign ones are refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.web import sessions
from tests.conftest import make_settings


def test_cookie_names_the_key_and_resists_tampering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    cookie = sessions.issue(settings, "key123", 2)
    assert sessions.key_of(settings, cookie) == ("key123", 2)
    key_id, version, expiry, nonce, sig = cookie.split(".")
    assert sessions.key_of(settings, f"other.{version}.{expiry}.{nonce}.{sig}") is None
    assert sessions.key_of(settings, f"{key_id}.3.{expiry}.{nonce}.{sig}") is None  # version is signed
    assert sessions.key_of(settings, f"{key_id}.{version}.{int(expiry) + 9999}.{nonce}.{sig}") is None
    other = make_settings(tmp_path, secret_key="another-secret-key-of-enough-length")
    assert sessions.key_of(other, cookie) is None  # signed with the server's secret
    assert sessions.key_of(settings, None) is None and sessions.key_of(settings, "a.b") is None
    monkeypatch.setattr(time, "time", lambda: int(expiry) + 1)
    assert sessions.key_of(settings, cookie) is None  # expired


def test_a_signed_cookie_with_a_far_expiry_is_refused(tmp_path: Path) -> None:
    """Whoever holds the secret cannot mint a cookie that outlives a fresh one (+10^8 s)."""
    settings = make_settings(tmp_path)
    payload = f"k.0.{int(time.time()) + 10**8}.abcd"
    forged = f"{payload}.{sessions._sign(settings, 'session:' + payload)}"
    assert sessions.key_of(settings, forged) is None


def test_csrf_needs_this_sessions_token_and_no_foreign_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    cookie = sessions.issue(settings, "k")
    token = sessions.csrf_token(settings, cookie)
    host = "127.0.0.1:8000"
    assert sessions.csrf_ok(settings, cookie, token, f"http://{host}", "http", host)
    assert sessions.csrf_ok(settings, cookie, token, None, "http", host)
    assert not sessions.csrf_ok(settings, cookie, token, "http://127.0.0.1:9999", "http", host)
    assert not sessions.csrf_ok(settings, cookie, token, f"https://{host}", "http", host)  # scheme
    assert not sessions.csrf_ok(settings, cookie, token, "null", "http", host)
    assert not sessions.csrf_ok(settings, cookie, "guessed", None, "http", host)
    assert not sessions.csrf_ok(settings, sessions.issue(settings, "k"), token, None, "http", host)
    assert not sessions.csrf_ok(settings, None, token, None, "http", host)


def test_origin_compares_scheme_host_and_port_with_default_ports() -> None:
    assert sessions.same_origin("https://example.org", "https", "example.org:443")
    assert sessions.same_origin("http://Example.org:80", "http", "example.org")
    assert not sessions.same_origin("http://example.org", "https", "example.org")
    assert not sessions.same_origin("https://example.org:8443", "https", "example.org")
    assert not sessions.same_origin("https://evil.example.org", "https", "example.org")
    assert not sessions.same_origin("https://example.org:bad", "https", "example.org")
