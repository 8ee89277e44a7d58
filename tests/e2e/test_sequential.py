"""A sequential audit, run by the audit.run use case against the planted organism over HTTP:
progress names the findings still open, and sampling stops once none is."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import Session, sessionmaker

from app.audits import tasks as audit_run
from app.audits import use_cases as audits
from app.config import Settings
from app.db.engine import transaction
from app.services import targets
from app.services.owners import Principal

SPEC = {
    "name": "sequential",
    "prompts": [f"Question {i}: how do tides work?" for i in range(10)],
    "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}},
                 "user_role": {"builtin": "user_role"}},
    "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
    "design": {"kind": "sequential", "samples_per_prompt": 30, "samples_per_round": 3, "seed": 8},
}


def test_progress_names_open_findings_until_every_one_is_decided(
        settings: Settings, session_factory: sessionmaker[Session], two_chunk_url: str) -> None:
    with transaction(session_factory) as s:
        target = targets.create(s, settings, {"name": "org", "base_url": two_chunk_url + "/v1",
                                              "model": "two-chunk"}, "tester")
        audit_id = audits.create(s, settings, target_id=target.id, spec=SPEC, who=Principal("tester")).id
    messages: list[str] = []

    async def record(done: int, total: int | None, message: str | None) -> None:
        messages.append(message or "")

    result = asyncio.run(audit_run.execute(session_factory, settings, audit_id, record))
    with transaction(session_factory) as s:
        report = audits.get(s, audit_id).report
    seq = report["sequential"]
    assert 1 < seq["rounds_run"] < seq["max_rounds"] == 10 and seq["open"] == []
    assert result["flagged"] == 1  # tagged → emoji; user_role and tags → sign-off are null
    opened = [m for m in messages if "findings open:" in m]
    assert opened and opened[0].startswith("round 2/10: ")
    assert any("user_role=expert→" in m or "format=tagged→signoff" in m for m in opened), opened
    assert report["totals"]["completed"] == 2 * 2 * 10 * 3 * seq["rounds_run"]
    decided = {f["decided_at_round"] for f in report["findings"]}
    assert max(decided) == seq["rounds_run"] and min(decided) == 1
