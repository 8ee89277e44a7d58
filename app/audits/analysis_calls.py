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


def warm_up() -> None:
    """One read and one analysis of a small simulated audit, while the audit samples: the first
    of each builds what SQLAlchemy, pydantic, scipy and statsmodels build on first use, which
    would otherwise be done after sampling (what that buys: bench/README.md)."""
    import numpy as np

    from app.core.surf.analysis import analyze
    from app.core.surf.simulation import Scenario, draw
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.db.tables import Base

    engine = make_engine("sqlite://")
    try:
        Base.metadata.create_all(engine)
        with transaction(make_session_factory(engine)) as s:
            sample_reader.load(s, "")
    finally:
        engine.dispose()
    sc = Scenario(prompts=4)
    spec = sc.spec(2)
    analyze(spec, draw(sc, spec, np.random.default_rng(0)), total=spec.work_item_count(), n_boot=20)
