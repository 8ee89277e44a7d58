"""The report's pictures, drawn by matplotlib and returned as inline SVG text.

Every mark that carries a datum gets an SVG id (`gid`) naming it, so a page (or a browser test)
can find the mark for a given finding, cell or group."""

from __future__ import annotations

import io
import math
import re
from typing import Any

VERDICT_COLOURS = {"miscalibrated": "#c0392b", "expected": "#2471a3", "negligible": "#7f8c8d",
                   "inconclusive": "#d68910", "not estimable": "#bdc3c7"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "surfturf",
                                "font.family": "sans-serif", "font.size": 9})
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    _plt().close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]  # drop the XML prolog and doctype: it sits inside HTML
    return re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)


def safe_id(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_]+", "_", p) for p in parts)


def forest(findings: list[dict[str, Any]], min_effect: float, level: float) -> str:
    """Each estimable finding's effect with its FCR-adjusted interval, coloured by verdict, over
    the ±min_effect band the verdicts are read against."""
    plt = _plt()
    rows = [f for f in findings if f.get("effect") is not None]
    fig, ax = plt.subplots(figsize=(7.5, 0.42 * max(len(rows), 1) + 1.1))
    ax.axvspan(-min_effect, min_effect, color="#eeeeee", zorder=0, gid="min-effect-band")
    ax.axvline(0, color="#555555", linewidth=0.8)
    for i, f in enumerate(reversed(rows)):
        colour = VERDICT_COLOURS.get(f["verdict"], "#333333")
        gid = safe_id("effect", f["feature"], f["level"], f["behaviour"])
        lo, hi = f.get("ci_adj_low"), f.get("ci_adj_high")
        if lo is not None and hi is not None:
            ax.plot([lo, hi], [i, i], color=colour, linewidth=2.2, gid=gid + "-ci")
        ax.plot([f["effect"]], [i], "o", color=colour, markersize=6, gid=gid)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{f['feature']}={f['level']} → {f['behaviour']}" for f in reversed(rows)])
    ax.set_xlabel(f"effect on the rate (level − baseline), {level:.1%} FCR-adjusted interval")
    ax.set_ylim(-0.7, max(len(rows), 1) - 0.3)
    handles = [plt.Line2D([], [], color=c, marker="o", linestyle="-", label=v)
               for v, c in VERDICT_COLOURS.items() if any(f["verdict"] == v for f in rows)]
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def heatmap(cells: list[dict[str, Any]], behaviours: list[str]) -> str:
    """Rate of each behaviour (columns) in each cell of the design (rows), annotated."""
    import numpy as np

    plt = _plt()
    grid = np.array([[(c["rates"].get(b) or {}).get("rate") for b in behaviours] for c in cells],
                    dtype=float)
    fig, ax = plt.subplots(figsize=(1.3 * len(behaviours) + 3.2, 0.38 * len(cells) + 1.2))
    ax.imshow(np.nan_to_num(grid, nan=0.0), cmap="Reds", vmin=0, vmax=1, aspect="auto")
    for i, c in enumerate(cells):
        for j, b in enumerate(behaviours):
            v = grid[i, j]
            label = "–" if math.isnan(v) else f"{v:.2f}"
            ax.text(j, i, label, ha="center", va="center", fontsize=8,
                    color="white" if not math.isnan(v) and v > 0.6 else "black",
                    gid=safe_id("rate", c["cell_key"], b))
    ax.set_xticks(range(len(behaviours)))
    ax.set_xticklabels(behaviours)
    ax.set_yticks(range(len(cells)))
    ax.set_yticklabels([", ".join(f"{k}={v}" for k, v in c["levels"].items()) for c in cells])
    ax.xaxis.tick_top()
    return _svg(fig)


