"""surfturf: audit language models for chunky post-training (SURF) and trace findings to data (TURF).

One module per command group: each adds its subcommands, each with its own flags, in `register`."""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import sys
from pathlib import Path
from typing import NoReturn

from app import __version__
from app.cli import audit, judge, models, report, search, server, turf, webhooks
from app.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, CLIError
from app.errors import SurfturfError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surfturf", description=__doc__.splitlines()[0],
                                epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"surfturf {__version__}")
    p.add_argument("--data-dir", type=Path, help="override SURFTURF_DATA_DIR")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in (server, audit, search, judge, models, turf, webhooks, report):
        group.register(sub)
    return p


EXIT_CODES = ("exit codes: 0 ok; 1 the work failed (a job ended failed, a target erred too often); 2 "
              "usage, spec or input error; 3 a gate tripped; 130 interrupted (resumable)")

# Commands that compute and end: their process need not tear the interpreter down (see run).
ONE_SHOT = {"audit", "demo", "search", "report", "ingest", "trace", "judge"}


def run() -> NoReturn:
    """The `surfturf` script. A one-shot command exits without the interpreter's teardown once
    atexit handlers have run and stdout/stderr are flushed (mypy ends the same way; what that
    buys: bench/README.md). Servers exit normally."""
    args = build_parser().parse_args()
    code = dispatch(args)
    if args.command in ONE_SHOT:
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # a closed pipe (`| head`) is not an error
                stream.flush()
        os._exit(code)
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    return dispatch(build_parser().parse_args(argv))


def dispatch(args: argparse.Namespace) -> int:
    """Every failure ends as one line on stderr and a non-zero exit; SURFTURF_DEBUG=1 shows the
    traceback of an unexpected one."""
    try:
        return int(args.fn(args) or 0)
    except CLIError as exc:
        print(f"surfturf: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SurfturfError as exc:  # not found, conflict, invalid input: the service's own words
        print(f"surfturf: error: {exc.message}", file=sys.stderr)
        return EXIT_FAILED if exc.status_code >= 500 and exc.status_code != 503 else EXIT_USAGE
    except KeyboardInterrupt:
        print("surfturf: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if os.environ.get("SURFTURF_DEBUG"):
            raise
        print(f"surfturf: error: {type(exc).__name__}: {exc} (SURFTURF_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        from app.core.llm import local_engines

        local_engines.shutdown_all()  # in-process engines hold threads that block exit
