"""/docs and /redoc render with no network beyond loopback: in Debian's Chromium driven by
Playwright, with every request that leaves 127.0.0.1 aborted and counted as a failure."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from app.main import create_app
from app.serving import serve_in_thread
from tests.browser.conftest import SHOTS, only_loopback
from tests.conftest import make_settings, migrated_sqlite


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    d = tmp_path_factory.mktemp("docs")
    with serve_in_thread(create_app(make_settings(d, migrated_sqlite(d / "db.sqlite")),
                                    embedded_worker=False)) as url:
        yield url


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_only_assets_the_app_serves(server: str, path: str) -> None:
    html = httpx.get(server + path).text
    assert not re.findall(r"https?://", html), "a CDN or other remote URL in the page"
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(r.startswith("/static/docs/") for r in refs)
    for ref in refs:
        r = httpx.get(server + ref)
        assert r.status_code == 200 and len(r.content) > 1000, ref


@pytest.mark.slow
@pytest.mark.parametrize(("path", "ready"), [("/docs", ".opblock"), ("/redoc", "[role=menuitem], li")])
def test_docs_render_in_a_real_browser_with_no_remote_request(server: str, browser: object, path: str,
                                                              ready: str) -> None:
    page = browser.new_page()  # type: ignore[attr-defined]
    remote, errors = only_loopback(page)
    page.goto(server + path)
    page.wait_for_selector(ready, timeout=30_000)
    text = page.inner_text("body")
    assert "/v1/audits" in text and "/v1/webhooks" in text
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{path.strip('/')}.png"), full_page=False)
    assert remote == [], f"requests left loopback: {remote}"
    assert errors == [], errors
    page.close()