def salience(ranking: list[dict[str, Any]]) -> str:
    """Bradley-Terry strengths with their bootstrap intervals, strongest first."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(ranking) + 1.0))
    for i, r in enumerate(reversed(ranking)):
        ax.plot([r["ci_low"], r["ci_high"]], [i, i], color="#2471a3", linewidth=2)
        ax.plot([r["strength"]], [i], "o", color="#1b4f72", gid=safe_id("salience", r["feature"]))
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(ranking)))
    ax.set_yticklabels([r["feature"] for r in reversed(ranking)])
    ax.set_xlabel("salience (Bradley-Terry strength, log-odds; 95% bootstrap interval)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def enrichment(groups: list[dict[str, Any]], family: str, top: int = 12) -> str:
    """Odds ratio (log scale) of the behaviour inside each group, with its interval."""
    plt = _plt()
    rows = groups[:top]
    fig, ax = plt.subplots(figsize=(7.0, 0.4 * max(len(rows), 1) + 1.0))
    for i, g in enumerate(reversed(rows)):
        lo, hi = (max(x, 1e-3) for x in g["odds_ratio_ci"])
        colour = "#c0392b" if g["significant"] else "#7f8c8d"
        ax.plot([lo, hi], [i, i], color=colour, linewidth=2)
        ax.plot([max(g["odds_ratio"], 1e-3)], [i], "o", color=colour,
                gid=safe_id("enrichment", family, g["group"]))
    ax.axvline(1, color="#555555", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([g["group"][:50] for g in reversed(rows)])
    ax.set_xlabel(f"odds ratio of the behaviour in the {family} (95% CI; red: significant after BH)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def series(findings: list[dict[str, Any]], labels: list[str]) -> str:
    """Each finding's effect at every checkpoint with its interval, one line per finding."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.axhline(0, color="#555555", linewidth=0.8)
    x = list(range(len(labels)))
    for f in findings:
        pts = [(i, p) for i, p in enumerate(f["effects"]) if p["effect"] is not None]
        if not pts:
            continue
        gid = safe_id("series", f["feature"], f["level"], f["behaviour"])
        label = f"{f['feature']}={f['level']} → {f['behaviour']}"
        line = ax.plot([i for i, _ in pts], [p["effect"] for _, p in pts], "o-", label=label, gid=gid)[0]
        for i, p in pts:
            if p["ci_low"] is not None:
                ax.plot([i, i], [p["ci_low"], p["ci_high"]], color=line.get_color(), alpha=0.45,
                        linewidth=2, gid=f"{gid}-ci-{i}")
    ax.set_xticks(x)
    ax.set_xticklabels(labels)
    ax.set_xlabel("checkpoint")
    ax.set_ylabel("effect on the rate (level − baseline)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)


def sweep(points: list[dict[str, Any]], trend: dict[str, Any] | None, axis: str) -> str:
    """Each organism's effect against its sweep value (seeds side by side), with the fitted trend."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax.axhline(0, color="#555555", linewidth=0.8)
    seeds = sorted({p["seed"] for p in points})
    step = 0.008 * (len(seeds) - 1)
    for p in points:
        if p.get("effect") is None:
            continue
        x = p["value"] + (seeds.index(p["seed"]) * 0.016 - step)  # seeds side by side
        gid = safe_id("point", f"{p['value']:g}", str(p["seed"]))
        ax.plot([x, x], [p["ci_low"], p["ci_high"]], color="#2471a3", alpha=0.5, linewidth=2, gid=gid + "-ci")
        ax.plot([x], [p["effect"]], "o", color="#2471a3", markersize=5, gid=gid)
    if trend is not None and trend.get("estimate") is not None:
        xs = [min(p["value"] for p in points), max(p["value"] for p in points)]
        ax.plot(xs, [trend["intercept"] + trend["estimate"] * x for x in xs], "--", color="#c0392b",
                gid="trend", label=f"trend {trend['estimate']:+.2f} [{trend['ci_low']:+.2f}, "
                                   f"{trend['ci_high']:+.2f}] per unit share")
        ax.legend(loc="best", fontsize=8, frameon=False)
    ax.set_xlabel(f"{axis}: share of prompts carrying the trigger")
    ax.set_ylabel("effect on the rate (level − baseline)")
    ax.spines[["top", "right"]].set_visible(False)
    return _svg(fig)
