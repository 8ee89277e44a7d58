"""Encrypt stored secrets (target API keys, webhook secrets) with a key derived from
SURFTURF_SECRET_KEY, and make that secret when the operator gave none."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets as token
import time
from typing import TYPE_CHECKING

from app.errors import SurfturfError

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

    from app.config import Settings

log = logging.getLogger("surfturf.secrets")


def _fernet(secret_key: str) -> Fernet:
    """Imported here: only a target with a stored key needs it, not every start."""
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


SECRET_FILE = "secret.key"


def resolve(settings: Settings) -> Settings:
    """Settings with a real secret. Without SURFTURF_SECRET_KEY, the first process to need one
    generates a random secret into DATA_DIR/secret.key (mode 600) and every later CLI, server and
    worker process of that data dir reads the same file. Rows encrypted under the old built-in
    default are re-encrypted under the new secret when it is made. The path is said, never the
    secret."""
    from app.config import DEV_SECRET

    if settings.secret_key and settings.secret_key != DEV_SECRET:  # set by the operator
        return settings
    path = settings.data_dir / SECRET_FILE
    made = False
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: of two processes starting at once, one writes and both read its file
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(token.token_urlsafe(48))
            made = True
    secret = ""
    for _ in range(50):  # the writer of a file made a moment ago may not have written it yet
        secret = path.read_text(encoding="utf-8").strip()
        if secret:
            break
        time.sleep(0.02)
    if not secret:
        raise SurfturfError(f"{path} is empty: delete it, or set SURFTURF_SECRET_KEY")
    resolved = settings.model_copy(update={"secret_key": secret})
    if made:
        log.warning("generated a secret key into %s (mode 600); set SURFTURF_SECRET_KEY to use your "
                    "own", path)
        reencrypt_legacy(resolved, DEV_SECRET)
    return resolved


def reencrypt_legacy(settings: Settings, old_secret: str) -> int:
    """Stored target keys and webhook secrets that `old_secret` encrypted, encrypted again under
    the settings' secret; returns how many. A database not made yet has nothing to convert."""
    from cryptography.fernet import InvalidToken
    from sqlalchemy import inspect

    from app.db.engine import make_engine, make_session_factory, transaction
    from app.db.tables import Target, Webhook

    url = settings.resolved_database_url
    if url.startswith("sqlite:///") and not os.path.exists(url.removeprefix("sqlite:///")):
        return 0
    engine = make_engine(url)
    n = 0
    try:
        tables = set(inspect(engine).get_table_names())
        with transaction(make_session_factory(engine)) as s:
            for model, column in ((Target, "api_key_encrypted"), (Webhook, "secret_encrypted")):
                if model.__tablename__ not in tables:
                    continue
                for row in s.query(model).filter(getattr(model, column).is_not(None)):
                    try:
                        plain = _fernet(old_secret).decrypt(getattr(row, column).encode()).decode()
                    except InvalidToken:
                        continue  # not the old default's: leave it
                    setattr(row, column, encrypt(settings.secret_key, plain))
                    n += 1
    finally:
        engine.dispose()
    if n:
        log.warning("re-encrypted %d stored secrets under the new secret key", n)
    return n
