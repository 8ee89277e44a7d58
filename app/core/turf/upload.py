"""A JSONL upload of post-training data, validated as it streams in.

Bounded work and memory whatever the input: a line is parsed as soon as it ends, a line over the
limit is dropped while it streams, and only the first `MAX_REPORTED_ERRORS` bad lines are kept
for the report (all are counted)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.core.turf.rows import BadLine, Row, parse_lines
from app.errors import PayloadTooLarge

MAX_REPORTED_ERRORS = 100


class UploadReceiver:
    """Feed bytes as they arrive; valid lines go to a file as parsed rows, bad lines are recorded
    by number. Each line is parsed here, once: ingest reads the rows back without re-validating.

    Each byte is looked at a bounded number of times whatever the line lengths (a 50 MB line
    costs what 50 MB of short lines cost), and a line over `max_line_bytes` is dropped as it
    streams, never held whole."""

    def __init__(self, folder: Path, *, max_line_bytes: int, max_upload_bytes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{uuid.uuid4().hex}.jsonl"
        self.max_line = max_line_bytes
        self.max_bytes = max_upload_bytes
        self._fh = self.path.open("wb")
        self._parts: list[bytes] = []
        self._pending_len = 0
        self._overlong = False
        self.received = 0
        self.line = 0
        self.good = 0
        self.bad: list[dict[str, Any]] = []
        self.n_bad = 0

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise PayloadTooLarge(f"upload exceeds {self.max_bytes} bytes (SURFTURF_MAX_UPLOAD_BYTES)",
                                  field="body")
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            self._append(piece)
            if nl < 0:
                return
            self._end_line()
            start = nl + 1

    def _append(self, piece: bytes) -> None:
        if self._overlong or not piece:
            return
        self._pending_len += len(piece)
        if self._pending_len > self.max_line:
            self._overlong, self._parts = True, []
        else:
            self._parts.append(piece)

    def _end_line(self) -> None:
        self.line += 1
        if self._overlong:
            self._record_bad(self.line, f"line longer than {self.max_line} bytes (SURFTURF_MAX_LINE_BYTES)")
        else:
            self._take(b"".join(self._parts))
        self._parts, self._pending_len, self._overlong = [], 0, False

    def close(self) -> None:
        if self._parts or self._overlong:
            self._end_line()
        self._fh.close()

    def _record_bad(self, line: int, error: str) -> None:
        self.n_bad += 1
        if len(self.bad) < MAX_REPORTED_ERRORS:
            self.bad.append({"line": line, "error": error})

    def _take(self, raw: bytes) -> None:
        for item in parse_lines([raw], start=self.line):
            if isinstance(item, BadLine):
                self._record_bad(item.line, item.error)
            else:
                self.good += 1
                self._fh.write(json.dumps({"line": self.line, **asdict(item)}).encode() + b"\n")

    def discard(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


def read_rows(path: Path) -> Iterator[tuple[int, Row]]:
    """(line number, row) of every valid line an `UploadReceiver` kept, in upload order."""
    with path.open("rb") as fh:
        for raw in fh:
            rec: dict[str, Any] = json.loads(raw)
            line = rec.pop("line")
            if "raw" in rec:  # written before rows were stored parsed: parse it now
                item = next(iter(parse_lines([rec["raw"]], start=line)))
                if isinstance(item, Row):
                    yield line, item
                continue
            yield line, Row(**rec)
