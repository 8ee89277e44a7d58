"""What every command group shares: settings from the flags, migrations, the report printout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.config import Settings, get_settings

DATA = Path(__file__).resolve().parents[1] / "data"


class CLIError(Exception):
    """A bad name or argument: `main` prints the message as one line and exits 2."""


# One exit-code table for every command (README, "Exit codes").
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_GATE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class HelpFormatter(argparse.HelpFormatter):
    """Each flag's help ends with its default, where it has one worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text
                and "default" not in text and action.option_strings):
            text += " (default: %(default)s)"
        return text


def add_command(sub: Any, name: str, help: str, fn: Any = None, **kw: Any) -> argparse.ArgumentParser:
    """A (sub)command with its own flags only: `surfturf audit run --help` shows run's."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=kw.pop("description", help),
                                                formatter_class=HelpFormatter, **kw)
    if fn is not None:
        p.set_defaults(fn=fn)
    return p


def add_actions(sub: Any, name: str, help: str) -> Any:
    """A command group (`audit`, `search`, …) whose actions are sub-commands of their own."""
    group = add_command(sub, name, help)
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def positive_int(text: str) -> int:
    n = int(text) if text.isdigit() else 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number, 1 or more")
    return n


def concurrency(text: str) -> int:
    n = int(text) if text.isdigit() else 0
    if not 1 <= n <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1 to 1024")
    return n


def json_flag(p: argparse.ArgumentParser, what: str = "JSON") -> None:
    p.add_argument("--json", action="store_true", help=f"print {what} on stdout")


def settings_of(args: argparse.Namespace) -> Settings:
    """The environment's settings (with --data-dir), and a real secret (made on first need)."""
    from app.services import secrets

    settings = Settings(data_dir=args.data_dir) if getattr(args, "data_dir", None) else get_settings()
    return secrets.resolve(settings)


def upgrade(settings: Settings) -> None:
    from app.db import migrate

    migrate.upgrade(settings.resolved_database_url)


def write_report(report: dict[str, Any] | None, out: str | None, *, as_json: bool = False) -> None:
    """The findings table, or (--json) the whole report on stdout with notes on stderr."""
    from app.embedded import findings_table

    if report is None:
        print("audit did not complete", file=sys.stderr)
        raise SystemExit(EXIT_FAILED)
    if out:
        Path(out).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"report written to {out}", file=sys.stderr if as_json else sys.stdout)
    print(json.dumps(report, indent=2) if as_json else findings_table(report))
