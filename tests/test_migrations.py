"""Migrations: upgrade to head on an empty database, downgrade to base, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from app.db import migrate
from app.db.engine import make_engine
from app.db.tables import Base
from tests.conftest import create_pg_database, drop_pg_database


def roundtrip(url: str) -> None:
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        assert migrate.is_at_head(engine)
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        migrate.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(url)
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()


def test_sqlite_roundtrip(tmp_path: Path) -> None:
    roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


def test_head_constant_is_alembics_head_and_at_head_skips_alembic(tmp_path: Path) -> None:
    """Start-up trusts migrate.HEAD to skip Alembic on a migrated database: it must be the head
    of the scripts, and a database behind it must still be upgraded."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert migrate.HEAD == migrate.head_revision(url)
    migrate.upgrade(url, "0002")
    engine = make_engine(url)
    try:
        assert migrate.current_revision(engine) == "0002" and not migrate.is_at_head(engine)
        migrate.upgrade(url)
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_roundtrip(pg_server: str) -> None:
    url = create_pg_database(pg_server)
    try:
        roundtrip(url)
    finally:
        drop_pg_database(pg_server, url)


def test_models_match_migrations(tmp_path: Path) -> None:
    """Autogenerate finds nothing to add: the tables and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate.upgrade(url, from_models=False)
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def schema(url: str) -> dict[str, object]:
    """What the application relies on, per table, as SQLAlchemy reflects it."""
    engine = make_engine(url)
    try:
        insp = inspect(engine)
        out: dict[str, object] = {}
        for t in sorted(insp.get_table_names()):
            out[t] = {
                "columns": sorted((c["name"], str(c["type"]), c["nullable"], c.get("default"))
                                  for c in insp.get_columns(t)),  # migrations append columns
                "pk": insp.get_pk_constraint(t)["constrained_columns"],
                "fks": sorted((f["constrained_columns"], f["referred_table"], f["referred_columns"],
                               f.get("options", {}).get("ondelete")) for f in insp.get_foreign_keys(t)),
                "indexes": sorted((i["name"], i["column_names"], bool(i["unique"]))
                                  for i in insp.get_indexes(t)),
                "uniques": sorted((u["name"], u["column_names"]) for u in insp.get_unique_constraints(t)),
            }
        return out
    finally:
        engine.dispose()


def test_a_new_sqlite_database_built_from_the_models_equals_the_migrated_one(tmp_path: Path) -> None:
    """The embedded default's first run skips Alembic (create_all + stamp): same schema, at head,
    and later migrations (here: down to base and up again) still work on it."""
    built, migrated = f"sqlite:///{tmp_path / 'built.db'}", f"sqlite:///{tmp_path / 'migrated.db'}"
    migrate.upgrade(built)
    migrate.upgrade(migrated, from_models=False)
    assert schema(built) == schema(migrated)
    engine = make_engine(built)
    try:
        assert migrate.is_at_head(engine)
    finally:
        engine.dispose()
    roundtrip(built)
