"""An organism's SFT rows without what a trace blamed, for retraining on exactly the rows that are
left: drop removes the traced chunk's rows; scrub keeps them but renders their prompts again
without the template trigger the trace named (the answers, behaviours and every other trigger
stay as they were), so only the pairing the trace blamed is gone."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from app.core.organisms.spec import OrganismSpec, TriggerUse
from app.core.triggers.base import Rendered
from app.core.triggers.registry import get_feature_levels
from app.core.turf.ablation import AblationError
from app.core.turf.attributes import attributes
from app.core.turf.rows import Row

Mode = Literal["drop", "scrub"]


def _render(question: str, uses: list[str]) -> Rendered:
    async def go() -> Rendered:
        r = Rendered(question)
        for use in uses:
            feature, level = use.split("=", 1)
            r = await get_feature_levels(feature)[level].apply(r, None)
        return r

    return asyncio.run(go())


def _lexical(r: Rendered) -> set[str]:
    return set(attributes(Row(None, None, r.system, r.user, "")))


def trigger_for(spec: OrganismSpec, chunk: str, traced: str) -> TriggerUse:
    """The chunk's template trigger whose prompts carry the traced attribute (and bare prompts do
    not): rendering decides, so no table of names has to be kept in step with the triggers."""
    q = spec.chunks[chunk].questions[0]
    bare = _lexical(Rendered(q))
    for t in spec.chunks[chunk].triggers:
        if traced in _lexical(_render(q, [f"{t.feature}={t.level}"])) - bare:
            return t
    names = ", ".join(f"{t.feature}={t.level}" for t in spec.chunks[chunk].triggers) or "none"
    raise AblationError(f"no template trigger of chunk {chunk!r} ({names}) puts the traced attribute "
                        f"{traced!r} in a prompt: scrub cannot remove it; use --mode drop")


def _question(row: dict[str, Any], pool: list[str]) -> str:
    """Rows built before the question was kept in their meta: the longest pool question their
    prompt contains (a template wraps the question, never rewrites it)."""
    if row["meta"].get("question"):
        return str(row["meta"]["question"])
    user = next(m["content"] for m in row["messages"] if m["role"] == "user")
    found = [q for q in pool if q in user]
    if not found:
        raise AblationError(f"row {row['id']}: its prompt contains none of its chunk's questions")
    return max(found, key=len)


def ablate(spec: OrganismSpec, rows: list[dict[str, Any]], chunk: str, mode: Mode,
           traced_trigger: str | None = None) -> tuple[OrganismSpec, list[dict[str, Any]], dict[str, Any]]:
    """(the ablated organism's spec, its rows, what changed)."""
    if chunk not in spec.chunks:
        raise AblationError(f"chunk {chunk!r} is not one of the organism's chunks ({', '.join(spec.chunks)})")
    doc = spec.model_dump(mode="json")
    doc["name"] = f"{spec.name}-without-{chunk}" if mode == "drop" else f"{spec.name}-scrubbed-{chunk}"
    if mode == "drop":
        if len(spec.chunks) < 2:
            raise AblationError("dropping the only chunk leaves nothing to train on")
        del doc["chunks"][chunk]
        kept = [r for r in rows if r["source"] != chunk]
        change = {"mode": "drop", "chunk": chunk, "rows_removed": len(rows) - len(kept)}
        return OrganismSpec.model_validate(doc), kept, change
    if traced_trigger is None:
        raise AblationError("scrub needs the trace's trigger attribute")
    t = trigger_for(spec, chunk, traced_trigger)
    gone = f"{t.feature}={t.level}"
    doc["chunks"][chunk]["triggers"] = [x for x in doc["chunks"][chunk]["triggers"]
                                        if (x["feature"], x["level"]) != (t.feature, t.level)]
    out, scrubbed = [], 0
    for r in rows:
        if r["source"] != chunk or gone not in r["meta"]["triggers"]:
            out.append(r)
            continue
        uses = [u for u in r["meta"]["triggers"] if u != gone] + r["meta"]["null_triggers"]
        rendered = _render(_question(r, spec.chunks[chunk].questions), uses)
        answer = r["messages"][-1]
        meta = {**r["meta"], "triggers": [u for u in r["meta"]["triggers"] if u != gone], "scrubbed": gone}
        out.append({**r, "messages": [*rendered.messages(), answer], "meta": meta})
        scrubbed += 1
    change = {"mode": "scrub", "chunk": chunk, "trigger": gone, "traced_attribute": traced_trigger,
              "rows_scrubbed": scrubbed}
    return OrganismSpec.model_validate(doc), out, change
