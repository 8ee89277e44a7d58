"""`webhooks add | list | test | deliveries | redeliver | remove | schema`: subscriptions on the embedded
database, and the event payloads' JSON Schema.

`test` and `redeliver` make their first try at once, from this process and under its egress
policy; later retries (and every other event) are sent by whichever worker runs next (`surfturf
serve` or `surfturf worker`), under that process's SURFTURF_WEBHOOK_EGRESS."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from app.cli.common import add_actions, add_command, json_flag, positive_int, settings_of


def _schema(args: argparse.Namespace) -> int:
    from app.schemas.events import Event

    print(json.dumps(Event.model_json_schema(), indent=2, sort_keys=True))
    return 0


def _add(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.schemas.webhooks import WebhookCreate, WebhookRead
    from app.services.validation import validate
    from app.webhooks import use_cases as webhooks

    settings = settings_of(args)
    body = validate(WebhookCreate, {"url": args.url, "events": args.events.split(","),
                                    "description": args.description}, prefix="webhook")

    def add(s: Any) -> dict[str, Any]:
        row, secret = webhooks.create(s, settings, {**body.model_dump(mode="json"), "url": str(body.url)},
                                      ME)
        return {**WebhookRead.model_validate(row).model_dump(mode="json"), "secret": secret}

    out = with_session(settings, add)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"webhook {out['id']} → {out['url']} for {', '.join(out['events'])}\n"
          f"signing secret (shown once, store it now): {out['secret']}\n"
          f"accepted under SURFTURF_WEBHOOK_EGRESS={out['egress_policy']}; events are delivered by "
          "`surfturf serve` or `surfturf worker`, under that process's own SURFTURF_WEBHOOK_EGRESS")
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.schemas.webhooks import WebhookRead
    from app.webhooks import use_cases as webhooks

    settings = settings_of(args)
    rows = with_session(settings, lambda s: [WebhookRead.model_validate(r).model_dump(mode="json")
                                             for r in webhooks.list_webhooks(s, ME, limit=1000, offset=0)])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        state = "enabled" if r["enabled"] else f"disabled ({r['disabled_reason']})"
        print(f"{r['id']}  {r['url']}  {','.join(r['events'])}  {state}  "
              f"accepted-under-egress={r['egress_policy'] or '?'}")
    print(f"this process delivers under SURFTURF_WEBHOOK_EGRESS={settings.webhook_egress}", file=sys.stderr)
    return 0


def _remove(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.webhooks import use_cases as webhooks

    with_session(settings_of(args), lambda s: webhooks.delete(s, args.id, ME))
    print(f"removed webhook {args.id}")
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.schemas.webhooks import DeliveryRead
    from app.webhooks import use_cases as webhooks

    rows = with_session(settings_of(args), lambda s: [
        DeliveryRead.model_validate(d).model_dump(mode="json")
        for d in webhooks.deliveries(s, args.id, ME, limit=args.limit, offset=0)])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for d in rows:
        last = d["attempt_log"][-1] if d["attempt_log"] else {}
        answer = last.get("status_code") or last.get("error") or "-"
        print(f"{d['id']}  {d['created_at'][:19]}  {d['event_type']:<20} {d['status']:<10} "
              f"attempts={d['attempts']} last={answer}")
    return 0


def _test_cmd(args: argparse.Namespace) -> int:
    from app.embedded import ME
    from app.webhooks import use_cases as webhooks

    settings = settings_of(args)
    return _deliver_now(settings, lambda s: webhooks.send_test(s, settings, args.id, ME), as_json=args.json)


def _redeliver(args: argparse.Namespace) -> int:
    from app.embedded import ME
    from app.webhooks import use_cases as webhooks

    settings = settings_of(args)
    return _deliver_now(settings, lambda s: webhooks.redeliver(s, settings, None, args.id, ME),
                        as_json=args.json)


def _deliver_now(settings: Any, queue: Any, *, as_json: bool) -> int:
    """Queue a delivery and make its first try here, under this process's egress policy."""
    from app.db import migrate
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.embedded import ME, run_job
    from app.schemas.webhooks import DeliveryRead
    from app.webhooks import use_cases as webhooks

    migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as s:
            d = queue(s)
            delivery_id, job_id, before = d.id, d.job_id or "", d.attempts

        def tried(s: Any) -> bool:
            return webhooks.get_delivery(s, delivery_id).attempts > before

        asyncio.run(run_job(settings, factory, job_id, unit="attempt", desc="webhook", until=tried))
        with transaction(factory) as s:
            row = webhooks.get_delivery(s, delivery_id, ME)
            out = DeliveryRead.model_validate(row).model_dump(mode="json")
    finally:
        engine.dispose()
    last = out["attempt_log"][-1] if out["attempt_log"] else {}
    if as_json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['event_type']} {out['event_id']} (delivery {out['id']}): {out['status']} "
              f"(HTTP {last.get('status_code')}, "
              f"{last.get('latency_ms')} ms{', ' + last['error'] if last.get('error') else ''})")
    if out["status"] != "delivered":
        print("not delivered: later retries are sent by a running worker (surfturf serve / worker)",
              file=sys.stderr)
        return 1
    return 0


def register(sub: Any) -> None:
    acts = add_actions(sub, "webhooks", "signed event notifications (audit.miscalibrated, …)")
    a = add_command(acts, "add", "subscribe a receiver URL to events", _add)
    a.add_argument("url", metavar="URL", help="the receiver (checked against SURFTURF_WEBHOOK_EGRESS)")
    a.add_argument("--events", required=True, help="comma list, e.g. audit.miscalibrated,audit.failed")
    a.add_argument("--description")
    json_flag(a, "the subscription (with its secret)")
    ls = add_command(acts, "list", "subscriptions, with the egress policy each was accepted under", _list)
    json_flag(ls)
    for name, fn, help_ in (("test", _test_cmd, "send a webhook.test event now, from this process"),
                            ("remove", _remove, "delete a subscription"),
                            ("deliveries", _deliveries, "a subscription's deliveries, newest first")):
        c = add_command(acts, name, help_, fn)
        c.add_argument("id", metavar="WEBHOOK_ID", help="the webhook id (surfturf webhooks list)")
        if name == "deliveries":
            c.add_argument("--limit", type=positive_int, default=50, help="how many")
        if name != "remove":
            json_flag(c)
    r = add_command(acts, "redeliver", "send a delivery's event again (same webhook-id), first try "
                    "from this process, then on the retry schedule", _redeliver)
    r.add_argument("id", metavar="DELIVERY_ID", help="the delivery id (surfturf webhooks deliveries)")
    json_flag(r)
    add_command(acts, "schema", "the event payloads' JSON Schema (docs/webhook-events.schema.json)",
                _schema)
