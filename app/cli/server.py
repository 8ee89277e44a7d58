"""`serve`, `worker`, `db`, `keys`: running the service and administering it."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Any

from app.cli.common import CLIError, add_actions, add_command, settings_of, upgrade

if TYPE_CHECKING:
    from app.config import Settings


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logs import configure_logging
    from app.main import create_app

    settings = settings_of(args)
    configure_logging(settings.log_level)
    upgrade(settings)
    app = create_app(settings, embedded_worker=not args.no_worker)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port,
                log_config=None, timeout_graceful_shutdown=30)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory
    from app.jobs.runner import Worker
    from app.logs import configure_logging

    settings = settings_of(args)
    if args.check:
        return _worker_alive(settings.worker_alive_file, args.max_age)
    configure_logging(settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    worker = Worker(settings, make_session_factory(engine), concurrency=args.concurrency)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run(grace_seconds=args.grace)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
    return 0


def _worker_alive(path: Any, max_age: float) -> int:
    """Exit 0 when the worker's claim loop turned within `max_age` seconds (a healthcheck)."""
    import time

    if path is None:
        print("error: set SURFTURF_WORKER_ALIVE_FILE for the worker and its check", file=sys.stderr)
        return 2
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        print(f"unhealthy: {path} does not exist (worker not started?)", file=sys.stderr)
        return 1
    if age > max_age:
        print(f"unhealthy: the worker loop last turned {age:.0f}s ago (> {max_age:.0f}s)", file=sys.stderr)
        return 1
    print(f"alive: the worker loop turned {age:.1f}s ago")
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from app.db import migrate
    from app.db.engine import make_engine

    url = settings_of(args).resolved_database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision or "base")
    engine = make_engine(url)
    print(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision(url)}")
    engine.dispose()
    return 0


def key_owner(settings: Settings, name: str, owner: str | None) -> str:
    """Who owns what a new key creates. On the embedded default (SQLite, one person) the CLI's
    owner, so its audits show in /ui and through the key; on a shared database the key's name."""
    from app.services.owners import LOCAL

    if owner:
        return owner
    return LOCAL if settings.resolved_database_url.startswith("sqlite") else name


def cmd_keys(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.services import api_keys

    settings = settings_of(args)
    upgrade(settings)
    engine = make_engine(settings.resolved_database_url)
    try:
        with transaction(make_session_factory(engine)) as s:
            if args.action == "create":
                try:
                    row, key = api_keys.create(s, args.name, args.scopes,
                                               owner=key_owner(settings, args.name, args.owner))
                except ValueError as exc:
                    raise CLIError(str(exc)) from None
                print(f"id: {row.id}\nowner: {row.owner}\nscopes: {row.scopes}\n"
                      f"key (shown once, store it now): {key}")
            elif args.action == "list":
                for r in api_keys.list_keys(s):
                    state = "revoked" if r.revoked_at else "active"
                    print(f"{r.id}  {r.prefix}…  {r.name}  owner={r.owner}  {r.scopes}  {state}")
            elif api_keys.revoke(s, args.id) is None:
                raise CLIError(f"no key with id {args.id} (surfturf keys list)")
            else:
                print(f"revoked {args.id}")
    finally:
        engine.dispose()
    return 0


def cmd_openapi(args: argparse.Namespace) -> int:
    """The OpenAPI document, as the server serves it (docs/openapi.json is this output)."""
    import json

    from app.main import create_app

    settings = settings_of(args)
    app = create_app(settings.model_copy(update={"database_url": "sqlite://"}), embedded_worker=False)
    print(json.dumps(app.openapi(), indent=2, sort_keys=True))
    return 0


def register(sub: Any) -> None:
    from app.config import Settings

    defaults = Settings.model_fields
    s = add_command(sub, "serve", "API server (+ embedded worker); runs migrations first", cmd_serve)
    s.add_argument("--host",
                   help=f"address to bind (default: SURFTURF_HOST, else {defaults['host'].default})")
    s.add_argument("--port", type=int, help=f"port (default: SURFTURF_PORT, else {defaults['port'].default})")
    s.add_argument("--no-worker", action="store_true", help="do not run the embedded worker")
    w = add_command(sub, "worker", "standalone worker process", cmd_worker)
    w.add_argument("--concurrency", type=int, default=None,
                   help="jobs at once (default: SURFTURF_WORKER_CONCURRENCY)")
    w.add_argument("--grace", type=float, default=20.0, help="seconds to finish jobs on SIGTERM")
    w.add_argument("--check", action="store_true",
                   help="healthcheck: exit 0 if a worker's alive file is fresh, else 1")
    w.add_argument("--max-age", type=float, default=30.0, help="with --check: seconds")
    d = add_actions(sub, "db", "migrations")
    for name, help_ in (("upgrade", "migrate up (default: to head)"),
                        ("downgrade", "migrate down (default: to base)"),
                        ("current", "the database's revision and head")):
        a = add_command(d, name, help_, cmd_db)
        if name != "current":
            a.add_argument("revision", nargs="?", help="an Alembic revision")
    k = add_actions(sub, "keys", "API keys")
    c = add_command(k, "create", "a new key, shown once", cmd_keys)
    c.add_argument("name", help="the key's name")
    c.add_argument("--scopes", default="read,write", help="read,write[,admin]; admin sees every owner's")
    c.add_argument("--owner", help="who owns what this key creates (default: on SQLite 'local', the "
                   "CLI's owner; on Postgres the key's name)")
    add_command(k, "list", "every key, active and revoked", cmd_keys)
    r = add_command(k, "revoke", "revoke a key", cmd_keys)
    r.add_argument("id", help="the key's id (surfturf keys list)")
    add_command(sub, "openapi", "print the API's OpenAPI document (JSON)", cmd_openapi)
