"""`surfturf serve | worker | db | keys | audit | search | datasets | traces | webhooks | organism | models |
ingest | trace | report | demo | openapi`.

One module per command group: each adds its subcommands in `register`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from app import __version__
from app.cli import audit, models, report, search, server, turf, webhooks
from app.cli.common import CLIError
from app.errors import SurfturfError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surfturf", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"surfturf {__version__}")
    p.add_argument("--data-dir", type=Path, help="override SURFTURF_DATA_DIR")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (server, audit, search, models, turf, webhooks, report):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Every failure ends as one line on stderr and a non-zero exit; SURFTURF_DEBUG=1 shows the
    traceback of an unexpected one."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except CLIError as exc:
        print(f"surfturf: error: {exc}", file=sys.stderr)
        return 2
    except SurfturfError as exc:  # not found, conflict, invalid input: the service's own words
        print(f"surfturf: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("surfturf: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("SURFTURF_DEBUG"):
            raise
        print(f"surfturf: error: {type(exc).__name__}: {exc} (SURFTURF_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1
    finally:
        from app.core.llm import local_engines

        local_engines.shutdown_all()  # in-process engines hold threads that block exit
