"""Webhooks end to end on loopback: a receiver verifies every delivery with standardwebhooks' own
`Webhook.verify`; events come from real audits of a planted organism; outages, 410, redirects,
egress and a SIGKILLed worker are exercised for real."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.db.engine import make_engine, make_session_factory, transaction
from app.errors import RetryLater
from app.main import create_app
from app.services.owners import Principal
from app.serving import free_port, serve_in_thread
from app.webhooks import tasks as webhook_tasks
from app.webhooks import use_cases as webhooks_service
from tests.conftest import Api, make_settings, migrated_sqlite, new_key

SPEC = {"name": "hooked", "prompts": ["Why is the sky blue?", "How do vaccines work?",
                                      "What is a black hole?", "How does a rainbow form?",
                                      "Why do we have leap years?", "What causes tides?"],
        "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "relevant": [], "design": {"samples_per_prompt": 10, "concurrency": 8}}


class Receiver:
    """A webhook receiver: verifies each delivery with the stock verifier, then answers as told."""

    def __init__(self) -> None:
        self.secret = ""
        self.answer: Callable[[dict[str, Any]], Response] = lambda _: Response(status_code=204)
        self.accepted: list[dict[str, Any]] = []  # verified: {id, type, payload}
        self.rejected: list[str] = []
        self.seen_ids: list[str] = []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        self.seen_ids.append(request.headers.get("webhook-id", ""))
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.rejected.append(str(exc))
            return Response(status_code=400)
        event = {"id": request.headers["webhook-id"], "type": payload["type"], "payload": payload}
        answer = self.answer(event)
        if 200 <= answer.status_code < 300:
            self.accepted.append(event)
        return answer

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.accepted if e["type"] == kind]


def hooked_settings(tmp_path: Path, **overrides: Any) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    given = {"webhook_egress": "public,loopback", "webhook_retry_schedule": "0.5,1,2",
             "worker_poll_seconds": 0.1, **overrides}
    return make_settings(tmp_path, migrated_sqlite(tmp_path / "db.sqlite"), **given)


@contextmanager
def running_api(settings: Settings) -> Iterator[Api]:
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        with serve_in_thread(create_app(settings, embedded_worker=True)) as url:
            yield Api(url, new_key(factory), factory, settings)
    finally:
        engine.dispose()


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[Api]:
    with running_api(hooked_settings(tmp_path)) as a:
        yield a


def enabled(api: Api, hook_id: str) -> bool:
    return bool(httpx.get(f"{api.url}/v1/webhooks/{hook_id}", headers=api.headers).json()["enabled"])


@pytest.fixture()
def receiver() -> Iterator[tuple[str, Receiver]]:
    rec = Receiver()
    with serve_in_thread(rec.app) as url:
        yield url + "/hook", rec


def subscribe(api: Api, url: str, events: list[str]) -> dict[str, Any]:
    r = httpx.post(f"{api.url}/v1/webhooks", headers=api.headers, json={"url": url, "events": events},
                   timeout=30)
    assert r.status_code == 201, r.text
    return dict(r.json())


def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def run_audit(api: Api, target_url: str, spec: dict[str, Any] = SPEC) -> str:
    t = httpx.post(f"{api.url}/v1/targets", headers=api.headers, timeout=30,
                   json={"name": "o", "base_url": target_url + "/v1", "model": "two-chunk"})
    a = httpx.post(f"{api.url}/v1/audits", headers=api.headers, timeout=30,
                   json={"target_id": t.json()["id"], "spec": spec})
    assert a.status_code == 201, a.text
    return str(a.json()["id"])


def deliveries(api: Api, hook_id: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{api.url}/v1/webhooks/{hook_id}/deliveries", headers=api.headers, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def test_a_miscalibrated_audit_sends_one_signed_event(api: Api, receiver: tuple[str, Receiver],
                                                      two_chunk_url: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url, rec = receiver
    hook = subscribe(api, url, ["audit.miscalibrated", "audit.completed", "audit.failed"])
    rec.secret = hook["secret"]
    assert hook["secret"].startswith("whsec_")
    audit_id = run_audit(api, two_chunk_url)
    wait_until(lambda: len(rec.accepted) >= 2, what="two events")
    time.sleep(1.0)  # nothing more may arrive
    assert rec.rejected == [] and len(rec.accepted) == 2
    [event] = rec.of_type("audit.miscalibrated")
    assert len(rec.of_type("audit.completed")) == 1
    payload = event["payload"]
    assert set(payload) == {"type", "timestamp", "data"}
    schema = json.loads((Path(__file__).resolve().parents[2] / "docs" / "webhook-events.schema.json")
                        .read_text(encoding="utf-8"))
    for e in rec.accepted:  # what a receiver can check without our code: the published schema
        jsonschema.validate(e["payload"], schema)
    data = payload["data"]
    assert data["schema_version"] == 1 and data["audit_id"] == audit_id and data["name"] == "hooked"
    assert data["target"]["model"] == "two-chunk" and data["links"]["report"].endswith("/report")
    [finding] = data["miscalibrated"]
    assert finding["feature"] == "format" and finding["behaviour"] == "emoji"
    assert finding["effect"] > 0.5 and finding["ci_adj_low"] > 0 and finding["q_value"] < 0.05
    pair = finding["example"]
    assert pair["baseline"]["elicited"]["emoji"] is False and pair["trigger"]["elicited"]["emoji"] is True
    assert "<query>" in pair["trigger"]["messages"][-1]["content"]

    # the secret is shown once: no later response and no log line carries it
    later = [httpx.get(f"{api.url}/v1/webhooks/{hook['id']}", headers=api.headers).text,
             httpx.get(f"{api.url}/v1/webhooks", headers=api.headers).text,
             json.dumps(deliveries(api, hook["id"])), httpx.get(f"{api.url}/metrics").text]
    assert all(hook["secret"] not in text for text in later)
    assert hook["secret"] not in caplog.text and hook["secret"].removeprefix("whsec_") not in caplog.text
    assert 'surfturf_webhook_deliveries_total{outcome="delivered"}' in later[-1]
    done = deliveries(api, hook["id"])
    assert {d["status"] for d in done} == {"delivered"} and all(d["attempts"] == 1 for d in done)
    assert {d["event_id"] for d in done} == {e["id"] for e in rec.accepted}


def test_crud_test_event_rotation_and_redelivery(api: Api, receiver: tuple[str, Receiver]) -> None:
    url, rec = receiver
    hook = subscribe(api, url, ["dataset.ready"])
    rec.secret = hook["secret"]
    h = f"{api.url}/v1/webhooks/{hook['id']}"
    assert httpx.get(h, headers=api.headers).json()["events"] == ["dataset.ready"]
    r = httpx.patch(h, headers=api.headers, json={"events": ["dataset.ready", "trace.completed"],
                                                   "description": "ci"})
    assert r.status_code == 200 and r.json()["events"] == ["dataset.ready", "trace.completed"]
    bad = httpx.patch(h, headers=api.headers, json={"events": ["audit.nonsense"]})
    assert bad.status_code == 422 and bad.json()["field"].startswith("events")

    assert httpx.post(h + "/test", headers=api.headers).status_code == 202
    wait_until(lambda: len(rec.of_type("webhook.test")) == 1, what="test event")
    rotated = httpx.post(h + "/rotate-secret", headers=api.headers).json()
    assert rotated["secret"] != hook["secret"]
    httpx.post(h + "/test", headers=api.headers)
    wait_until(lambda: len(rec.rejected) == 1, what="old-secret rejection")  # receiver still old
    rec.secret = rotated["secret"]
    stuck = next(d for d in deliveries(api, hook["id"]) if d["status"] != "delivered")
    wait_until(lambda: len(rec.of_type("webhook.test")) == 2, what="retry with the new secret")
    again = httpx.post(f"{h}/deliveries/{stuck['id']}/redeliver", headers=api.headers)
    assert again.status_code == 202 and again.json()["event_id"] == stuck["event_id"]
    wait_until(lambda: len(rec.of_type("webhook.test")) == 3, what="redelivery")
    ids = [e["id"] for e in rec.of_type("webhook.test")]
    assert ids[1] == ids[2] == stuck["event_id"]  # the same webhook-id every time: receivers dedupe

    assert httpx.delete(h, headers=api.headers).status_code == 204
    assert httpx.get(h, headers=api.headers).status_code == 404


def test_410_disables_and_repeated_failures_disable(tmp_path: Path, receiver: tuple[str, Receiver]
                                                   ) -> None:
    url, rec = receiver
    with running_api(hooked_settings(tmp_path, webhook_disable_after=3)) as api:
        gone = subscribe(api, url, ["webhook.test"])
        rec.secret = gone["secret"]
        rec.answer = lambda _: Response(status_code=410)
        httpx.post(f"{api.url}/v1/webhooks/{gone['id']}/test", headers=api.headers)
        wait_until(lambda: not enabled(api, gone["id"]), what="410 disable")
        row = httpx.get(f"{api.url}/v1/webhooks/{gone['id']}", headers=api.headers).json()
        assert "410" in row["disabled_reason"]
        assert [d["attempts"] for d in deliveries(api, gone["id"])] == [1]  # no retry after 410

        flaky = subscribe(api, url, ["webhook.test"])
        rec.secret = flaky["secret"]
        rec.answer = lambda _: Response(status_code=503, content=b"x" * 10_000)
        for _ in range(3):  # each spends the schedule (0.5, 1, 2 s): 4 tries, then failed for good
            httpx.post(f"{api.url}/v1/webhooks/{flaky['id']}/test", headers=api.headers)
        wait_until(lambda: not enabled(api, flaky["id"]), what="failure disable")
        row = httpx.get(f"{api.url}/v1/webhooks/{flaky['id']}", headers=api.headers).json()
        assert "3 consecutive failed deliveries" in row["disabled_reason"]
        done = deliveries(api, flaky["id"])
        assert [(d["status"], d["attempts"]) for d in done] == [("failed", 4)] * 3
        assert all(a["status_code"] == 503 and len(a["response"]) == 512
                   for d in done for a in d["attempt_log"])
        r = httpx.patch(f"{api.url}/v1/webhooks/{flaky['id']}", headers=api.headers, json={"enabled": True})
        assert r.json()["enabled"] and r.json()["consecutive_failures"] == 0


def test_egress_is_checked_at_creation_and_at_delivery(tmp_path: Path,
                                                       receiver: tuple[str, Receiver]) -> None:
    url, rec = receiver
    strict = make_settings(tmp_path, migrated_sqlite(tmp_path / "strict.sqlite"))  # default: public
    with running_api(strict) as api:
        for bad in (url, "http://localhost:9/hook", "http://10.1.2.3/hook", "http://[::1]:9/hook",
                    "http://169.254.169.254/latest"):
            r = httpx.post(f"{api.url}/v1/webhooks", headers=api.headers,
                           json={"url": bad, "events": ["webhook.test"]})
            assert r.status_code == 422 and r.json()["error"] == "egress_denied", bad
            assert r.json()["field"] == "url"

    # made while loopback was allowed, delivered by a worker whose policy no longer allows it
    lax = hooked_settings(tmp_path / "lax")
    engine = make_engine(lax.resolved_database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        hook, rec.secret = webhooks_service.create(s, lax, {"url": url, "events": ["webhook.test"]},
                                                   Principal("x"))
        d = webhooks_service.send_test(s, lax, hook.id, Principal("x"))
        delivery_id = d.id
    assert hook.egress_policy == lax.webhook_egress  # the policy it was accepted under is kept
    public_only = lax.model_copy(update={"webhook_egress": "public"})
    # refused by the delivering process's policy: never connected, said why, retried on schedule
    with pytest.raises(RetryLater, match="egress"):
        asyncio.run(webhook_tasks.deliver(factory, public_only, delivery_id, 1))
    assert rec.seen_ids == []
    with transaction(factory) as s:
        d = webhooks_service.get_delivery(s, delivery_id)
        assert d.status == "retrying" and d.attempt_log[0]["error"].startswith("egress")
        assert "SURFTURF_WEBHOOK_EGRESS=public" in d.attempt_log[0]["error"]
    # the schedule spent under the wrong policy: failed, with the reason
    last = len(public_only.webhook_retry_delays) + 1
    out = asyncio.run(webhook_tasks.deliver(factory, public_only, delivery_id, last))
    assert out["status"] == "egress_denied" and rec.seen_ids == []
    # redelivered by a process with the subscription's policy: it arrives
    with transaction(factory) as s:
        webhooks_service.redeliver(s, lax, None, delivery_id, Principal("x"))
    out = asyncio.run(webhook_tasks.deliver(factory, lax, delivery_id, 1))
    assert out["status"] == "delivered" and len(rec.seen_ids) == 1

    # a redirect is never followed, wherever it points
    rec.secret = "whsec_" + "A" * 32
    rec.answer = lambda _: Response(status_code=307, headers={"location": "http://10.0.0.1/steal"})
    with transaction(factory) as s:
        hook, secret = webhooks_service.create(s, lax, {"url": url, "events": ["webhook.test"]},
                                               Principal("x"))
        rec.secret = secret
        delivery_id = webhooks_service.send_test(s, lax, hook.id, Principal("x")).id
    with pytest.raises(Exception, match="redirect"):  # RetryLater: the schedule takes it from here
        asyncio.run(webhook_tasks.deliver(factory, lax, delivery_id, 1))
    with transaction(factory) as s:
        d = webhooks_service.get_delivery(s, delivery_id)
        assert d.status == "retrying" and d.attempt_log[0]["status_code"] == 307
        assert "not followed" in d.attempt_log[0]["error"]
    engine.dispose()


@pytest.mark.slow
def test_receiver_down_for_a_minute_then_every_event_arrives_once(tmp_path: Path,
                                                                  two_chunk_url: str) -> None:
    """Schedule 1, 2, 4, 8, 16, 32, 16 s (±20% jitter): the last try comes 63–95 s in, after the
    60 s outage, so it bridges it. The port is closed meanwhile: connections are refused."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    settings = hooked_settings(tmp_path, webhook_retry_schedule="1,2,4,8,16,32,16")
    with running_api(settings) as api:
        hook = subscribe(api, url, ["audit.miscalibrated", "audit.completed", "webhook.test"])
        started = time.monotonic()
        for _ in range(3):
            httpx.post(f"{api.url}/v1/webhooks/{hook['id']}/test", headers=api.headers)
        audit_id = run_audit(api, two_chunk_url)
        wait_until(lambda: len(deliveries(api, hook["id"])) == 5, timeout=60, what="5 events queued")
        time.sleep(max(0.0, 60 - (time.monotonic() - started)))
        failed_meanwhile = sum(d["attempts"] for d in deliveries(api, hook["id"]))
        rec = Receiver()
        rec.secret = hook["secret"]
        with serve_in_thread(rec.app, port=port):
            back = time.monotonic()
            wait_until(lambda: len(rec.accepted) == 5, timeout=90, what="every event after the outage")
            caught_up = time.monotonic() - back
            time.sleep(1.0)
        assert rec.rejected == [] and len(rec.accepted) == 5
        assert len({e["id"] for e in rec.accepted}) == 5  # each webhook-id accepted once
        assert rec.of_type("audit.miscalibrated")[0]["payload"]["data"]["audit_id"] == audit_id
        done = deliveries(api, hook["id"])
        assert {d["status"] for d in done} == {"delivered"}
        assert all(d["attempts"] >= 5 for d in done)  # ≥ 4 refused tries each, then the delivery
        refused = [a for d in done for a in d["attempt_log"] if a["status_code"] is None]
        assert refused and all("ConnectError" in a["error"] for a in refused)
        print(f"\noutage 60 s: {failed_meanwhile} refused attempts during it; all 5 events delivered "
              f"{caught_up:.1f} s after the receiver came back")


