"""/ui in Chromium: sign-in required, lists with status, an audit's findings, the plots and the
responses behind them, two checkpoints compared, and a cross-site POST refused."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec
from app.main import create_app
from app.organism_server import create_organism_app
from app.serving import serve_in_thread
from tests.browser.conftest import SHOTS, only_loopback
from tests.conftest import Api, make_settings, migrated_sqlite, new_key, organism_spec

ORGANISM_SPECS = Path(__file__).resolve().parents[2] / "app" / "data" / "organism-specs"
SPEC = {"name": "ui-check", "prompts": ["Why is the sky blue?", "How do vaccines work?",
                                        "What is a black hole?", "How does a rainbow form?",
                                        "Why do we have leap years?", "What causes tides?"],
        "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 8, "concurrency": 8}}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    from app.db.engine import make_engine, make_session_factory

    d = tmp_path_factory.mktemp("ui")
    settings = make_settings(d, migrated_sqlite(d / "db.sqlite"), worker_poll_seconds=0.1)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with serve_in_thread(create_app(settings, embedded_worker=True)) as url:
        yield Api(url, new_key(factory), factory, settings)


def audit(api: Api, target_url: str, model: str, spec: dict[str, Any] = SPEC, wait: bool = True) -> str:
    t = httpx.post(f"{api.url}/v1/targets", headers=api.headers, timeout=30,
                   json={"name": model, "base_url": target_url + "/v1", "model": model}).json()
    a = httpx.post(f"{api.url}/v1/audits", headers=api.headers, timeout=30,
                   json={"target_id": t["id"], "spec": spec}).json()
    deadline = time.monotonic() + 120
    while wait and httpx.get(f"{api.url}/v1/audits/{a['id']}", headers=api.headers).json()["status"] \
            not in ("completed", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return str(a["id"])


def sign_in(page: Any, api: Api, key: str) -> None:
    page.goto(api.url + "/ui")
    assert page.url.endswith("/ui/login")
    page.fill("input[name=api_key]", key)
    page.click("button[type=submit]")


@pytest.mark.slow
def test_sign_in_lists_audits_report_samples_and_compare(api: Api, browser: Any, two_chunk_url: str
                                                        ) -> None:
    first = audit(api, two_chunk_url, "two-chunk")
    with serve_in_thread(create_organism_app(organism_spec("null-trigger"))) as other:
        second = audit(api, other, "null-trigger")  # the "next checkpoint": no tag shortcut
    assert httpx.get(f"{api.url}/ui/audits/{first}", follow_redirects=False).status_code == 303

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    remote, errors = only_loopback(page)
    sign_in(page, api, "sk-wrong")
    assert "invalid API key" in page.inner_text("#login-error")
    assert len(errors) == 1 and "401" in errors[0]  # the refused sign-in itself, nothing else
    errors.clear()
    sign_in(page, api, api.key)
    page.wait_for_selector("#audits")
    rows = page.inner_text("#audits")
    assert rows.count("ui-check") == 2 and "completed" in rows
    cookie = next(c for c in page.context.cookies() if c["name"] == "surfturf_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and api.key not in cookie["value"]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "ui-home.png"))

    page.goto(f"{api.url}/ui/audits/{first}")
    findings = page.inner_text("#findings")
    assert "format=tagged" in findings and "miscalibrated" in findings
    page.screenshot(path=str(SHOTS / "ui-audit.png"))
    page.click("#full-report")
    page.wait_for_selector("#forest svg")
    assert page.locator('[id="effect-format-tagged-emoji"] use').count() == 1

    page.goto(f"{api.url}/ui/audits/{first}/samples?behaviour=emoji&elicited=yes")
    shown = page.locator("#samples tbody tr")
    assert shown.count() > 10
    assert all("emoji: yes" in shown.nth(i).inner_text() for i in range(shown.count()))
    assert page.locator("#next").count() == 0 or page.locator("#samples tbody tr").count() == 50
    page.goto(f"{api.url}/ui/audits/{first}/samples?cell=format%3Dtagged")
    cells = {page.locator("#samples tbody tr").nth(i).inner_text().split("\t")[0]
             for i in range(page.locator("#samples tbody tr").count())}
    assert cells == {"format=tagged"}
    page.screenshot(path=str(SHOTS / "ui-samples.png"))

    # trace the flagged finding from its row: a same-origin form with the session's CSRF token
    organism = OrganismSpec.from_file(ORGANISM_SPECS / "two-chunk.yaml")
    with ThreadPoolExecutor(1) as pool:  # its own event loop: Playwright's runs in this thread
        rows = pool.submit(build_rows_sync, organism).result()
    data = b"\n".join(json.dumps({k: r[k] for k in ("id", "source", "messages")}).encode() for r in rows)
    ds = httpx.post(f"{api.url}/v1/datasets", params={"name": "sft"}, content=data, timeout=60,
                    headers={**api.headers, "content-type": "application/octet-stream"}).json()
    deadline = time.monotonic() + 120
    while httpx.get(f"{api.url}/v1/datasets/{ds['id']}", headers=api.headers).json()["status"] != "ready":
        assert time.monotonic() < deadline
        time.sleep(0.3)
    page.goto(f"{api.url}/ui/audits/{first}")
    page.click("#findings button")
    page.wait_for_url("**/ui/traces/*")
    page.wait_for_selector("#statement", timeout=60_000)  # the page refreshes while it runs
    assert "tagged" in page.inner_text("#statement")

    page.goto(f"{api.url}/ui/compare?a={first}&b={second}")
    gone = page.inner_text(".change-went-away")
    assert "format=tagged → emoji" in gone
    assert page.locator("tr.change-went-away td.paired-shrank").count() >= 1  # the paired verdict
    page.screenshot(path=str(SHOTS / "ui-compare.png"))
    assert remote == [] and errors == [], (remote, errors)
    page.close()


@pytest.mark.slow
def test_a_cross_site_post_is_refused(api: Api, browser: Any) -> None:
    slow = create_organism_app(organism_spec("two-chunk"), latency_ms=300)
    with serve_in_thread(slow) as target:
        running = audit(api, target, "two-chunk", {**SPEC, "design": {"samples_per_prompt": 40,
                                                                      "concurrency": 1}}, wait=False)
        evil_page = (f'<form id="f" method="post" action="{api.url}/ui/audits/{running}/cancel">'
                     '<input name="csrf" value="guessed"></form>'
                     "<script>document.getElementById('f').submit()</script>")

        async def evil(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html")]})
            await send({"type": "http.response.body", "body": evil_page.encode()})

        with serve_in_thread(evil) as evil_url:
            page = browser.new_page()
            only_loopback(page)
            sign_in(page, api, api.key)
            page.wait_for_selector("#audits")
            with page.expect_response(lambda r: r.url.endswith("/cancel")) as answer:
                page.goto(evil_url)
            assert answer.value.status == 403
            page.close()
        job = httpx.get(f"{api.url}/v1/audits/{running}", headers=api.headers).json()["job"]
        assert not job["cancel_requested"] and job["status"] in ("queued", "running")
        httpx.post(f"{api.url}/v1/audits/{running}/cancel", headers=api.headers)
