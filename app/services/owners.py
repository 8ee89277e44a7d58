"""Who is asking: every resource belongs to an owner; other owners get 404, admins see all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from app.errors import NotFound

R = TypeVar("R")


@dataclass(frozen=True)
class Principal:
    owner: str
    admin: bool = False

    @property
    def scope(self) -> str | None:
        """The owner a listing is filtered by; None for admins (everything)."""
        return None if self.admin else self.owner


LOCAL = "local"  # owner of what the embedded CLI creates; workers pass who=None (no check)


def visible(row: R | None, who: Principal | None, what: str, ref: str) -> R:
    """The row, or NotFound: a row of another owner is indistinguishable from a missing one."""
    owner: Any = getattr(row, "owner", None)
    if row is None or (who is not None and not who.admin and owner != who.owner):
        raise NotFound(f"{what} {ref} not found")
    return row
