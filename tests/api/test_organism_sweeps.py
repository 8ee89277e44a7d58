"""/v1/organism-sweeps without training anything: off by default, every bad sweep a 422 naming its
field, and a queued sweep read, listed, owned and cancelled. The sweep that trains and audits its
organisms over the API is tests/backends/test_organism_lab.py::test_sweep_over_the_api."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.db.engine import transaction
from app.main import create_app
from app.services import api_keys
from app.serving import serve_in_thread
from tests.conftest import Api, make_settings, migrated_sqlite, new_key

PROBE: dict[str, Any] = {
    "name": "p", "prompts": ["How do bees make honey?", "Why do cats purr?"],
    "features": {"format": {"builtin": "tag_format"}}, "behaviours": {"emoji": {"builtin": "emoji"}},
    "design": {"samples_per_prompt": 2}}


def sweep_doc(**axis: Any) -> dict[str, Any]:
    return {"name": "s", "answers": "template", "organism": "emoji-tags", "probe": PROBE,
            "sweep": {"axis": "presence", "chunk": "emoji", "feature": "tag_format", "level": "tagged",
                      "behaviour": "emoji", "values": [0.0, 1.0], **axis}}


def server(tmp_path: Path, **overrides: Any) -> Iterator[Api]:
    # no worker: nothing queued here is ever trained
    settings = make_settings(tmp_path, migrated_sqlite(tmp_path / "surfturf.db"), embedded_worker=False,
                             **overrides)
    app = create_app(settings, embedded_worker=False)
    with serve_in_thread(app) as url:
        factory = app.state.session_factory
        yield Api(url, new_key(factory), factory, settings)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Api]:
    yield from server(tmp_path, organism_sweeps=True, max_work_items=1000)


def post(api: Api, sweep: Any) -> httpx.Response:
    return httpx.post(api.url + "/v1/organism-sweeps", headers=api.headers, json={"sweep": sweep})


def test_off_unless_the_operator_enables_it(tmp_path: Path) -> None:
    for api in server(tmp_path):
        r = post(api, "presence-quick")
        assert r.status_code == 403 and "SURFTURF_ORGANISM_SWEEPS" in r.json()["message"], r.text
        jobs = httpx.get(api.url + "/v1/jobs", headers=api.headers).json()["items"]
        assert jobs == []


@pytest.mark.parametrize(("sweep", "field", "says"), [
    ("no-such-sweep", "sweep", "presence-quick"),
    ("../organism-specs/emoji-tags", "sweep", "not a shipped sweep"),
    ({**sweep_doc(), "organism": "../../etc/passwd"}, "sweep.organism", "not a shipped organism spec"),
    ({**sweep_doc(), "probe": "nosuch"}, "sweep.probe", "not a shipped probe spec"),
    (sweep_doc(chunk="nosuch"), "sweep.sweep.chunk", "not one of the organism's chunks"),
    (sweep_doc(values=[0.0, 2.0]), "sweep.sweep.values", "[0, 1]"),
    (sweep_doc(axis="sideways"), "sweep.sweep.axis", "presence"),
    (sweep_doc(behaviour="refusal"), "sweep.sweep.behaviour", "not a behaviour of the probe spec"),
    ({**sweep_doc(), "probe": {**PROBE, "design": {"samples_per_prompt": 400}}},
     "sweep.probe.design.samples_per_prompt", "at most 1000"),
])
def test_bad_sweeps_name_their_field(lab: Api, sweep: Any, field: str, says: str) -> None:
    r = post(lab, sweep)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and says in r.json()["message"], r.json()
    assert httpx.get(lab.url + "/v1/organism-sweeps", headers=lab.headers).json()["items"] == []


def test_a_queued_sweep_is_read_listed_owned_and_cancelled(lab: Api) -> None:
    r = post(lab, "presence-quick")
    assert r.status_code == 201, r.text
    body = r.json()
    sid = body["id"]
    assert body["status"] == "queued" and body["axis"] == "presence"
    assert body["trigger"] == "tag_format=tagged" and body["organisms"] == 4 and body["trend"] is None
    custom = post(lab, sweep_doc(seeds=2))
    assert custom.status_code == 201 and custom.json()["organisms"] == 4, custom.text

    listed = httpx.get(lab.url + "/v1/organism-sweeps", headers=lab.headers).json()["items"]
    assert {s["id"] for s in listed} == {sid, custom.json()["id"]}
    job = httpx.get(f"{lab.url}/v1/jobs/{sid}", headers=lab.headers).json()
    assert job["kind"] == "organism.sweep" and job["status"] == "queued"
    early = httpx.get(f"{lab.url}/v1/organism-sweeps/{sid}/result", headers=lab.headers)
    assert early.status_code == 409 and "poll GET" in early.json()["message"]
    assert httpx.get(f"{lab.url}/v1/organism-sweeps/{sid}/plot", headers=lab.headers).status_code == 409

    with transaction(lab.factory) as s:
        other = api_keys.create(s, "other", "read,write")[1]
    stranger = {"Authorization": f"Bearer {other}"}
    assert httpx.get(f"{lab.url}/v1/organism-sweeps/{sid}", headers=stranger).status_code == 404
    assert httpx.get(lab.url + "/v1/organism-sweeps", headers=stranger).json()["items"] == []
    # an audit's job is not a sweep
    assert httpx.get(f"{lab.url}/v1/organism-sweeps/nosuch", headers=lab.headers).status_code == 404
    assert httpx.get(f"{lab.url}/v1/organism-sweeps/{sid}").status_code == 401

    cancelled = httpx.post(f"{lab.url}/v1/organism-sweeps/{sid}/cancel", headers=lab.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    late = httpx.get(f"{lab.url}/v1/organism-sweeps/{sid}/result", headers=lab.headers)
    assert late.status_code == 409 and "cancelled without a result" in late.json()["message"]
