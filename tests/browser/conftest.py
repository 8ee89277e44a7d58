"""Debian's Chromium driven by Playwright (never a downloaded browser), and a page guard that
aborts and records every request leaving loopback and every console error."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(os.environ.get("SURFTURF_SCREENSHOTS", "test-screenshots"))  # CI lists this folder


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium must be installed in CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Module scope, not session: while Playwright's sync API is open, this thread counts as
    # running an event loop, and every later test's asyncio.run() would fail.
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def only_loopback(page: Any, allow_file: str | None = None) -> tuple[list[str], list[str]]:
    """(remote requests aborted, console errors), filled as the page runs."""
    remote: list[str] = []
    errors: list[str] = []

    def guard(route: Any) -> None:
        url = route.request.url
        parts = urlsplit(url)
        local = parts.hostname in ("127.0.0.1", "localhost") or (
            parts.scheme == "file" and allow_file is not None and parts.path == allow_file)
        if local or parts.scheme == "data":
            route.continue_()
        else:
            remote.append(url)
            route.abort()

    page.route("**/*", guard)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return remote, errors
