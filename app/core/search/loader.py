"""Load a search spec file (YAML or JSON): `attributes_file` (SURF's JSONL) and a rubric file
are read relative to it and inlined; every error names the file, line and field."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from app.core.search.attributes import read_jsonl
from app.core.search.spec import SearchSpec
from app.core.surf.loader import SpecFileError, line_of, located_errors, safe_yaml


def load_search_file(path: Path) -> SearchSpec:
    data, node = safe_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(data, dict):
        raise SpecFileError(f"{path}:1: a search spec is a mapping")
    if isinstance(data.get("attributes_file"), str):
        pool = path.parent / data.pop("attributes_file")
        if not pool.exists():
            raise SpecFileError(f"{path}:{line_of(node, ('attributes_file',))}: attributes_file "
                                f"{pool} not found")
        data["attributes"] = read_jsonl(pool)
    judge = data.get("judge")
    if isinstance(judge, dict) and isinstance(judge.get("rubric"), str):
        rubric = path.parent / judge["rubric"]
        if not rubric.exists():
            line = line_of(node, ("judge", "rubric"))
            raise SpecFileError(f"{path}:{line}: rubric file {rubric} not found")
        judge["rubric"], _ = safe_yaml(rubric.read_text(encoding="utf-8"), str(rubric))
    try:
        return SearchSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecFileError("\n".join(located_errors(path, node, exc))) from None
