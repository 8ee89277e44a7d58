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


def settings_of(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        return Settings(data_dir=args.data_dir)
    return get_settings()


def upgrade(settings: Settings) -> None:
    from app.db import migrate

    migrate.upgrade(settings.resolved_database_url)


def write_report(report: dict[str, Any] | None, out: str | None, *, as_json: bool = False) -> None:
    """The findings table, or (--json) the whole report on stdout with notes on stderr."""
    from app.embedded import findings_table

    if report is None:
        print("audit did not complete", file=sys.stderr)
        raise SystemExit(1)
    if out:
        Path(out).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"report written to {out}", file=sys.stderr if as_json else sys.stdout)
    print(json.dumps(report, indent=2) if as_json else findings_table(report))
