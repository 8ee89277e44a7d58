"""Level kinds: a template, an auditor-model rewrite, or an explicit per-prompt variant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

KEEP = object()  # sentinel: a template level that leaves the system prompt alone


@dataclass
class Rendered:
    """The messages of one sample, built up feature by feature."""

    user: str
    system: str | None = None
    variants: dict[str, dict[str, str]] | None = None

    def messages(self) -> list[dict[str, str]]:
        out = [{"role": "system", "content": self.system}] if self.system else []
        return [*out, {"role": "user", "content": self.user}]


class Rewriter(Protocol):
    async def rewrite(self, instruction: str, text: str) -> str: ...


class Level(Protocol):
    """One level of a feature; `stage` 0 runs before templates (rewrites change the question)."""

    @property
    def stage(self) -> int: ...

    async def apply(self, r: Rendered, rewriter: Rewriter | None) -> Rendered: ...

    def describe(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class TemplateLevel:
    """`{prompt}` is replaced by the current user text; `system` sets or clears the system prompt."""

    user: str = "{prompt}"
    system: object = KEEP
    stage: int = 1

    async def apply(self, r: Rendered, rewriter: Rewriter | None) -> Rendered:
        system = r.system if self.system is KEEP else self.system
        return Rendered(self.user.replace("{prompt}", r.user), system, r.variants)  # type: ignore[arg-type]

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {"kind": "template", "user": self.user}
        if self.system is not KEEP:
            out["system"] = self.system
        return out


@dataclass(frozen=True)
class RewriteLevel:
    """The auditor model rewrites the user text by an instruction (cached, temperature 0)."""

    instruction: str
    stage: int = 0

    async def apply(self, r: Rendered, rewriter: Rewriter | None) -> Rendered:
        if rewriter is None:
            raise RuntimeError("this level needs an auditor model: configure SURFTURF_AUDITOR_URL")
        return Rendered(await rewriter.rewrite(self.instruction, r.user), r.system, r.variants)

    def describe(self) -> dict[str, object]:
        return {"kind": "rewrite", "instruction": self.instruction}


@dataclass(frozen=True)
class VariantLevel:
    """Each prompt supplies its own text for this (feature, level); stage 0 replaces the question."""

    feature: str
    level: str
    stage: int = 0

    async def apply(self, r: Rendered, rewriter: Rewriter | None) -> Rendered:
        text = (r.variants or {}).get(self.feature, {}).get(self.level)
        if text is None:
            raise KeyError(f"prompt has no variant for {self.feature}={self.level}")
        return Rendered(text, r.system, r.variants)

    def describe(self) -> dict[str, object]:
        return {"kind": "variant", "feature": self.feature, "level": self.level}


IDENTITY = TemplateLevel()
