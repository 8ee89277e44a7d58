"""Pydantic validation at the service edge: the first error becomes a 422 naming its field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.text import find_unstorable
from app.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, *, prefix: str | None = None) -> M:
    """Also refuses text a database cannot store (NUL, lone surrogates) and absurd nesting."""
    found = find_unstorable(data)
    if found:
        loc = ".".join(p for p in (prefix, found[0]) if p) or "body"
        raise InvalidInput(f"{loc}: {found[1]}", field=loc)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"])) or "body"
        raise InvalidInput(f"{loc}: {err['msg']}", field=loc) from None
