"""`webhooks add | list | test | deliveries | remove | schema`: subscriptions on the embedded
database, and the event payloads' JSON Schema.

`test` delivers at once with an in-process worker; later retries (and every other event) are
sent by whichever worker runs next (`surfturf serve` or `surfturf worker`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from app.cli.common import CLIError, settings_of


def cmd_webhooks(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.schemas.webhooks import DeliveryRead, WebhookRead
    from app.services import webhooks

    settings = settings_of(args)
    if args.action == "schema":
        from app.schemas.events import Event

        print(json.dumps(Event.model_json_schema(), indent=2, sort_keys=True))
        return 0
    if args.action == "add":
        if not args.target or not args.events:
            raise CLIError("webhooks add needs URL and --events (e.g. audit.miscalibrated,audit.failed)")
        from app.schemas.webhooks import WebhookCreate
        from app.services.validation import validate

        body = validate(WebhookCreate, {"url": args.target, "events": args.events.split(","),
                                        "description": args.description}, prefix="webhook")

        def add(s: Any) -> dict[str, Any]:
            row, secret = webhooks.create(s, settings, {**body.model_dump(mode="json"),
                                                        "url": str(body.url)}, ME)
            return {**WebhookRead.model_validate(row).model_dump(mode="json"), "secret": secret}

        out = with_session(settings, add)
        if args.json:
            print(json.dumps(out, indent=2))
        else:
            print(f"webhook {out['id']} → {out['url']} for {', '.join(out['events'])}\n"
                  f"signing secret (shown once, store it now): {out['secret']}")
        return 0
    if args.action == "list":
        rows = with_session(settings, lambda s: [WebhookRead.model_validate(r).model_dump(mode="json")
                                                 for r in webhooks.list_webhooks(s, ME, limit=1000,
                                                                                 offset=0)])
        if args.json:
            print(json.dumps(rows, indent=2))
        for r in [] if args.json else rows:
            state = "enabled" if r["enabled"] else f"disabled ({r['disabled_reason']})"
            print(f"{r['id']}  {r['url']}  {','.join(r['events'])}  {state}")
        return 0
    hook_id = _need_id(args)
    if args.action == "remove":
        with_session(settings, lambda s: webhooks.delete(s, hook_id, ME))
        print(f"removed webhook {hook_id}")
        return 0
    if args.action == "test":
        return _test(settings, hook_id, as_json=args.json)
    rows = with_session(settings, lambda s: [DeliveryRead.model_validate(d).model_dump(mode="json")
                                             for d in webhooks.deliveries(s, hook_id, ME, limit=args.limit,
                                                                          offset=0)])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for d in rows:
        last = d["attempt_log"][-1] if d["attempt_log"] else {}
        answer = last.get("status_code") or last.get("error") or "-"
        print(f"{d['created_at'][:19]}  {d['event_type']:<20} {d['status']:<10} attempts={d['attempts']} "
              f"last={answer}  {d['event_id']}")
    return 0


def _test(settings: Any, hook_id: str, *, as_json: bool) -> int:
    from app.db import migrate
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.embedded import ME, run_job
    from app.schemas.webhooks import DeliveryRead
    from app.services import webhooks

    migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as s:
            d = webhooks.send_test(s, settings, hook_id, ME)
            delivery_id, job_id = d.id, d.job_id or ""

        def tried(s: Any) -> bool:
            return webhooks.get_delivery(s, delivery_id).attempts > 0

        asyncio.run(run_job(settings, factory, job_id, unit="attempt", desc="webhook.test", until=tried))
        with transaction(factory) as s:
            row = webhooks.get_delivery(s, delivery_id, ME)
            out = DeliveryRead.model_validate(row).model_dump(mode="json")
    finally:
        engine.dispose()
    last = out["attempt_log"][-1] if out["attempt_log"] else {}
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        print(f"webhook.test {out['event_id']}: {out['status']} (HTTP {last.get('status_code')}, "
              f"{last.get('latency_ms')} ms{', ' + last['error'] if last.get('error') else ''})")
    if out["status"] != "delivered":
        print("not delivered: later retries are sent by a running worker (surfturf serve / worker)",
              file=sys.stderr)
        return 1
    return 0


def _need_id(args: argparse.Namespace) -> str:
    if not args.target:
        raise CLIError(f"webhooks {args.action} needs a WEBHOOK_ID (surfturf webhooks list)")
    return str(args.target)


def register(sub: Any) -> None:
    w = sub.add_parser("webhooks", help="signed event notifications (audit.miscalibrated, …)")
    w.add_argument("action", choices=["add", "list", "test", "deliveries", "remove", "schema"],
                   help="schema: the event payloads' JSON Schema (docs/webhook-events.schema.json)")
    w.add_argument("target", nargs="?", metavar="URL|WEBHOOK_ID",
                   help="add: the receiver URL; test/deliveries/remove: the webhook id")
    w.add_argument("--events", help="add: comma list, e.g. audit.miscalibrated,audit.failed")
    w.add_argument("--description")
    w.add_argument("--limit", type=int, default=50, help="deliveries: how many (newest first)")
    w.add_argument("--json", action="store_true", help="print JSON")
    w.set_defaults(fn=cmd_webhooks)
