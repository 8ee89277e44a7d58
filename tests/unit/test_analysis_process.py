"""The analysis process: same report as in-process, a real child, replaced when it dies, gone at
shutdown, and off when the operator says so."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from app.audits import analysis_process
from app.core.surf.analysis import analyze
from app.core.surf.factorial import expand
from app.core.surf.report import AuditReport
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec, parse_cell_key


def pid(_: object) -> int:
    return os.getpid()


def analysed(args: tuple[ProbeSpec, list[Sample]]) -> AuditReport:
    spec, samples = args
    return analyze(spec, samples, total=len(samples), audit_id="a1")


def die_in_a_child(parent: int) -> str:
    """Kills the process it runs in, unless that is the test's own (the in-process fallback)."""
    if os.getpid() != parent:
        os._exit(3)
    return "analysed here"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    analysis_process.shutdown()
    yield
    analysis_process.shutdown()


def simulated() -> tuple[ProbeSpec, list[Sample]]:
    spec = ProbeSpec.model_validate({
        "name": "t", "prompts": [f"q{i}" for i in range(12)],
        "features": {"format": {"builtin": "tag_format"}}, "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 4}})
    rng = random.Random(5)
    samples = []
    for it in expand(spec):
        cell = parse_cell_key(it.cell_key)
        p = 0.6 if cell["format"] != spec.features["format"].baseline_level() else 0.2
        hit = rng.random() < p
        samples.append(Sample(cell, it.prompt_index, it.sample_index, [], "ok", {"emoji": {"elicited": hit}},
                              None))
    return spec, samples


def test_the_child_analyses_exactly_as_this_process_does() -> None:
    spec, samples = simulated()
    here = analyze(spec, samples, total=len(samples), audit_id="a1")
    there = analysis_process.run(analysed, (spec, samples))
    assert there.model_dump() == here.model_dump()
    assert analysis_process.run(pid, None) != os.getpid()


def test_a_dead_child_falls_back_here_and_is_replaced() -> None:
    analysis_process.warm()
    first = analysis_process.run(pid, None)
    assert analysis_process.run(die_in_a_child, os.getpid()) == "analysed here"
    second = analysis_process.run(pid, None)
    assert second not in (first, os.getpid())


def test_shutdown_reaps_the_child_and_disabled_stays_here() -> None:
    child = analysis_process.run(pid, None)
    analysis_process.shutdown()
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)
    assert analysis_process.run(pid, None, enabled=False) == os.getpid()
    analysis_process.warm(enabled=False)
    assert analysis_process.run(pid, None, enabled=False) == os.getpid()


def test_the_child_of_a_killed_worker_exits() -> None:
    """SIGKILL runs no shutdown; the child must notice on its own, not wait for work forever."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import time; from app.audits import analysis_process as a; "
         "from tests.unit.test_analysis_process import pid; print(a.run(pid, None), flush=True); "
         "time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    os.kill(child, 0)  # alive while its parent is
    parent.kill()
    parent.wait()
    if not _gone(child, 10):
        os.kill(child, signal.SIGKILL)
        raise AssertionError(f"analysis process {child} outlived its killed parent")


def _gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def scheduling(_: object) -> tuple[int, int, int]:
    return os.getpid(), os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)


def idle_round_trip(_: object) -> tuple[int, int]:
    """The initializer's two switches, made again in the child: into SCHED_IDLE and back."""
    assert analysis_process._policy(os.SCHED_IDLE)
    during = os.sched_getscheduler(0)
    assert analysis_process._policy(os.SCHED_OTHER)
    return during, os.sched_getscheduler(0)


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling policies")
def test_the_child_imports_idle_then_analyses_niced_below_sampling() -> None:
    """The child may enter SCHED_IDLE (its imports run there) and leave it; after its imports it
    is back on the normal policy, niced below this process, so an analysis is not starved by a
    busy worker."""
    analysis_process.warm(True)
    pid, policy, nice = analysis_process.run(scheduling, None)
    assert pid != os.getpid()
    assert policy == os.SCHED_OTHER and nice >= os.getpriority(os.PRIO_PROCESS, 0) + 10
    assert analysis_process.run(idle_round_trip, None) == (os.SCHED_IDLE, os.SCHED_OTHER)
