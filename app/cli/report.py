"""`report REPORT.json --html OUT.html`: any audit report or trace result as one HTML file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from app.cli.common import CLIError, add_command


def cmd_report(args: argparse.Namespace) -> int:
    from app.core.reports.html import render

    source = Path(args.report)
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CLIError(f"{source}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise CLIError(f"{source}:{line}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(doc, dict):
        raise CLIError(f"{source}:1: a report is a JSON object")
    try:
        page = render(doc)
    except (ValueError, KeyError, TypeError) as exc:
        raise CLIError(f"{source}: {exc}") from None
    out = Path(args.html) if args.html else source.with_suffix(".html")
    out.write_text(page, encoding="utf-8")
    print(f"{out} ({len(page.encode()) / 1024:.0f} KB, self-contained)")
    return 0


def register(sub: Any) -> None:
    r = add_command(sub, "report", "render a report or trace JSON as a self-contained HTML page", cmd_report)
    r.add_argument("report", help="an audit report (audit run/analyze --out) or a trace result")
    r.add_argument("--html", metavar="OUT.html", help="where to write it (default: REPORT.html)")