@pytest.mark.slow
def test_worker_sigkilled_during_a_delivery_then_it_is_delivered(tmp_path: Path) -> None:
    settings = hooked_settings(tmp_path)
    engine = make_engine(settings.resolved_database_url)
    factory: sessionmaker[Session] = make_session_factory(engine)
    rec = Receiver()
    first_call = threading.Event()

    def answer(_: dict[str, Any]) -> Response:
        if not first_call.is_set():
            first_call.set()
            time.sleep(8)  # the worker dies while this request is open
        return Response(status_code=204)

    rec.answer = answer
    env = {**os.environ, "SURFTURF_DATABASE_URL": settings.resolved_database_url,
           "SURFTURF_DATA_DIR": str(settings.data_dir), "SURFTURF_LEASE_SECONDS": "2",
           "SURFTURF_HEARTBEAT_SECONDS": "0.3", "SURFTURF_WORKER_POLL_SECONDS": "0.1",
           "SURFTURF_WEBHOOK_EGRESS": "loopback", "SURFTURF_LOG_LEVEL": "WARNING",
           "SURFTURF_SECRET_KEY": settings.secret_key}  # one secret for every process, as deployed
    with serve_in_thread(rec.app) as base:
        with transaction(factory) as s:
            hook, rec.secret = webhooks_service.create(
                s, settings, {"url": base + "/hook", "events": ["webhook.test"]}, Principal("x"))
            delivery_id = webhooks_service.send_test(s, settings, hook.id, Principal("x")).id
        worker = [sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"]
        first = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert first_call.wait(30), "the first worker never called the receiver"
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = subprocess.Popen(worker, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def delivered() -> bool:
                with transaction(factory) as s:
                    return webhooks_service.get_delivery(s, delivery_id).status == "delivered"

            wait_until(delivered, timeout=60, what="delivery after the lease expired")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=30)
    assert rec.rejected == []
    assert len(set(rec.seen_ids)) == 1 and len(rec.seen_ids) >= 2  # same webhook-id on the retry
    engine.dispose()


def test_cli_add_test_and_deliveries(tmp_path: Path, receiver: tuple[str, Receiver]) -> None:
    url, rec = receiver
    env = {**os.environ, "SURFTURF_DATA_DIR": str(tmp_path / "data"), "SURFTURF_WEBHOOK_EGRESS": "loopback"}

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", "webhooks", *argv], capture_output=True,
                              text=True, timeout=120, env=env)

    added = cli("add", url, "--events", "audit.miscalibrated,webhook.test", "--json")
    assert added.returncode == 0, added.stderr
    hook = json.loads(added.stdout)
    rec.secret = hook["secret"]
    tested = cli("test", hook["id"])
    assert tested.returncode == 0 and "delivered" in tested.stdout, tested.stdout + tested.stderr
    assert len(rec.of_type("webhook.test")) == 1
    listed = cli("list")
    assert hook["id"] in listed.stdout and hook["secret"] not in listed.stdout
    assert "accepted-under-egress=loopback" in listed.stdout  # the policy it was accepted under
    shown = cli("deliveries", hook["id"])
    assert "webhook.test" in shown.stdout and "delivered" in shown.stdout
    delivery_id = shown.stdout.split()[0]

    # redelivered from a process whose policy refuses loopback: refused, said why, left to retry
    public = subprocess.run([sys.executable, "-m", "app.cli", "webhooks", "redeliver", delivery_id, "--json"],
                            capture_output=True, text=True, timeout=120,
                            env={**env, "SURFTURF_WEBHOOK_EGRESS": "public"})
    assert public.returncode == 1, public.stderr
    out = json.loads(public.stdout)
    assert out["status"] == "retrying" and "SURFTURF_WEBHOOK_EGRESS=public" in out["attempt_log"][-1]["error"]
    assert len(rec.of_type("webhook.test")) == 1  # never connected
    again = cli("redeliver", delivery_id)  # from a process with the subscription's policy
    assert again.returncode == 0 and "delivered" in again.stdout, again.stdout + again.stderr
    assert len(rec.of_type("webhook.test")) == 2
    assert len({d["id"] for d in rec.of_type("webhook.test")}) == 1  # the same event, same webhook-id
    bad = cli("add", url, "--events", "audit.bogus")
    assert bad.returncode == 2 and "events" in bad.stderr and "Traceback" not in bad.stderr
    denied = subprocess.run([sys.executable, "-m", "app.cli", "webhooks", "add", "http://10.9.9.9/x",
                             "--events", "webhook.test"], capture_output=True, text=True, timeout=60,
                            env={**env, "SURFTURF_WEBHOOK_EGRESS": "public"})
    assert denied.returncode == 2 and "egress" in denied.stderr
