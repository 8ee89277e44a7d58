"""The CLI as a user meets it: Ctrl-C mid-audit, re-run to resume, list/show/cancel/export, JSON.

The target counts every request it receives, so "resumes with no duplicate target calls" is
checked where the calls land, not from our own bookkeeping."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.organism_server import create_organism_app
from app.serving import serve_in_thread
from tests.conftest import organism_spec

PREFLIGHT = "Reply with the single word OK."
SPEC = {"name": "resume-me", "prompts": [f"Why is the sky blue? ({i})" for i in range(10)],
        "features": {"format": {"builtin": "tag_format"}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 20, "concurrency": 4}}
WORK_ITEMS = 10 * 2 * 20


class Recorder:
    """ASGI wrapper keeping the body of every chat request the organism answers."""

    def __init__(self, app: Any) -> None:
        self.app, self.bodies = app, []  # type: list[dict[str, Any]]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []

        async def rx() -> Any:
            msg = await receive()
            if msg["type"] == "http.request":
                chunks.append(msg.get("body", b""))
                if not msg.get("more_body"):
                    self.bodies.append(json.loads(b"".join(chunks)))
            return msg

        return await self.app(scope, rx, send)

    def sample_calls(self) -> list[str]:
        return [json.dumps([b["messages"], b.get("seed")]) for b in self.bodies
                if b["messages"][-1]["content"] != PREFLIGHT]


@pytest.fixture()
def target() -> Iterator[tuple[str, Recorder]]:
    # 40 ms: the audit lasts seconds, so a busy machine's test loop still interrupts it mid-way
    rec = Recorder(create_organism_app(organism_spec("two-chunk"), latency_ms=40))
    with serve_in_thread(rec) as url:
        yield url + "/v1", rec


def cli(data: Path, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SURFTURF_DATA_DIR": str(data)}, **kw)


def test_ctrl_c_then_rerun_resumes_without_duplicate_calls(tmp_path: Path,
                                                          target: tuple[str, Recorder]) -> None:
    url, rec = target
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    data = tmp_path / "data"
    run = ["audit", "run", str(spec), "--target-url", url, "--target-model", "two-chunk"]
    # as from a terminal: Ctrl-C at its default, whatever this test process inherited (a child
    # keeps an ignored SIGINT across exec, and Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", *run], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "SURFTURF_DATA_DIR": str(data)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while len(rec.sample_calls()) < 60:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    said = [ln for ln in err.splitlines() if "interrupted" in ln]
    assert len(said) == 1 and "surfturf audit resume" in said[0], err
    audit_id = said[0].split()[1]
    first = len(rec.sample_calls())
    assert 60 <= first < WORK_ITEMS

    shown = json.loads(cli(data, "audit", "show", audit_id, "--json").stdout)
    assert shown["status"] == "interrupted" and shown["report"] is None  # not a deliberate cancel

    again = cli(data, *run, "--json", "--concurrency", "8")  # same spec, faster: still resumes it
    assert again.returncode == 0, again.stderr
    assert f"resuming audit {audit_id}" in again.stderr
    # the bar's rate counts this run's samples, not the stored ones it started from (the target
    # answers in 15 ms, so 8 lanes make at most ~530 samples/s)
    rates = [float(x) for x in re.findall(r"([\d.]+)sample/s", again.stderr)]
    assert rates and max(rates) < 2000, rates
    report = json.loads(again.stdout)
    assert report["audit_id"] == audit_id and report["totals"]["completed"] == WORK_ITEMS
    calls = rec.sample_calls()
    assert len(calls) == WORK_ITEMS and len(set(calls)) == WORK_ITEMS, "a sample was requested twice"

    listed = json.loads(cli(data, "audit", "list", "--json").stdout)
    assert [(a["id"], a["status"]) for a in listed] == [(audit_id, "completed")]
    exported = cli(data, "audit", "export", audit_id)
    assert len(exported.stdout.splitlines()) == WORK_ITEMS

    fresh = cli(data, *run, "--new", "--json")  # --new: a second audit, every sample again
    assert fresh.returncode == 0 and json.loads(fresh.stdout)["audit_id"] != audit_id
    assert len(rec.sample_calls()) == 2 * WORK_ITEMS


def test_resume_cancel_and_show_by_id(tmp_path: Path, target: tuple[str, Recorder]) -> None:
    url, rec = target
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "design": {"samples_per_prompt": 2, "concurrency": 4}}))
    data = tmp_path / "data"
    done = cli(data, "audit", "run", str(spec), "--target-url", url, "--target-model", "two-chunk",
               "--json")
    audit_id = json.loads(done.stdout)["audit_id"]
    resumed = cli(data, "audit", "resume", audit_id)
    assert resumed.returncode == 2 and "complete" in resumed.stderr
    assert len(resumed.stderr.strip().splitlines()) == 1
    cancelled = cli(data, "audit", "cancel", audit_id)
    assert cancelled.returncode == 2 and "succeeded" in cancelled.stderr
    table = cli(data, "audit", "show", audit_id)
    assert table.returncode == 0 and "completed" in table.stdout and "format" in table.stdout
    for argv in (["audit", "show", "nosuch"], ["audit", "resume", "nosuch"], ["datasets", "show", "nosuch"],
                 ["traces", "show", "nosuch"], ["keys", "create", "k", "--scopes", "rwx"]):
        r = cli(data, *argv)
        assert r.returncode == 2 and "Traceback" not in r.stderr, argv
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and argv[-1] in lines[0], (argv, r.stderr)
    version = cli(data, "--version")
    assert version.returncode == 0 and version.stdout.startswith("surfturf ")


def test_every_spec_error_is_reported_with_its_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: x\nprompts: [a, b]\nfeatures:\n  lang: {builtin: languge}\n"
                    "behaviours:\n  emoji: {builtin: emojj}\ndesign:\n  samples_per_prompt: -1\n")
    r = cli(tmp_path / "data", "audit", "run", str(spec), "--target-url", "http://127.0.0.1:9/v1",
            "--target-model", "m")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    for line, field in ((4, "features.lang"), (6, "behaviours.emoji"), (8, "design.samples_per_prompt")):
        assert f"bad.yaml:{line}: {field}" in r.stderr, r.stderr
