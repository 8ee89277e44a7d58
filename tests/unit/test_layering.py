"""The architecture holds, layer by layer (README, Architecture): core ← domains (use cases,
tasks) and shared services ← api / web / cli; app/jobs runs the domains' tasks; the worker
process (workers/) depends on app and nothing in app on it.

The core is pure domain code (no web framework, no database, no use case or API module); routers
reach storage only through use cases; the database layer never reaches up. Rules are module
prefixes, so `app.db` also bans `app.db.repositories.jobs`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ("fastapi", "starlette", "uvicorn")
DOMAINS = ("app.audits", "app.searches", "app.datasets", "app.webhooks", "app.organisms")
RULES: dict[str, tuple[str, ...]] = {
    "app": ("workers",),  # the worker process depends on app, never the other way round
    "app/core": (*WEB, "sqlalchemy", "alembic", "app.db", "app.services", "app.api", "app.schemas",
                 "app.main", "app.config", "app.embedded", "app.cli", "app.jobs", *DOMAINS),
    "app/services": (*WEB, "app.api", "app.main", "app.cli", "app.web", "app.jobs", *DOMAINS),
    **{d.replace(".", "/"): (*WEB, "app.api", "app.main", "app.cli", "app.web") for d in DOMAINS},
    "app/jobs": (*WEB, "app.api", "app.main", "app.cli", "app.web"),
    "app/api": ("app.db.repositories", "app.db.tables", "app.jobs", "app.cli"),
    "app/web": ("app.db.repositories", "app.db.tables", "app.jobs", "app.cli"),
    # commands reach storage through use cases (and app.embedded), like routers do
    "app/cli": ("app.db.repositories", "app.db.tables", "app.api"),
    "app/db": (*WEB, "app.services", "app.api", "app.schemas", "app.main", "app.jobs", *DOMAINS),
    "app/schemas": ("sqlalchemy", "app.db.repositories", "app.services", "app.api", "app.jobs", *DOMAINS),
    "workers": (*WEB, "app.api", "app.main"),
}


def imports(path: Path) -> set[str]:
    """Every absolute module an import statement names, at any depth (function-level included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def banned(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("folder", sorted(RULES))
def test_no_import_crosses_a_layer_boundary(folder: str) -> None:
    files = list((ROOT / folder).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): sorted(m for m in imports(f) if banned(m, RULES[folder]))
           for f in files}
    assert {k: v for k, v in bad.items() if v} == {}


def test_the_rules_catch_what_they_name(tmp_path: Path) -> None:
    """A rule that could never fire would pass silently: check the matcher on known imports."""
    src = tmp_path / "m.py"
    src.write_text("from app.db.repositories import jobs as jobs_repo\n"
                   "def f():\n    import fastapi.routing\n", encoding="utf-8")
    found = imports(src)
    assert banned("app.db.repositories.jobs", RULES["app/api"])
    assert {m for m in found if banned(m, RULES["app/core"])} == {
        "app.db.repositories", "app.db.repositories.jobs", "fastapi.routing"}
    assert not banned("app.dbx", ("app.db",))


def test_the_api_starts_without_the_scientific_stack() -> None:
    """`surfturf serve` answers /healthz fast because numpy, scipy, statsmodels, matplotlib and
    torch load only where an analysis, a plot or an embedding runs, and httpx where a client is
    made (issue 12's start-up target); the embedded worker's modules included."""
    import subprocess
    import sys

    probe = ("import sys, app.main, app.jobs.runner; print(','.join(m for m in ('numpy', 'scipy', "
             "'statsmodels', 'matplotlib', 'jinja2', 'torch', 'faiss', 'httpx') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=ROOT, timeout=60).stdout.strip()
    assert loaded == "", f"imported at start-up: {loaded}"
