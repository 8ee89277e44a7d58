"""Run Alembic programmatically (serve runs upgrade; `surfturf db upgrade` too; readyz checks head).

Alembic is imported only when there is something to migrate: a database already at `HEAD`
(every restart) is recognised by one query, so start-up does not pay for the migration machinery.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.db.engine import ensure_sqlite_dir, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
HEAD = "0006"  # the newest revision in migrations/versions (tests/test_migrations.py checks it)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    ensure_sqlite_dir(url)
    if revision == "head":
        engine = make_engine(url)
        try:
            if current_revision(engine) == HEAD:
                return
        finally:
            engine.dispose()
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    """Alembic's own answer (the scripts), which `HEAD` must equal."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database; None for an empty one."""
    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # no alembic_version table yet: nothing migrated
            return None


def is_at_head(engine: Engine) -> bool:
    return current_revision(engine) == HEAD
