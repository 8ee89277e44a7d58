"""Remove what a trace blamed from a training mix, so the model can be retrained without it: the
paper's evidence that a trace is right. Kept lines are written back verbatim (byte for byte), and
a manifest says what went: which chunk, which rows, and the digests of both files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from app.core.turf.attributes import attributes
from app.core.turf.rows import parse_row

DataMode = Literal["drop", "carriers"]


class AblationError(ValueError):
    pass


def traced_chunk(trace: dict[str, Any], chunk: str | None = None) -> str:
    """The chunk to remove: the one given, else the trace's most enriched significant chunk, else
    where the attributes method's trigger cluster drew its hits from."""
    if chunk:
        return chunk
    if trace.get("top_chunk"):
        return str(trace["top_chunk"])
    trig = (trace.get("attribute_trace") or {}).get("trigger") or {}
    if trig.get("chunks"):
        return str(max(trig["chunks"].items(), key=lambda kv: kv[1])[0])
    raise AblationError("the trace blames no chunk (no significant chunk, no attribute-method trigger): "
                        "name one with --chunk")


def traced_trigger(trace: dict[str, Any]) -> str:
    """The trace's lexical trigger attribute (`attribute: tag_format` → `tag_format`); a prompt
    cluster is not something a prompt can be scrubbed of."""
    trig = trace.get("trigger")
    if not trig:
        raise AblationError("the trace names no trigger (its `trigger` is null): use --mode drop")
    family, _, name = str(trig).partition(": ")
    if family != "attribute" or not name:
        raise AblationError(f"the trace's trigger {trig!r} is not a lexical prompt attribute: only those "
                            "can be scrubbed or matched; use --mode drop")
    return name


@dataclass
class Manifest:
    chunk: str
    mode: str
    trigger: str | None
    rows_in: int = 0
    rows_out: int = 0
    removed: list[str] = field(default_factory=list)  # ids, or "line N" for rows without one
    digest_in: Any = field(default_factory=hashlib.sha256)
    digest_out: Any = field(default_factory=hashlib.sha256)

    def as_dict(self) -> dict[str, Any]:
        return {"chunk": self.chunk, "mode": self.mode, "trigger": self.trigger, "rows_in": self.rows_in,
                "rows_out": self.rows_out, "rows_removed": len(self.removed), "removed": self.removed,
                "sha256_in": self.digest_in.hexdigest(), "sha256_out": self.digest_out.hexdigest()}


def ablate_lines(lines: Iterable[bytes], manifest: Manifest, where: str = "input") -> Iterator[bytes]:
    """The lines to keep. drop: every row of the chunk goes; carriers: only the chunk's rows whose
    prompt carries the trigger attribute. A line that is not a row stops it, naming the line."""
    for n, raw in enumerate(lines, start=1):
        manifest.digest_in.update(raw)
        if not raw.strip():
            continue
        try:
            row = parse_row(json.loads(raw))
        except (ValueError, json.JSONDecodeError) as exc:
            raise AblationError(f"{where}:{n}: {exc}") from None
        manifest.rows_in += 1
        gone = row.source == manifest.chunk and (
            manifest.mode == "drop" or (manifest.trigger or "") in attributes(row))
        if gone:
            manifest.removed.append(row.ext_id or f"line {n}")
            continue
        line = raw if raw.endswith(b"\n") else raw + b"\n"
        manifest.digest_out.update(line)
        manifest.rows_out += 1
        yield line
