"""Pydantic validation at the service edge: the first error becomes a 422 naming its field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], data: Any, *, prefix: str | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(err["loc"])) or "body"
        raise InvalidInput(f"{loc}: {err['msg']}", field=loc) from None
