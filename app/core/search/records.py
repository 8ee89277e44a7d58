"""SURF's attribute records: one per training query (`{prompt, response, sae_attributes: [...],
attributes: [...], normalized_weights, source, id}`), read from JSONL or Parquet as a user
downloads them. Held as Arrow columns and numpy codes, not Python objects, so a million records
stay compact: each distinct attribute text once, each record a slice of int32 codes.

Attributes are identified by their text: the id is derived from it (a slug and a hash), stable
across files and runs, and valid as a confirmation audit's feature name."""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.core.search.attributes import Attribute
from app.core.surf.loader import json_lines
from app.core.surf.spec import SpecFileError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

DEFAULT_COLUMN = "sae_attributes"
RECORDS_FILE, TEXTS_FILE = "records.arrow", "attributes.arrow"


def attribute_id(text: str) -> str:
    """`query-is-wrapped-in-xml-tags-3f9a1c0d`: readable, and the same text always gives it."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    if words and words[0] == "the":
        words = words[1:]
    slug = "-".join(words)[:40].strip("-") or "attribute"
    return f"{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


@dataclass
class RecordPool:
    texts: pa.Array  # distinct attribute texts; a code is an index into it
    offsets: np.ndarray  # int64, n_records + 1: record i's codes are codes[offsets[i]:offsets[i+1]]
    codes: np.ndarray  # int32, distinct within a record
    prompts: pa.Array | None  # the records' `prompt`, for held-out confirmation prompts
    source: str
    column: str
    seen: dict[str, Attribute] = field(default_factory=dict)  # id → attribute, for those drawn

    @property
    def n_records(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_attributes(self) -> int:
        return len(self.texts)

    def record(self, i: int) -> list[int]:
        return self.codes[self.offsets[i]:self.offsets[i + 1]].tolist()

    def attribute(self, code: int) -> Attribute:
        text = str(self.texts[code].as_py())
        a = Attribute(attribute_id(text), text)
        return self.seen.setdefault(a.id, a)

    def code_of(self, text: str) -> int | None:
        import pyarrow.compute as pc

        found = pc.index(self.texts, text).as_py()
        return None if found is None or found < 0 else int(found)

    def prompt(self, i: int) -> str | None:
        if self.prompts is None:
            return None
        value = self.prompts[i].as_py()
        return value if isinstance(value, str) and value.strip() else None

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "column": self.column, "records": self.n_records,
                "attributes": self.n_attributes, "with_prompts": self.prompts is not None}

    def held_out(self, avoid: list[str], n: int, seed: int, max_chars: int) -> list[str]:
        """Up to n distinct record prompts for a confirmation, preferring records that carry none
        of the attributes (texts) being confirmed: a prompt that already has one blurs its effect."""
        if self.prompts is None:
            return []
        codes = {c for c in map(self.code_of, avoid) if c is not None}
        order = list(range(self.n_records))
        random.Random(f"held|{seed}").shuffle(order)
        clean: list[str] = []
        carrying: list[str] = []
        taken: set[str] = set()
        for i in order:
            p = self.prompt(i)
            if p is None or p in taken or len(p) > max_chars:
                continue
            taken.add(p)
            (carrying if codes.intersection(self.record(i)) else clean).append(p)
            if len(clean) >= n:
                break
        return (clean + carrying)[:n]

    def save(self, directory: Path) -> None:
        """Arrow IPC files the worker memory-maps: written once when the search is created."""
        import pyarrow as pa

        directory.mkdir(parents=True, exist_ok=True)
        lists = pa.LargeListArray.from_arrays(pa.array(self.offsets, pa.int64()), pa.array(self.codes))
        cols = {"codes": lists, **({"prompt": self.prompts} if self.prompts is not None else {})}
        meta = {b"source": self.source.encode(), b"column": self.column.encode()}
        _write(directory / RECORDS_FILE, pa.table(cols).replace_schema_metadata(meta))
        _write(directory / TEXTS_FILE, pa.table({"text": self.texts}))

    @classmethod
    def load(cls, directory: Path) -> RecordPool:
        import numpy as np
        import pyarrow as pa

        table = pa.ipc.open_file(pa.memory_map(str(directory / RECORDS_FILE))).read_all()
        texts = pa.ipc.open_file(pa.memory_map(str(directory / TEXTS_FILE))).read_all()["text"]
        lists = table["codes"].combine_chunks()
        meta = table.schema.metadata or {}
        return cls(texts.combine_chunks(), np.asarray(lists.offsets), np.asarray(lists.values),
                   table["prompt"].combine_chunks() if "prompt" in table.column_names else None,
                   meta.get(b"source", b"").decode(), meta.get(b"column", b"").decode())


def _write(path: Path, table: pa.Table) -> None:
    import pyarrow as pa

    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def is_record_file(path: Path, column: str) -> bool:
    """Parquet (or a folder of it) is always records; JSONL is records when its first object has
    the attribute column, and surfturf's one-attribute-per-line pool when it has `attribute`/`text`."""
    if path.is_dir() or path.suffix == ".parquet":
        return True
    for n, row in json_lines(path):
        if not isinstance(row, dict):
            raise SpecFileError(f"{path}:{n}: a line is a JSON object")
        if column in row:
            return True
        if "attribute" in row or "text" in row:
            return False
        raise SpecFileError(f"{path}:{n}: neither an attribute record (no `{column}`; another column "
                            f"is chosen with attribute_column / --attribute-column) nor a pool line "
                            f"(`attribute` or `text`); keys: {sorted(row)[:12]}")
    raise SpecFileError(f"{path}: empty")


