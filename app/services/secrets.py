"""Encrypt stored secrets (target API keys) with a key derived from SURFTURF_SECRET_KEY."""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING

from app.errors import SurfturfError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


def _fernet(secret_key: str) -> Fernet:
    """Imported here: only a target with a stored key needs it (~10 ms of every start)."""
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(("surfturf-secrets:" + secret_key).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(secret_key: str, plaintext: str) -> str:
    return _fernet(secret_key).encrypt(plaintext.encode()).decode()


def decrypt(secret_key: str, token: str) -> str:
    from cryptography.fernet import InvalidToken

    try:
        return _fernet(secret_key).decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SurfturfError("stored secret cannot be decrypted: was SURFTURF_SECRET_KEY changed?") from exc
