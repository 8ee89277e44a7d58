"""Run Alembic programmatically (serve runs upgrade; `surfturf db upgrade` too; readyz checks head).

Alembic is imported only when there is something to migrate: a database already at `HEAD`
(every restart) is recognised by one query, and a new SQLite database (the embedded default's
first run) is created from the models and stamped at `HEAD`, as Alembic's cookbook builds one from
scratch; tests/test_migrations.py checks that it equals the migrated schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from app.db.engine import ensure_sqlite_dir, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
HEAD = "0010"  # the newest revision in migrations/versions (tests/test_migrations.py checks it)


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, from_models: bool = True) -> None:
    """To `revision`; to head, a new SQLite file is built from the models unless `from_models` is
    off (Postgres always migrates: several processes may start on one new database at once)."""
    ensure_sqlite_dir(url)
    if revision == "head":
        engine = make_engine(url)
        try:
            current = current_revision(engine)
            if current == HEAD:
                return
            if from_models and current is None and _new_sqlite(engine):
                create_at_head(engine)
                return
        finally:
            engine.dispose()
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def _new_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite" and not inspect(engine).get_table_names()


def create_at_head(engine: Engine) -> None:
    """Every table from the models plus Alembic's own version table stamped at `HEAD`."""
    from app.db.tables import Base

    with engine.begin() as conn:
        Base.metadata.create_all(conn)
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                          "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
        conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": HEAD})


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
