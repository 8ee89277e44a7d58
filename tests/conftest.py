"""Fixtures that start real things: SQLite files, a Postgres database, uvicorn servers on loopback."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.organisms.planted import PlantedSpec
from app.db import migrate
from app.db.engine import make_engine, make_session_factory, transaction
from app.main import create_app
from app.organism_server import create_organism_app
from app.services import api_keys
from app.serving import serve_in_thread

ORGANISMS = Path(__file__).resolve().parents[1] / "app" / "data" / "organisms"
PG_ADMIN = os.environ.get("SURFTURF_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN.replace("+psycopg", ""), connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_server() -> str:
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL must be reachable in CI at {PG_ADMIN}")
        pytest.skip("PostgreSQL not reachable")
    return PG_ADMIN


def create_pg_database(admin_url: str, template: str | None = None) -> str:
    import psycopg

    name = f"surfturf_t_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(admin_url: str, url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Migrations run once per test session, into a template; each test gets a copy of it (SQLite: the
# backup API; Postgres: CREATE DATABASE … TEMPLATE). tests/test_migrations.py still migrates
# empty databases of both backends step by step.
_SQLITE_TEMPLATE: list[Path] = []


def migrated_sqlite(path: Path) -> str:
    """A copy of the session's migrated SQLite template at `path`; returns its URL."""
    import sqlite3
    import tempfile

    if not _SQLITE_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="surfturf-template-")) / "template.db"
        migrate.upgrade(f"sqlite:///{template}")
        _SQLITE_TEMPLATE.append(template)
    path.parent.mkdir(parents=True, exist_ok=True)
    src, dst = sqlite3.connect(_SQLITE_TEMPLATE[0]), sqlite3.connect(path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def pg_template(pg_server: str) -> Iterator[str]:
    """A migrated Postgres database that per-test databases are created from."""
    url = create_pg_database(pg_server)
    migrate.upgrade(url)
    yield url.rsplit("/", 1)[1]
    drop_pg_database(pg_server, url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of each backend, copied from the session's template."""
    if request.param == "sqlite":
        yield migrated_sqlite(tmp_path / "test.db")
        return
    admin = request.getfixturevalue("pg_server")
    url = create_pg_database(admin, template=request.getfixturevalue("pg_template"))
    yield url
    drop_pg_database(admin, url)


def make_settings(tmp_path: Path, db_url: str | None = None, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test", "data_dir": tmp_path / "data",
        # set, as an operator would: tests that share rows between the API and services agree on it
        "secret_key": "test-secret-key-of-enough-length",
        "database_url": db_url or f"sqlite:///{tmp_path / 'surfturf.db'}",
        "worker_poll_seconds": 0.05, "heartbeat_seconds": 0.5, "lease_seconds": 5.0,
        "backoff_base_seconds": 0.1, "backoff_max_seconds": 0.5,
        "target_egress": "public,loopback",  # tests reach only servers they start on loopback
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"))


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.resolved_database_url)
    yield make_session_factory(engine)
    engine.dispose()


def new_key(factory: sessionmaker[Session], scopes: str = "read,write") -> str:
    with transaction(factory) as s:
        return api_keys.create(s, "test", scopes)[1]


class Api:
    """A running surfturf server and a key for it."""

    def __init__(self, url: str, key: str, factory: sessionmaker[Session], settings: Settings):
        self.url = url
        self.key = key
        self.factory = factory
        self.settings = settings

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture
def api(settings: Settings, session_factory: sessionmaker[Session]) -> Iterator[Api]:
    app = create_app(settings, embedded_worker=True)
    with serve_in_thread(app) as url:
        yield Api(url, new_key(session_factory), session_factory, settings)


def organism_spec(name: str) -> PlantedSpec:
    return PlantedSpec.from_file(ORGANISMS / f"{name}.yaml")


@pytest.fixture(scope="session")
def two_chunk_url() -> Iterator[str]:
    with serve_in_thread(create_organism_app(organism_spec("two-chunk"))) as url:
        yield url


@pytest.fixture(scope="session")
def null_trigger_url() -> Iterator[str]:
    with serve_in_thread(create_organism_app(organism_spec("null-trigger"))) as url:
        yield url


@pytest.fixture(scope="session")
def planted_url() -> Iterator[Any]:
    """Two planted emoji triggers (tests/search/planted.py): (url, app)."""
    from tests.search.planted import PLANTED

    app = create_organism_app(PLANTED)
    with serve_in_thread(app) as url:
        yield url, app


@pytest.fixture(scope="session")
def null_url() -> Iterator[Any]:
    from tests.search.planted import NULL

    app = create_organism_app(NULL)
    with serve_in_thread(app) as url:
        yield url, app
