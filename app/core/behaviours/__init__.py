"""Behaviour scorers: a response in, (elicited, score) out.

Add one by subclassing `Behaviour` and decorating it with `@behaviour("family.name")`;
third parties register through the `surfturf.behaviours` entry-point group.
"""

from app.core.behaviours.base import Behaviour, Score
from app.core.behaviours.registry import BEHAVIOURS, behaviour, build_behaviour, resolve_id

__all__ = ["BEHAVIOURS", "Behaviour", "Score", "behaviour", "build_behaviour", "resolve_id"]
