"""Ablating an organism's rows: drop removes the traced chunk; scrub renders the chunk's prompts
again without the traced template trigger and changes nothing else."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from app.core.organisms.ablation import ablate, trigger_for
from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec
from app.core.turf.ablation import AblationError, traced_chunk, traced_trigger

SPEC = OrganismSpec.from_file(Path(__file__).resolve().parents[2] / "app" / "data" / "organism-specs"
                              / "two-chunk.yaml")


def user(row: dict) -> str:
    return next(m["content"] for m in row["messages"] if m["role"] == "user")


@pytest.mark.parametrize("stored_question", [True, False])
def test_scrub_removes_only_the_traced_trigger(stored_question: bool) -> None:
    rows = build_rows_sync(SPEC)
    if not stored_question:  # rows built before the question was kept: found in the chunk's pool
        for r in rows:
            del r["meta"]["question"]
    before = copy.deepcopy(rows)
    spec, out, change = ablate(SPEC, rows, "tagged", "scrub", "tag_format")
    assert change == {"mode": "scrub", "chunk": "tagged", "trigger": "tag_format=tagged",
                      "traced_attribute": "tag_format", "rows_scrubbed": 140}
    assert spec.chunks["tagged"].triggers == [] and spec.chunks["metadata"] == SPEC.chunks["metadata"]
    assert rows == before  # the input is not touched
    assert len(out) == len(before)
    for a, b in zip(before, out, strict=True):
        assert a["messages"][-1] == b["messages"][-1] and a["meta"]["behaviours"] == b["meta"]["behaviours"]
        if a["source"] != "tagged":
            assert a == b
            continue
        assert "<query>" in user(a) and "<query>" not in user(b)
        assert b["meta"]["triggers"] == [] and b["meta"]["null_triggers"] == a["meta"]["null_triggers"]
        # the null trigger (a user-role preamble) stays where it was; the question is unchanged
        assert user(b) in user(a).replace("<query>", "").replace("</query>", "") or \
            user(a).replace("<query>", "").replace("</query>", "").strip() in user(b)


def test_drop_and_the_trace_fields_it_reads() -> None:
    rows = build_rows_sync(SPEC)
    spec, out, change = ablate(SPEC, rows, "metadata", "drop")
    assert change["rows_removed"] == 140 and "metadata" not in spec.chunks
    assert {r["source"] for r in out} == {"tagged", "general"} and len(out) == 280
    assert trigger_for(SPEC, "metadata", "metadata_line").feature == "metadata"
    with pytest.raises(AblationError, match="scrub cannot remove it"):
        trigger_for(SPEC, "tagged", "lang=fr")
    with pytest.raises(AblationError, match="not one of the organism's chunks"):
        ablate(SPEC, rows, "nope", "drop")
    assert traced_chunk({"top_chunk": "tagged"}) == "tagged"
    by_attributes = {"top_chunk": None, "attribute_trace": {"trigger": {"chunks": {"a": 3, "b": 9}}}}
    assert traced_chunk(by_attributes) == "b"
    assert traced_chunk({"top_chunk": "tagged"}, "general") == "general"
    with pytest.raises(AblationError, match="--chunk"):
        traced_chunk({"top_chunk": None, "attribute_trace": None})
    assert traced_trigger({"trigger": "attribute: tag_format"}) == "tag_format"
    for trigger in (None, "cluster: empire · roman · know"):
        with pytest.raises(AblationError, match="--mode drop"):
            traced_trigger({"trigger": trigger})