def read_records(path: Path, column: str = DEFAULT_COLUMN) -> RecordPool:
    """JSONL, Parquet, or a folder of either (a downloaded dataset's data/ folder)."""
    import pyarrow as pa

    files = sorted(p for p in path.iterdir() if p.suffix in (".parquet", ".jsonl")) if path.is_dir() \
        else [path]
    if not files:
        raise SpecFileError(f"{path}: no .parquet or .jsonl files in this folder")
    tables = [_parquet(f, column) if f.suffix == ".parquet" else _jsonl(f, column) for f in files]
    return from_table(pa.concat_tables(tables, promote_options="permissive"), str(path), column)


def from_rows(rows: list[dict[str, Any]], column: str, source: str = "inline") -> RecordPool:
    """Records sent inline (the API): the same checks and form as a file's."""
    import pyarrow as pa

    for n, row in enumerate(rows):
        _check_row(row, column, f"attribute_records[{n}]")
    table = pa.Table.from_pylist(
        [{"prompt": r.get("prompt"), column: r.get(column)} for r in rows],
        schema=pa.schema([("prompt", pa.string()), (column, pa.list_(pa.string()))]))
    return from_table(table, source, column)


def _check_row(row: Any, column: str, where: str) -> None:
    if not isinstance(row, dict):
        raise SpecFileError(f"{where}: a record is a JSON object")
    value = row.get(column)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise SpecFileError(f"{where}: {column}: a list of attribute texts, got {type(value).__name__}")
    if row.get("prompt") is not None and not isinstance(row["prompt"], str):
        raise SpecFileError(f"{where}: prompt: text, got {type(row['prompt']).__name__}")


def _parquet(path: Path, column: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
    except (pa.ArrowException, OSError) as exc:
        raise SpecFileError(f"{path}: not a readable Parquet file: {exc}") from None
    if column not in names:
        raise SpecFileError(f"{path}: no `{column}` column (has {names[:12]}); choose another with "
                            "attribute_column / --attribute-column")
    table = pq.read_table(path, columns=[c for c in (column, "prompt") if c in names])
    if not pa.types.is_list(table.schema.field(column).type) and \
            not pa.types.is_large_list(table.schema.field(column).type):
        raise SpecFileError(f"{path}: column `{column}` holds {table.schema.field(column).type}, not "
                            "lists of attribute texts")
    return table


def _jsonl(path: Path, column: str) -> pa.Table:
    """Arrow's multi-threaded JSON reader, told to read only the two columns (SURF's records carry
    other fields whose types vary); a line it refuses is found by a plain scan and named."""
    import pyarrow as pa
    from pyarrow import json as pajson

    schema = pa.schema([("prompt", pa.string()), (column, pa.list_(pa.string()))])
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore",
                                  newlines_in_values=False)
    try:
        return pajson.read_json(str(path), parse_options=options,
                                read_options=pajson.ReadOptions(block_size=16 << 20))
    except pa.ArrowException as exc:
        _locate(path, column)
        raise SpecFileError(f"{path}: not readable as attribute records: {exc}") from None


def _locate(path: Path, column: str) -> None:
    for n, row in json_lines(path):
        _check_row(row, column, f"{path}:{n}")


def from_table(table: pa.Table, source: str, column: str) -> RecordPool:
    """Distinct texts (stripped, empties dropped) become codes; duplicates within a record go;
    records left with no attribute go (SURF skips them too)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = table[column].combine_chunks()
    # codes are found on the raw strings (one int32 each) and only the distinct texts are trimmed
    # and merged: no second copy of every attribute string is made (peak memory at 1M records)
    flat = pc.list_flatten(lists)
    raw = pc.unique(flat)
    trimmed = pc.utf8_trim_whitespace(raw)
    texts = pc.unique(trimmed.filter(pc.fill_null(pc.greater(pc.utf8_length(trimmed), 0), False)))
    remap = np.asarray(pc.fill_null(pc.index_in(trimmed, value_set=texts), -1), dtype=np.int64)
    raw_codes = np.asarray(pc.fill_null(pc.index_in(flat, value_set=raw), 0), dtype=np.int64)
    valid = np.asarray(flat.is_valid(), dtype=bool) & (remap[raw_codes] >= 0) if len(raw) else \
        np.zeros(len(flat), dtype=bool)
    parents = np.asarray(pc.list_parent_indices(lists))[valid]
    width = max(1, len(texts))
    keys = parents.astype(np.int64) * width + remap[raw_codes[valid]]
    del raw_codes, valid
    keys.sort()  # by record, then code; a radix-friendly sort, not np.unique's hashing (8x slower)
    keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if len(keys) else keys
    rec, codes = keys // width, (keys % width).astype(np.int32)
    counts = np.bincount(rec, minlength=len(lists))
    records = np.flatnonzero(counts)
    if len(records) == 0:
        raise SpecFileError(f"{source}: no record has any attribute in `{column}`")
    offsets = np.concatenate([[0], np.cumsum(counts[records])]).astype(np.int64)
    prompts = None
    if "prompt" in table.column_names:
        prompts = table["prompt"].combine_chunks()
        if len(records) != len(prompts):  # records without attributes went
            prompts = prompts.take(pa.array(records))
        if prompts.null_count == len(prompts):
            prompts = None
    return RecordPool(texts, offsets, codes, prompts, source, column)
