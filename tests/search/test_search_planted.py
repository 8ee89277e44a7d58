"""The SURF loop against planted organisms: it must find the two planted attributes among ten
decoys within its budget, and the confirmation audit must flag exactly those; on an organism
with no trigger, nothing is confirmed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from app.audits import use_cases as audits
from app.core.search.result import SearchResult
from app.db.engine import transaction
from app.db.tables import SearchCandidate, WebhookDelivery
from app.webhooks import use_cases as webhooks
from tests.search.planted import TESTER, run_to_end, search_spec, start

PLANTED = {"query_tag", "metadata"}


def test_search_ranks_both_planted_attributes_and_confirmation_flags_exactly_them(
        settings: Any, session_factory: Any, planted_url: Any, tmp_path: Path) -> None:
    url, organism = planted_url
    settings = settings.model_copy(update={"webhook_egress": "loopback"})
    with transaction(session_factory) as s:
        webhooks.create(s, settings, {"url": "http://127.0.0.1:9/h", "events": ["search.completed"]}, TESTER)
    before = organism.state.requests
    search_id, _ = start(settings, session_factory, url, "two-emoji-triggers", search_spec())
    doc = run_to_end(settings, session_factory, search_id)
    SearchResult.model_validate(doc)  # the published schema
    ranks = {r["attribute"]: r["rank"] for r in doc["ranking"]}
    seen = [(r["attribute"], round(r["mean_score"] or 0, 1), r["n"]) for r in doc["ranking"][:5]]
    assert ranks["query_tag"] <= 3 and ranks["metadata"] <= 3, seen  # measured: 1st and 2nd of 12
    assert doc["usage"]["candidates"] == doc["usage"]["target_calls"] <= 6 * 24
    assert len(doc["curve"]) == 6 and doc["usage"]["failures"] == {"query": 0, "judge": 0, "target": 0}
    top = doc["ranking"][0]
    assert top["ci_low"] <= top["mean_score"] <= top["ci_high"] and top["n"] >= 10
    conf = doc["confirmation"]
    assert conf["status"] == "completed" and conf["prompts"] == 6
    confirmed = {d["attribute"] for d in doc["discoveries"] if d["confirmed"]}
    assert confirmed == PLANTED, doc["discoveries"]
    for d in doc["discoveries"]:
        if d["attribute"] in PLANTED:
            assert d["effect"] > 0.25 and d["ci_low"] > 0.1 and d["verdict"] == "miscalibrated", d
        else:
            assert d["verdict"] != "miscalibrated" and abs(d["effect"]) < 0.15, d
    # linked both ways, one event, and the calls the organism saw are the search's plus the audit's
    with transaction(session_factory) as s:
        audit = audits.get(s, conf["audit_id"])
        assert audit.config["search_id"] == search_id and audit.report is not None
        assert s.scalar(select(func.count()).select_from(SearchCandidate)) == doc["usage"]["candidates"]
        assert s.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.event_type == "search.completed")) == 1
    planned_audit = audit.report["totals"]["work_items"]
    assert planned_audit == 8 * 6 * 10
    # + one preflight call each: the search's and its confirmation audit's
    assert organism.state.requests - before == doc["usage"]["target_calls"] + planned_audit + 2
    print(f"\nsearch: {doc['usage']['target_calls']} target calls, ranks query_tag "
          f"{ranks['query_tag']} metadata {ranks['metadata']} of {len(ranks)}; confirmation "
          f"({planned_audit} samples): " + "; ".join(
              f"{d['attribute']} {d['effect']:+.2f} [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] {d['verdict']}"
              for d in doc["discoveries"]))


def test_no_trigger_no_confirmed_discovery(settings: Any, session_factory: Any, null_url: Any) -> None:
    url, _ = null_url
    search_id, _ = start(settings, session_factory, url, "null", search_spec(name="null-search"))
    doc = run_to_end(settings, session_factory, search_id)
    assert doc["confirmation"]["status"] == "completed" and len(doc["discoveries"]) == 3
    assert not any(d["confirmed"] for d in doc["discoveries"]), doc["discoveries"]
    assert all(d["verdict"] != "miscalibrated" for d in doc["discoveries"])
