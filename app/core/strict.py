"""The base of every user-written document the core parses (probe specs, organism specs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a spec must fail loudly, not be ignored."""

    model_config = ConfigDict(extra="forbid")
