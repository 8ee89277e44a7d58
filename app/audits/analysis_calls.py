"""What the analysis process is asked to do, as typed calls: each request a frozen dataclass
(plain data that pickles), each entry point a module-level function taking one and returning a
typed result. `analysis_process.run(analyse, AnalyseRequest(...))` is checked like any call;
the statistics are imported inside the functions, so naming them here costs the caller nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.audits import sample_reader
from app.core.surf.report import AuditReport
from app.core.surf.spec import ProbeSpec


@dataclass(frozen=True)
class AnalyseRequest:
    database_url: str
    audit_id: str
    spec: ProbeSpec
    total: int
    target: dict[str, Any]
    usage: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None  # a sequential audit's reason for stopping


@dataclass(frozen=True)
class OpenFindingsRequest:
    database_url: str
    audit_id: str
    spec: ProbeSpec


@dataclass(frozen=True)
class OpenFindings:
    """A sequential audit's findings still open after a round, and the family's size."""

    names: list[str]
    family: int


def analyse(req: AnalyseRequest) -> AuditReport:
    from app.core.surf.analysis import analyze

    return analyze(req.spec, sample_reader.read(req.database_url, req.audit_id), audit_id=req.audit_id,
                   total=req.total, usage=req.usage, target=req.target, stopped=req.stopped)


def open_findings(req: OpenFindingsRequest) -> OpenFindings:
    from app.core.surf.analysis import open_members

    names, family = open_members(req.spec, sample_reader.read(req.database_url, req.audit_id))
    return OpenFindings(names=names, family=family)
