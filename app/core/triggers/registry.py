"""Registry of built-in trigger features, keyed by stable ids that specs store."""

from __future__ import annotations

from collections.abc import Callable

from app.core.triggers.base import Level

FeatureFactory = Callable[[], dict[str, Level]]
FEATURES: dict[str, FeatureFactory] = {}


def feature(name: str) -> Callable[[FeatureFactory], FeatureFactory]:
    """Register a built-in feature; the factory's docstring is its user-facing description."""

    def register(fn: FeatureFactory) -> FeatureFactory:
        if not fn.__doc__:
            raise ValueError(f"feature {name!r} needs a docstring")
        FEATURES[name] = fn
        return fn

    return register


def get_feature_levels(name: str) -> dict[str, Level]:
    from app.core.triggers import builtins  # noqa: F401  (registers on import)

    if name not in FEATURES:
        raise KeyError(name)
    return FEATURES[name]()


def builtin_names() -> list[str]:
    from app.core.triggers import builtins  # noqa: F401

    return sorted(FEATURES)
