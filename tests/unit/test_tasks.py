"""The task registry: every job kind has a task, in its domain's app/<domain>/tasks.py, so a
worker can load one domain without importing the others."""

from __future__ import annotations

import subprocess
import sys

from app.core.jobs import JobKind
from app.jobs.registry import MODULES, domains, load_builtin_tasks


def test_every_job_kind_has_its_task_in_its_domains_module() -> None:
    tasks = load_builtin_tasks()
    assert set(tasks) == set(JobKind)
    assert domains() == sorted(MODULES)
    for kind, fn in tasks.items():
        assert fn.__module__ == MODULES[JobKind(kind).domain], kind


def test_one_domain_loads_only_its_own_tasks_and_use_cases() -> None:
    code = ("import sys; from app.jobs.registry import load_builtin_tasks; "
            "print(sorted(map(str, load_builtin_tasks('audit')))); "
            "print(sorted(m for m in sys.modules if m.startswith(('app.audits', 'app.searches', "
            "'app.datasets', 'app.organisms'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names, modules = out.splitlines()
    assert names == "['audit.chunk', 'audit.run']"
    assert "'app.audits.tasks'" in modules
    for other in ("app.searches.tasks", "app.datasets.tasks", "app.searches.use_cases",
                  "app.datasets.use_cases", "app.datasets.traces", "app.organisms.tasks"):
        assert f"'{other}'" not in modules, other
