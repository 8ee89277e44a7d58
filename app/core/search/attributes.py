"""The attribute pool: read from SURF's JSONL, the research's built-in features, or inline; and
how a candidate's attributes become a prompt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from app.core.search.spec import AttributeSpec, SearchSpec
from app.core.surf.loader import json_lines
from app.core.surf.spec import SpecFileError
from app.core.triggers.base import IDENTITY, RewriteLevel, TemplateLevel
from app.core.triggers.registry import FEATURES, get_feature_levels


@dataclass(frozen=True)
class Attribute:
    id: str
    text: str
    category: str | None = None
    template: str | None = None
    system: str | None = None

    @property
    def deterministic(self) -> bool:
        """Applied by template/system alone; otherwise the query model writes it in."""
        return self.template is not None or self.system is not None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def from_specs(specs: list[AttributeSpec]) -> list[Attribute]:
    return [Attribute(a.id, a.text, a.category, a.template, a.system) for a in specs]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """SURF's pool format: one JSON object per line with its text (`attribute` or `text`) and an
    optional `category`; ours may add `id`, `template`, `system`. Errors name file and line."""
    out: list[dict[str, Any]] = []
    for n, row in json_lines(path):
        if not isinstance(row, dict):
            raise SpecFileError(f"{path}:{n}: an attribute is a JSON object")
        text = row.pop("attribute", None) or row.pop("text", None)
        if not isinstance(text, str) or not text.strip():
            raise SpecFileError(f"{path}:{n}: attribute: needs its text (`attribute` or `text`)")
        item = {"id": row.pop("id", None) or f"a{len(out) + 1}", "text": text.strip(), **row}
        try:
            AttributeSpec.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "attribute"
            raise SpecFileError(f"{path}:{n}: {field}: {err['msg']}") from None
        out.append(item)
    if len(out) < 2:
        raise SpecFileError(f"{path}: a pool needs at least 2 attributes, found {len(out)}")
    return out


def builtin_pool() -> list[Attribute]:
    """Every non-baseline level of the research's ten features, as an attribute: templates stay
    deterministic, rewrites (language, dialect, topic) are written in by the query model."""
    get_feature_levels("tag_format")  # registers the built-ins
    pool = []
    for name in sorted(FEATURES):
        doc = (FEATURES[name].__doc__ or name).strip().rstrip(".")
        for level_name, lv in list(get_feature_levels(name).items())[1:]:  # the first is the baseline
            if lv is IDENTITY:
                continue
            aid, text = f"{name}.{level_name}", f"{doc}: {level_name}"
            if isinstance(lv, TemplateLevel):
                system = lv.system if isinstance(lv.system, str) else None
                template = lv.user if lv.user != "{prompt}" else None
                if template is None and system is None:
                    continue
                pool.append(Attribute(aid, text, name, template, system))
            elif isinstance(lv, RewriteLevel):
                pool.append(Attribute(aid, lv.instruction, name))
    return pool


def compose(attrs: list[Attribute], prompt: str) -> tuple[str, str | None]:
    """Templates wrap the prompt in pool order (the first is innermost); the last system wins."""
    user, system = prompt, None
    for a in attrs:
        if a.template is not None:
            user = a.template.replace("{prompt}", user)
        if a.system is not None:
            system = a.system
    return user, system


def split_prompts(spec: SearchSpec) -> tuple[list[str], list[str]]:
    """(prompts searched on, prompts the confirmation runs on): explicit confirm.prompts, or a
    fixed half of the seed prompts held out (by hash, so the split survives a resume)."""
    if spec.confirm.prompts is not None or not spec.confirm.top_k:
        return list(spec.seed_prompts), list(spec.confirm.prompts or [])

    def rank(p: str) -> str:
        return hashlib.sha256(f"{spec.seed}|{p}".encode()).hexdigest()

    ordered = sorted(spec.seed_prompts, key=rank)
    held = set(ordered[: len(ordered) // 2])
    return [p for p in spec.seed_prompts if p not in held], [p for p in spec.seed_prompts if p in held]
