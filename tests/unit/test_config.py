"""Production refuses a missing, default or short secret (compose passes an empty one when unset)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.config import DEV_SECRET, Settings


@pytest.mark.parametrize("secret", ["", "short", DEV_SECRET])
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="SURFTURF_SECRET_KEY must be set in production"):
        Settings(env="production", secret_key=secret)


def test_production_takes_a_real_secret_and_development_needs_none() -> None:
    assert Settings(env="production", secret_key="a" * 32).secret_key == "a" * 32
    assert Settings(env="development").secret_key == DEV_SECRET
