"""Load a search spec from a file (YAML or JSON), from SURF-style flags alone, or both: the flags
override the file. `attributes_file` and a rubric file are read relative to the spec (or the
working directory when there is none); surfturf's one-attribute-per-line pool is inlined, SURF's
attribute records stay a file the CLI reads (`records.read_records`). Every error names the file,
line and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.core.search.attributes import read_jsonl
from app.core.search.records import is_record_file
from app.core.search.spec import SearchSpec
from app.core.surf.loader import SpecFileError, line_of, located_errors, safe_yaml


def load_search_file(path: Path | None, overrides: dict[str, Any] | None = None) -> SearchSpec:
    """`overrides` are the command line's: top-level keys, with `budget` and `judge` merged."""
    base = path.parent if path is not None else Path.cwd()
    if path is None:
        data: Any = {}
        node: Any = None
    else:
        data, node = safe_yaml(path.read_text(encoding="utf-8"), str(path))
        if not isinstance(data, dict):
            raise SpecFileError(f"{path}:1: a search spec is a mapping")
    where = str(path) if path is not None else "the command line"
    for key, value in (overrides or {}).items():
        if key == "budget" and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        elif key == "judge" and isinstance(data.get(key), dict):  # --rubric replaces the judge's scorer
            data[key] = {**{k: v for k, v in data[key].items() if k not in ("rubric", "behaviour")}, **value}
        elif key == "attributes_file":  # a pool on the command line replaces the spec's, of any kind
            for other in ("attributes", "attribute_records", "attributes_from_dataset"):
                data.pop(other, None)
            data[key] = value
        else:
            data[key] = value
    from_flags = set(overrides or {})

    def line(*keys: str) -> str:
        return "" if path is None or keys[0] in from_flags else f":{line_of(node, keys)}"

    if isinstance(data.get("attributes_file"), str):
        pool = (Path.cwd() if "attributes_file" in from_flags else base) / data["attributes_file"]
        if not pool.exists():
            hub = "; surfturf reads no model hub: download the dataset and give its file or data/ " \
                  "folder" if "/" in data["attributes_file"] else ""
            raise SpecFileError(f"{where}{line('attributes_file')}: attributes_file {pool} not found{hub}")
        column = data.get("attribute_column") or "sae_attributes"
        if is_record_file(pool, str(column)):
            data["attributes_file"] = str(pool.resolve())
        else:
            data.pop("attributes_file")
            data["attributes"] = read_jsonl(pool)
    judge = data.get("judge")
    if isinstance(judge, dict) and isinstance(judge.get("rubric"), str):
        rubric = (Path.cwd() if "judge" in from_flags else base) / judge["rubric"]
        if not rubric.exists():
            raise SpecFileError(f"{where}{line('judge', 'rubric')}: rubric file {rubric} not found")
        judge["rubric"], _ = safe_yaml(rubric.read_text(encoding="utf-8"), str(rubric))
    if path is None and "name" not in data and not _rubric_names(judge):
        data["name"] = "search"
    try:
        return SearchSpec.model_validate(data)
    except ValidationError as exc:
        if path is None:
            raise SpecFileError("\n".join(f"{where}: {'.'.join(map(str, e['loc'])) or 'spec'}: {e['msg']}"
                                          for e in exc.errors())) from None
        raise SpecFileError("\n".join(located_errors(path, node, exc))) from None


def _rubric_names(judge: Any) -> bool:
    rubric = judge.get("rubric") if isinstance(judge, dict) else None
    return isinstance(rubric, dict) and bool(rubric.get("exp_name"))
