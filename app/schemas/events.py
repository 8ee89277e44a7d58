"""Webhook event payloads, version 1: `{type, timestamp, data}` as Standard Webhooks recommends.

The JSON Schema of `Event` is published at docs/webhook-events.schema.json (a test keeps it in
step). New fields may be added within a version; a removed or retyped field means version 2."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from app.core.surf.compare_report import ChangeFinding
from app.core.surf.report import Example, TargetRef, Totals

EVENT_SCHEMA_VERSION: Literal[1] = 1


class EventType(StrEnum):
    audit_miscalibrated = "audit.miscalibrated"
    audit_completed = "audit.completed"
    audit_failed = "audit.failed"
    audit_regressed = "audit.regressed"
    dataset_ready = "dataset.ready"
    dataset_failed = "dataset.failed"
    trace_completed = "trace.completed"
    trace_failed = "trace.failed"
    search_completed = "search.completed"
    search_failed = "search.failed"
    webhook_test = "webhook.test"


class AuditLinks(BaseModel):
    audit: str = Field(description="API path of the audit (status, summary).")
    report: str = Field(description="API path of the full report.")
    samples: str = Field(description="API path of every sample (NDJSON).")


class ExamplePair(BaseModel):
    baseline: Example | None = Field(description="A baseline-level sample without the behaviour.")
    trigger: Example | None = Field(description="A trigger-level sample showing it.")


class FindingSummary(BaseModel):
    feature: str
    level: str
    baseline: str
    behaviour: str
    effect: float | None = Field(description="Mean per-prompt rate difference, level − baseline.")
    ci_low: float | None
    ci_high: float | None
    ci_adj_low: float | None = Field(description="FCR-adjusted interval (the verdict reads it).")
    ci_adj_high: float | None
    q_value: float
    verdict: str
    example: ExamplePair


class AuditEventData(BaseModel):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    audit_id: str
    name: str = Field(description="The probe spec's name.")
    target: TargetRef
    totals: Totals | None = Field(default=None, description="Samples planned, taken, failed.")
    miscalibrated: list[FindingSummary] = Field(
        default_factory=list, description="Flagged findings on pairs the spec does not declare "
        "relevant (audit.miscalibrated, audit.completed).")
    findings: int = Field(default=0, description="Findings in the report.")
    flagged: int = 0
    error: str | None = Field(default=None, description="audit.failed: why.")
    links: AuditLinks


class RegressedEventData(BaseModel):
    """audit.regressed: a finding grew against the baseline audit the audit was started with."""

    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    audit_id: str
    baseline_audit_id: str
    name: str = Field(description="The probe spec's name.")
    target: TargetRef
    grew: list[ChangeFinding] = Field(description="Findings whose paired difference (this audit − "
                                      "the baseline) was selected and lies wholly above +min_effect.")
    links: AuditLinks
    compare: str = Field(description="API path of the whole comparison.")


class DatasetEventData(BaseModel):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    dataset_id: str
    name: str
    rows: int = 0
    error: str | None = None
    link: str


class TraceEventData(BaseModel):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    trace_id: str
    dataset_id: str
    behaviour: str
    top_chunk: str | None = None
    trigger: str | None = None
    statement: str | None = None
    error: str | None = None
    link: str


class DiscoverySummary(BaseModel):
    attribute: str
    text: str
    search_rank: int
    mean_score: float | None
    confirmed: bool | None = Field(description="Flagged (an increase) by the confirmation audit; "
                                   "null when no confirmation ran.")
    effect: float | None = None


class SearchEventData(BaseModel):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    search_id: str
    name: str
    target: TargetRef
    discoveries: list[DiscoverySummary] = Field(default_factory=list, description="The attributes "
                                                "sent to confirmation, best first.")
    confirmed: int = 0
    confirmation_audit_id: str | None = None
    error: str | None = Field(default=None, description="search.failed: why.")
    link: str


class TestEventData(BaseModel):
    schema_version: Literal[1] = EVENT_SCHEMA_VERSION
    webhook_id: str
    message: str


class Event(BaseModel):
    """The body of every delivery."""

    type: EventType
    timestamp: datetime
    data: (AuditEventData | RegressedEventData | DatasetEventData | TraceEventData | SearchEventData
           | TestEventData)
