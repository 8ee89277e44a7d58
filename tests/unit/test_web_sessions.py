"""Web session cookies and CSRF tokens: forged, expired or foreign ones are refused."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from app.web import sessions
from tests.conftest import make_settings


def test_cookie_names_the_key_and_resists_tampering(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path)
    cookie = sessions.issue(settings, "key123")
    assert sessions.key_of(settings, cookie) == "key123"
    key_id, expiry, nonce, sig = cookie.split(".")
    assert sessions.key_of(settings, f"other.{expiry}.{nonce}.{sig}") is None
    assert sessions.key_of(settings, f"{key_id}.{int(expiry) + 9999}.{nonce}.{sig}") is None
    other = make_settings(tmp_path, secret_key="another-secret-key-of-enough-length")
    assert sessions.key_of(other, cookie) is None  # signed with the server's secret
    assert sessions.key_of(settings, None) is None and sessions.key_of(settings, "a.b") is None
    monkeypatch.setattr(time, "time", lambda: int(expiry) + 1)
    assert sessions.key_of(settings, cookie) is None  # expired


def test_csrf_needs_this_sessions_token_and_no_foreign_origin(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    cookie = sessions.issue(settings, "k")
    token = sessions.csrf_token(settings, cookie)
    host = "127.0.0.1:8000"
    assert sessions.csrf_ok(settings, cookie, token, f"http://{host}", host)
    assert sessions.csrf_ok(settings, cookie, token, None, host)
    assert not sessions.csrf_ok(settings, cookie, token, "http://127.0.0.1:9999", host)
    assert not sessions.csrf_ok(settings, cookie, token, "null", host)
    assert not sessions.csrf_ok(settings, cookie, "guessed", None, host)
    assert not sessions.csrf_ok(settings, sessions.issue(settings, "k"), token, None, host)
    assert not sessions.csrf_ok(settings, None, token, None, host)
