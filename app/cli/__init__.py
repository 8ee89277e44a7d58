"""`surfturf serve | worker | db | keys | audit | organism | models | ingest | trace | demo`.

One module per command group: each adds its subcommands in `register`."""

from __future__ import annotations

import argparse
from pathlib import Path

from app.cli import audit, models, server, turf


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surfturf", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path, help="override SURFTURF_DATA_DIR")
    sub = p.add_subparsers(dest="command", required=True)
    for group in (server, audit, models, turf):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    finally:
        from app.core.llm import local_engines

        local_engines.shutdown_all()  # in-process engines hold threads that block exit
