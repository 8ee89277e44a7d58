"""A newcomer's first hour, from the terminal (issue: no silent success, nothing to trip on).

Every command here is the real CLI in its own process, against real servers on loopback."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.responses import JSONResponse

from app.organism_server import create_organism_app
from app.serving import free_port, serve_in_thread
from tests.conftest import organism_spec
from tests.search.planted import POOL, SEEDS

PREFLIGHT = "Reply with the single word OK."
SPEC = {"name": "first-hour", "prompts": [f"Why is the sky blue? ({i})" for i in range(4)],
        "features": {"format": {"builtin": "tag_format"}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 2, "concurrency": 4}}


def cli(data: Path, *argv: str, env: dict[str, str] | None = None,
        pre: str = "") -> subprocess.CompletedProcess[str]:
    """`surfturf ARGV` in a process of its own; `pre` runs first in that process."""
    code = f"import sys\n{pre}\nfrom app.cli import main\nsys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "SURFTURF_DATA_DIR": str(data), **(env or {})})


def rows(data: Path, sql: str) -> list[Any]:
    with sqlite3.connect(data / "surfturf.db") as db:
        return db.execute(sql).fetchall()


def stored(data: Path, table: str) -> int:
    """Rows in `table`; 0 when the command never even made the database."""
    if not (data / "surfturf.db").exists():
        return 0
    return int(rows(data, f"SELECT count(*) FROM {table}")[0][0])


class FailingAfterPreflight:
    """An organism that answers the preflight and then errs on every sample (HTTP 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            return await self.app(scope, receive, send)
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        if PREFLIGHT in body.decode():
            sent = False

            async def replay() -> Any:
                nonlocal sent
                if sent:
                    return {"type": "http.disconnect"}
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        fire = JSONResponse({"error": {"message": "the GPU caught fire"}}, status_code=500)
        await fire(scope, receive, send)


def _search_spec(tmp_path: Path, **budget: Any) -> Path:
    spec = {"name": "dead", "seed_prompts": SEEDS, "attributes": POOL,
            "judge": {"behaviour": {"builtin": "emoji"}},
            "budget": {"iterations": 1, "candidates_per_iteration": 6, **budget},
            "confirm": {"top_k": 0}}
    path = tmp_path / "search.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def test_a_search_against_a_dead_target_fails_fast_with_the_targets_words(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    r = cli(tmp_path / "data", "search", "run", str(_search_spec(tmp_path)), "--target-url", dead,
            "--target-model", "m")
    assert r.returncode == 1, r.stderr[-1500:]
    assert "preflight" in r.stderr and "Connect" in r.stderr, r.stderr[-1500:]
    assert time.monotonic() - started < 60
    assert rows(tmp_path / "data", "SELECT status FROM jobs WHERE kind = 'search.run'") == [("failed",)]
    assert rows(tmp_path / "data", "SELECT count(*) FROM search_candidates") == [(0,)]


def test_a_search_whose_target_mostly_errs_ends_failed_not_completed(tmp_path: Path) -> None:
    app = FailingAfterPreflight(create_organism_app(organism_spec("two-chunk")))
    with serve_in_thread(app) as url:
        r = cli(tmp_path / "data", "search", "run", str(_search_spec(tmp_path)), "--target-url",
                url + "/v1", "--target-model", "two-chunk")
    assert r.returncode == 1, r.stderr[-1500:]
    assert "budget.max_error_rate" in r.stderr and "the GPU caught fire" in r.stderr, r.stderr[-1500:]
    assert "candidates" in r.stderr and "Traceback" not in r.stderr


def test_spec_names_are_checked_before_any_target_call(tmp_path: Path) -> None:
    """`=` and `|` would make cell keys ambiguous: refused with the file and line, nothing paid for."""
    spec = tmp_path / "spec.yaml"
    bad = {**SPEC, "features": {"a=b": {"levels": {"x": "{prompt}", "y": "<q>{prompt}</q>"}}},
           "behaviours": {"e|f": {"builtin": "emoji"}}}
    spec.write_text(yaml.safe_dump(bad, sort_keys=False), encoding="utf-8")
    r = cli(tmp_path / "data", "audit", "run", str(spec), "--target-url", "http://127.0.0.1:9/v1",
            "--target-model", "m")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert any(f"{spec}:8: features:" in ln and "'a=b'" in ln for ln in lines), r.stderr
    assert any(": behaviours:" in ln and "'e|f'" in ln for ln in lines), r.stderr


def test_yaml_bombs_of_depth_and_digits_are_clear_errors(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 10_000 + "]" * 10_000 + "\n", encoding="utf-8")
    digits = tmp_path / "digits.yaml"
    digits.write_text(yaml.safe_dump(SPEC).replace("samples_per_prompt: 2",
                                                   "samples_per_prompt: " + "9" * 5000), encoding="utf-8")
    for path, said in ((deep, "nested too deeply"), (digits, "digits")):
        r = cli(tmp_path / "data", "audit", "run", str(path), "--target-url", "http://127.0.0.1:9/v1",
                "--target-model", "m")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-800:]
        assert said in r.stderr and path.name in r.stderr, r.stderr


