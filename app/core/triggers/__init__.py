"""Trigger features: named prompt properties whose levels transform (system, user) messages.

Add a feature by decorating a function in `builtins.py` (or your own module) with
`@feature("name")`; it returns the feature's levels.
"""

from app.core.triggers.base import Level, Rendered, RewriteLevel, TemplateLevel, VariantLevel
from app.core.triggers.registry import FEATURES, feature, get_feature_levels

__all__ = [
    "FEATURES",
    "Level",
    "Rendered",
    "RewriteLevel",
    "TemplateLevel",
    "VariantLevel",
    "feature",
    "get_feature_levels",
]
