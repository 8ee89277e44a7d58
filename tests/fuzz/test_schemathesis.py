"""Schemathesis over the whole OpenAPI of a live server, with a valid key: no 5xx, no response
that contradicts the published schema. Bounded (examples per operation, fixed seed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from app.db import migrate
from app.db.engine import make_engine, make_session_factory
from app.main import create_app
from app.organism_server import create_organism_app
from app.serving import serve_in_thread
from tests.api.test_audits import SPEC, wait_for
from tests.conftest import Api, make_settings, new_key, organism_spec

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")


@pytest.mark.slow
def test_fuzzed_api_gives_no_server_errors_and_no_schema_violations(tmp_path: Path) -> None:
    # Loopback only: any URL the fuzzer invents for a target is resolved, classified and refused.
    settings = make_settings(tmp_path, target_egress="loopback", max_upload_bytes=1 << 20)
    migrate.upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    key = new_key(make_session_factory(engine))
    report = tmp_path / "report"
    with serve_in_thread(create_app(settings, embedded_worker=True)) as url, \
            serve_in_thread(create_organism_app(organism_spec("two-chunk"))) as organism:
        # Real resources, so path parameters reach the code behind them and not only 404s.
        api = Api(url, key, make_session_factory(engine), settings)
        tid = httpx.post(url + "/v1/targets", headers=api.headers, json={
            "name": "org", "base_url": organism + "/v1", "model": "two-chunk"}).json()["id"]
        created = httpx.post(url + "/v1/audits", headers=api.headers,
                             json={"target_id": tid, "spec": SPEC}).json()
        wait_for(api, created["id"])
        config = tmp_path / "schemathesis.toml"
        config.write_text(f'[parameters]\ntarget_id = "{tid}"\naudit_id = "{created["id"]}"\n'
                          f'job_id = "{created["job"]["id"]}"\n')
        proc = subprocess.run(
            [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
             f"{url}/openapi.json",
             "-H", f"Authorization: Bearer {key}", "--checks", CHECKS,
             "--max-examples", os.environ.get("SURFTURF_FUZZ_EXAMPLES", "100"), "--seed", "20261201",
             "--generation-database", "none", "--workers", "1", "--request-timeout", "20",
             "--phases", "examples,coverage,fuzzing", "--no-color", "--report", "junit",
             "--report-dir", str(report)],
            capture_output=True, text=True, timeout=900)
    engine.dispose()
    tail = proc.stdout[-6000:]
    print(tail)  # noqa: T201  (the figures: operations, test cases, failures; pytest -s)
    assert proc.returncode == 0, tail + proc.stderr[-2000:]
