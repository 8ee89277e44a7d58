"""The architecture holds: the core imports neither FastAPI nor SQLAlchemy; services no FastAPI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = {"app/core": ("fastapi", "starlette", "sqlalchemy", "alembic"),
         "app/services": ("fastapi", "starlette"),
         "workers": ("fastapi", "starlette")}


def imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("folder", sorted(RULES))
def test_banned_imports(folder: str) -> None:
    files = list((ROOT / folder).rglob("*.py"))
    assert files
    bad = {str(f.relative_to(ROOT)): sorted(imports(f) & set(RULES[folder])) for f in files}
    assert {k: v for k, v in bad.items() if v} == {}
