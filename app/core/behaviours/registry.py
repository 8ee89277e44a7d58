"""Registry of behaviour scorers under stable ids like `lexical.emoji`."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from app.core.behaviours.base import Behaviour

BEHAVIOURS: dict[str, type[Behaviour]] = {}
_ALIASES: dict[str, str] = {}
_loaded = False


def behaviour(id_: str, *aliases: str) -> Callable[[type[Behaviour]], type[Behaviour]]:
    def register(cls: type[Behaviour]) -> type[Behaviour]:
        if not cls.__doc__:
            raise ValueError(f"behaviour {id_!r} needs a docstring")
        cls.id = id_
        cls.aliases = aliases
        BEHAVIOURS[id_] = cls
        for a in aliases:
            _ALIASES[a] = id_
        return cls

    return register


def _load() -> None:
    global _loaded
    if _loaded:
        return
    from app.core.behaviours import embedding, judge, lexical, style  # noqa: F401

    for ep in entry_points(group="surfturf.behaviours"):
        ep.load()
    _loaded = True


def resolve_id(name: str) -> str:
    """Accept the stable id or a short alias (`emoji` → `lexical.emoji`)."""
    _load()
    if name in BEHAVIOURS:
        return name
    if name in _ALIASES:
        return _ALIASES[name]
    raise KeyError(name)


def build_behaviour(name: str, params: dict[str, Any] | None = None, *, client: Any = None) -> Behaviour:
    """`client` (the auditor model) reaches only scorers that declare `needs_auditor`."""
    cls = BEHAVIOURS[resolve_id(name)]
    kwargs = dict(params or {})
    if cls.needs_auditor:
        kwargs["client"] = client
    return cls(**kwargs)


def all_ids() -> list[str]:
    _load()
    return sorted(BEHAVIOURS)
