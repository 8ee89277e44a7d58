"""Shapes shared by every resource."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.text import find_unstorable
from app.errors import InvalidInput

MAX_OFFSET = 1_000_000_000  # beyond any table here, and within every database's integer range


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Body(BaseModel):
    """A request body: unknown keys are errors, and every string must be storable."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = find_unstorable(data)
        if found:  # raised past pydantic on purpose, so the 422 names the exact field
            raise InvalidInput(f"{found[0] or 'body'}: {found[1]}", field=found[0] or "body")
        return data


class ErrorBody(BaseModel):
    """Every error the API returns has this shape."""

    error: str = Field(description="Stable machine-readable code, e.g. not_found.")
    message: str = Field(description="What went wrong, for a person.")
    field: str | None = Field(default=None, description="The offending input field, if any.")
    details: list[dict[str, object]] | None = None


ERROR_DESCRIPTIONS = {
    400: "Malformed request (body not parseable).",
    401: "Missing or invalid API key.",
    403: "Key revoked or lacking the scope.",
    404: "No such resource (or another owner's).",
    409: "Conflicts with the resource's state.",
    413: "Request body over the operator's size limit.",
    422: "Invalid input; `field` names it.",
}

# Every route's errors, documented as JSON by reference to one ErrorBody schema (app.main puts it
# in the components). With `model=ErrorBody`, FastAPI built a pydantic TypeAdapter per status per
# route at import, ~300 of them, a tenth of `surfturf serve`'s start; a route whose success is
# HTML also needs the media type spelled out, or its errors would be documented as text/html.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"description": text, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    for code, text in ERROR_DESCRIPTIONS.items()}