def test_a_template_that_multiplies_the_prompt_is_refused_naming_its_level(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    amplify = {**SPEC, "features": {"echo": {"levels": {"once": "{prompt}", "many": "{prompt}" * 3000}}}}
    spec.write_text(yaml.safe_dump(amplify), encoding="utf-8")
    r = cli(tmp_path / "data", "audit", "run", str(spec), "--target-url", "http://127.0.0.1:9/v1",
            "--target-model", "m")
    assert r.returncode == 2, r.stderr
    assert "features.echo.levels.many" in r.stderr and "SURFTURF_MAX_PROMPT_CHARS" in r.stderr, r.stderr


@pytest.fixture()
def target() -> Iterator[str]:
    with serve_in_thread(create_organism_app(organism_spec("two-chunk"))) as url:
        yield url + "/v1"


def test_cli_audits_are_seen_through_a_key_and_reuse_one_target(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    for _ in range(2):
        r = cli(data, "audit", "run", str(spec), "--target-url", target, "--target-model", "two-chunk",
                "--new")
        assert r.returncode == 0, r.stderr[-1500:]
        # base rates beside every effect: baseline level → this level
        assert "rate base→level" in r.stdout and "→" in r.stdout.splitlines()[3], r.stdout
    assert rows(data, "SELECT count(*) FROM targets") == [(1,)]  # one target, however many runs
    key = cli(data, "keys", "create", "alice")
    assert key.returncode == 0 and "owner: local" in key.stdout, key.stdout
    token = key.stdout.rsplit(": ", 1)[1].strip()
    from app.main import create_app
    from tests.conftest import make_settings

    settings = make_settings(tmp_path, f"sqlite:///{data / 'surfturf.db'}", data_dir=data)
    import httpx

    with serve_in_thread(create_app(settings, embedded_worker=False)) as url:
        listed = httpx.get(f"{url}/v1/audits", headers={"Authorization": f"Bearer {token}"}).json()
    assert len(listed["items"]) == 2


def test_an_unset_key_variable_is_an_error_and_stores_nothing(tmp_path: Path, target: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_KEY_VAR"}
    r = subprocess.run([sys.executable, "-m", "app.cli", "audit", "run", str(spec), "--target-url", target,
                        "--target-model", "two-chunk", "--target-api-key-env", "NO_SUCH_KEY_VAR"],
                       capture_output=True, text=True, timeout=120,
                       env={**env, "SURFTURF_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 2 and "NO_SUCH_KEY_VAR" in r.stderr and "not set" in r.stderr, r.stderr
    assert stored(tmp_path / "data", "audits") == 0 and stored(tmp_path / "data", "targets") == 0


def test_ingest_without_the_embedder_fails_before_storing_and_names_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    jsonl = tmp_path / "mix.jsonl"
    jsonl.write_text("\n".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) for i in range(5)),
                     encoding="utf-8")
    hidden = "sys.modules['sentence_transformers'] = None  # as if the embed extra were not installed"
    r = cli(data, "ingest", str(jsonl), "--name", "mix", pre=hidden)
    assert r.returncode == 2 and "make install-turf" in r.stderr, r.stderr
    assert stored(data, "datasets") == 0 and stored(data, "dataset_rows") == 0
    assert not (data / "uploads").exists() or not list((data / "uploads").iterdir())
    bad = cli(data, "ingest", str(jsonl), "--name", "..")
    assert bad.returncode == 2 and "'..'" in bad.stderr, bad.stderr


def test_the_secret_is_generated_once_per_data_dir_and_never_printed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "SURFTURF_SECRET_KEY"}
    first = subprocess.run([sys.executable, "-m", "app.cli", "audit", "list"], capture_output=True,
                           text=True, timeout=120, env={**env, "SURFTURF_DATA_DIR": str(data)})
    assert first.returncode == 0, first.stderr
    path = data / "secret.key"
    secret = path.read_text().strip()
    assert len(secret) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in first.stderr and secret not in first.stderr + first.stdout
    again = subprocess.run([sys.executable, "-m", "app.cli", "audit", "list"], capture_output=True,
                           text=True, timeout=120, env={**env, "SURFTURF_DATA_DIR": str(data)})
    assert again.returncode == 0 and "secret" not in again.stderr  # read, not made again
    assert path.read_text().strip() == secret


def test_each_subcommand_shows_its_own_flags_with_defaults(tmp_path: Path) -> None:
    top = cli(tmp_path, "--help")
    assert top.returncode == 0 and "report" in top.stdout and "exit codes" in top.stdout
    run = cli(tmp_path, "audit", "run", "--help").stdout
    assert "--target-url" in run and "--limit" not in run and "--samples SAMPLES" not in run
    resume = cli(tmp_path, "audit", "resume", "--help").stdout
    assert "--concurrency" in resume and "--target-url" not in resume
    serve = cli(tmp_path, "serve", "--help").stdout
    assert "127.0.0.1" in serve and "8000" in serve
    build = cli(tmp_path, "organism", "build", "--help").stdout
    assert "--answers" in build and "--latency-ms" not in build and "(default: model)" in build
    confirm = cli(tmp_path, "search", "confirm", "--help").stdout
    assert "--attributes" in confirm and "--target-url" not in confirm
    search_run = cli(tmp_path, "search", "run", "--help").stdout  # there, SURF's flag: the pool file
    assert "--attributes PATH" in search_run and "ID[,ID" not in search_run and "ID[,ID" in confirm
    redeliver = cli(tmp_path, "webhooks", "redeliver", "--help")
    assert redeliver.returncode == 0 and "DELIVERY_ID" in redeliver.stdout


def test_a_trace_of_a_finding_the_report_lacks_says_what_it_has(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"findings": [{"feature": "format", "behaviour": "emoji", "level": "tagged",
                                                "effect": 0.5}]}), encoding="utf-8")
    r = cli(tmp_path / "data", "trace", "--dataset", "mix", "--behaviour", "emoji", "--report", str(report),
            "--feature", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == ("error: no finding for feature 'nope' and behaviour 'emoji' in the report; "
                                "it has (feature/behaviour): format/emoji"), r.stderr
