"""The task registry: a task named `<domain>.<verb>` lives in workers/tasks/<domain>.py, so a
worker can load one domain without importing the others."""

from __future__ import annotations

import subprocess
import sys

from workers.tasks import domains, load_builtin_tasks


def test_each_task_lives_in_its_domains_module() -> None:
    tasks = load_builtin_tasks()
    assert sorted({name.split(".", 1)[0] for name in tasks}) == domains()
    assert {"audit", "webhook"} <= set(domains())
    for name, fn in tasks.items():
        assert fn.__module__ == f"workers.tasks.{name.split('.', 1)[0]}", name


def test_one_domain_loads_only_its_own_tasks_and_services() -> None:
    code = ("import sys; from workers.tasks import load_builtin_tasks; "
            "print(sorted(load_builtin_tasks('audit'))); "
            "print(sorted(m for m in sys.modules if m.startswith(('workers.tasks.', 'app.services.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names, modules = out.splitlines()
    assert names == "['audit.chunk', 'audit.run']"
    assert "workers.tasks.audit" in modules
    for other in ("workers.tasks.search", "workers.tasks.trace", "app.services.searches",
                  "app.services.datasets", "app.services.traces"):
        assert f"'{other}'" not in modules, other
