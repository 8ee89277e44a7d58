"""One HTML file per report: inline CSS and SVG, no script, no request leaving the page.

Everything the target model wrote is escaped (autoescape): a response may contain markup."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from app.core.reports import plots
from app.core.text import fmt_q


@lru_cache(maxsize=1)
def _env() -> Any:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("app.core.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["signed"] = lambda v, d=2: "—" if v is None else f"{v:+.{d}f}"
    env.filters["num"] = lambda v, d=2: "—" if v is None else f"{v:.{d}f}"
    env.filters["q"] = fmt_q
    return env


def audit_html(report: dict[str, Any]) -> str:
    findings = report.get("findings", [])
    behaviours = sorted({b for c in report.get("cells", []) for b in c["rates"]})
    fam = report.get("family") or {}
    level = fam.get("fcr_level", 1 - report.get("alpha", 0.05))
    pictures = {"forest": plots.forest(findings, report["min_effect"], level) if findings else "",
                "heatmap": plots.heatmap(report["cells"], behaviours) if report.get("cells") else "",
                "salience": plots.salience(report["ranking"]) if report.get("ranking") else ""}
    flagged = [f for f in findings if f.get("flagged")]
    return str(_env().get_template("audit.html.j2").render(
        r=report, findings=findings, flagged=flagged, pictures=pictures, level=level,
        colours=plots.VERDICT_COLOURS, safe_id=plots.safe_id))


def trace_html(result: dict[str, Any]) -> str:
    families = (("chunk", "chunks"), ("cluster", "clusters"), ("attribute", "attributes"))
    pictures = {fam: plots.enrichment(result[key], fam) for fam, key in families if result.get(key)}
    return str(_env().get_template("trace.html.j2").render(t=result, pictures=pictures))


def series_html(doc: dict[str, Any]) -> str:
    return str(_env().get_template("series.html.j2").render(
        s=doc, picture=plots.series(doc["findings"], doc["labels"])))


def sweep_html(doc: dict[str, Any]) -> str:
    return str(_env().get_template("sweep.html.j2").render(
        s=doc, picture=plots.sweep(doc["points"], doc.get("trend"), doc["axis"])))


def render(doc: dict[str, Any]) -> str:
    """Either kind of report, told apart by its fields (a report made elsewhere renders too)."""
    if "findings" in doc and "cells" in doc:
        return audit_html(doc)
    if "chunks" in doc and "statement" in doc:
        return trace_html(doc)
    raise ValueError("not a surfturf audit report or trace result (no findings/cells or chunks)")
