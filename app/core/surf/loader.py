"""Load a probe spec file (YAML or JSON); errors name the file, line and field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from app.core.limits import MAX_INT_DIGITS, MAX_NESTING, MAX_YAML_VALUES
from app.core.surf.spec import ProbeSpec, SpecFileError

__all__ = ["SpecFileError", "line_of", "load_spec_file", "located_errors", "safe_yaml"]

_INT_TAG = "tag:yaml.org,2002:int"


class _TooDeep(Exception):
    pass


def _expanded_size(root: yaml.Node, limit: int, where: str) -> int:
    """Nodes the document becomes once every alias is expanded, counted on the composed graph
    (aliases are shared references there), stopping as soon as the limit is passed."""
    memo: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        if depth > MAX_NESTING:
            raise _TooDeep
        key = id(node)
        if key in memo:
            return memo[key]
        n = 1
        if node.tag == _INT_TAG and len(str(node.value).lstrip("+-")) > MAX_INT_DIGITS:
            raise SpecFileError(f"{where}:{node.start_mark.line + 1}: an integer of "
                                f"{len(str(node.value))} digits (at most {MAX_INT_DIGITS})")
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                n += size(child, depth + 1)
                if n > limit:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k, depth + 1) + size(v, depth + 1)
                if n > limit:
                    break
        memo[key] = n
        return n

    return size(root, 0)


def safe_yaml(text: str, where: str) -> tuple[Any, yaml.Node | None]:
    """Parse YAML/JSON with the safe loader, refusing alias bombs and absurd nesting before any
    expansion happens. Returns the data and its node tree (for line numbers)."""
    too_deep = SpecFileError(f"{where}: nested too deeply (over {MAX_NESTING} levels)")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"{where}:{mark.line + 1}" if mark else where
        raise SpecFileError(f"{at}: not valid YAML/JSON: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:  # the composer recurses once per level: thousands of levels end here
        raise too_deep from None
    if node is None:
        return None, None
    try:
        n = _expanded_size(node, MAX_YAML_VALUES, where)
    except _TooDeep:
        raise too_deep from None
    if n > MAX_YAML_VALUES:
        raise SpecFileError(f"{where}: expands to over {MAX_YAML_VALUES} values once its aliases are "
                            "followed (a YAML alias bomb?)")
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise SpecFileError(f"{where}: not valid YAML/JSON: {exc}") from None
    finally:
        loader.dispose()


def line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            nxt = node.value[part]
        else:
            break
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line, read as it streams; bad JSON names the line."""
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except ValueError as exc:
                raise SpecFileError(f"{path}:{n}: invalid JSON: {exc}") from None


def _read_prompts(path: Path) -> list[Any]:
    if path.suffix == ".jsonl":
        return [value for _, value in json_lines(path)]
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def load_spec_file(path: Path) -> ProbeSpec:
    """Inlines `prompts_file` and judge rubric files (relative to the spec) before validating."""
    text = path.read_text(encoding="utf-8")
    data, node = safe_yaml(text, str(path))
    if not isinstance(data, dict):
        raise SpecFileError(f"{path}:1: a probe spec is a mapping")
    base = path.parent
    if "prompts_file" in data:
        pf = base / str(data.pop("prompts_file"))
        if not pf.exists():
            raise SpecFileError(f"{path}:{line_of(node, ('prompts_file',))}: prompts_file {pf} not found")
        data["prompts"] = list(data.get("prompts") or []) + _read_prompts(pf)
    for name, b in (data.get("behaviours") or {}).items():
        judge = b.get("judge") if isinstance(b, dict) else None
        if isinstance(judge, dict) and isinstance(judge.get("rubric"), str):
            rp = base / judge["rubric"]
            if not rp.exists():
                line = line_of(node, ("behaviours", name, "judge", "rubric"))
                raise SpecFileError(f"{path}:{line}: rubric file {rp} not found")
            judge["rubric"], _ = safe_yaml(rp.read_text(encoding="utf-8"), str(rp))
        if isinstance(b, dict) and isinstance(b.get("calibration"), str):
            cp = base / b["calibration"]
            line = line_of(node, ("behaviours", name, "calibration"))
            if not cp.exists():
                raise SpecFileError(f"{path}:{line}: calibration file {cp} not found")
            cal, _ = safe_yaml(cp.read_text(encoding="utf-8"), str(cp))
            counts = ("tp", "fn", "tn", "fp")
            if not isinstance(cal, dict) or not all(isinstance(cal.get(k), int) for k in counts):
                raise SpecFileError(f"{path}:{line}: {cp} is not a calibration (surfturf judge calibrate "
                                    "writes one: tp, fn, tn, fp)")
            b["calibration"] = {**{k: cal[k] for k in counts}, "source": str(b["calibration"])}
    try:
        return ProbeSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecFileError("\n".join(located_errors(path, node, exc))) from None


M = TypeVar("M", bound=BaseModel)


def load_model_file(path: Path, model: type[M]) -> M:
    """A YAML/JSON file validated as `model`; every error as `file:line: field: message`."""
    data, node = safe_yaml(path.read_text(encoding="utf-8"), str(path))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecFileError("\n".join(located_errors(path, node, exc))) from None


def located_errors(path: Path, node: yaml.Node | None, exc: ValidationError, limit: int = 50) -> list[str]:
    """Every error at once, each as `file:line: field: message`, in file order."""
    found: dict[str, tuple[int, str]] = {}
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(node, loc) or 1
        # a union reports each branch's complaint about the same field: keep the first
        found.setdefault(field, (line, f"{path}:{line}: {field}: {err['msg']}"))
    ordered = [msg for _, msg in sorted(found.values(), key=lambda x: x[0])]
    extra = len(ordered) - limit
    return ordered[:limit] + ([f"{path}: … and {extra} more"] if extra > 0 else [])


_UNION_TAGS = ("str", "PromptItem", "LevelDef")
