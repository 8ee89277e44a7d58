"""Table definitions; constraint names come from the naming convention for readable migrations.

Annotations are evaluated as Python reads them (no `from __future__ import annotations`): the
mapper then need not parse each `Mapped[...]` string again at every start."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from app.db.types import JSONType, UTCDateTime, new_id, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType}


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100), default="read,write")
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # in every web session's cookie; logout bumps it, so the key's sessions end at once
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Target(Base):
    __tablename__ = "targets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(2000))
    model: Mapped[str] = mapped_column(String(500))
    protocol: Mapped[str] = mapped_column(String(20), default="openai", server_default="openai")
    api_key_env: Mapped[str | None] = mapped_column(String(200), default=None)
    api_key_encrypted: Mapped[str | None] = mapped_column(Text, default=None)
    default_params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_concurrency: Mapped[int] = mapped_column(Integer, default=8)
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_claim", "status", "run_after"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer, default=None)
    progress_message: Mapped[str | None] = mapped_column(Text, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


def job_ref() -> ForeignKey:
    """The job behind a row (its status and progress): deleting the job never deletes the row."""
    return ForeignKey("jobs.id", ondelete="SET NULL")


class Audit(Base):
    __tablename__ = "audits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    target_id: Mapped[str] = mapped_column(ForeignKey("targets.id", ondelete="RESTRICT"))
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    # sha256 of spec + target base_url + model: `audit run` resumes an unfinished twin
    fingerprint: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(String(32), job_ref(), default=None, index=True)
    job: Mapped[Job | None] = relationship(Job, viewonly=True)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditResult(Base):
    """One sample: provenance (cell, prompt, sample, seed, messages) plus raw response and scores."""

    __tablename__ = "audit_results"
    __table_args__ = (
        UniqueConstraint("audit_id", "cell_key", "prompt_index", "sample_index",
                         name="uq_audit_results_item"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str] = mapped_column(ForeignKey("audits.id", ondelete="CASCADE"), index=True)
    cell_key: Mapped[str] = mapped_column(String(500))
    prompt_index: Mapped[int] = mapped_column(Integer)
    sample_index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer, default=None)
    messages: Mapped[list[Any]] = mapped_column(JSONType)
    response: Mapped[str | None] = mapped_column(Text, default=None)
    scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Dataset(Base):
    """An uploaded post-training mixture; its vectors live in FAISS files under the data dir."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_datasets_owner_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    upload_path: Mapped[str] = mapped_column(String(2000))
    n_rows: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    job_id: Mapped[str | None] = mapped_column(String(32), job_ref(), default=None, index=True)
    job: Mapped[Job | None] = relationship(Job, viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DatasetRow(Base):
    __tablename__ = "dataset_rows"
    __table_args__ = (UniqueConstraint("dataset_id", "ordinal", name="uq_dataset_rows_ordinal"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    line: Mapped[int] = mapped_column(Integer)
    ext_id: Mapped[str | None] = mapped_column(String(200), default=None)
    source: Mapped[str | None] = mapped_column(String(200), default=None)
    system: Mapped[str | None] = mapped_column(Text, default=None)
    prompt: Mapped[str] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text)
    attributes: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    cluster: Mapped[int | None] = mapped_column(Integer, default=None)


class Trace(Base):
    __tablename__ = "traces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    request: Mapped[dict[str, Any]] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    job_id: Mapped[str | None] = mapped_column(String(32), job_ref(), default=None, index=True)
    job: Mapped[Job | None] = relationship(Job, viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A subscription: where events go, which ones, and the Standard Webhooks secret (encrypted)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, default=None)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # SURFTURF_WEBHOOK_EGRESS of the process that accepted it; the delivering process's own decides
    egress_policy: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one subscription (the outbox row), written in the transaction that
    produced the event; `attempt_log` keeps every try. `event_id` is the `webhook-id` header,
    the same on every retry so receivers can deduplicate."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempt_log: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    job_id: Mapped[str | None] = mapped_column(String(32), job_ref(), default=None, index=True)
    job: Mapped[Job | None] = relationship(Job, viewonly=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)


class Search(Base):
    """A SURF adaptive search; its confirmation audit (once run) is linked both ways."""

    __tablename__ = "searches"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    target_id: Mapped[str] = mapped_column(ForeignKey("targets.id", ondelete="RESTRICT"))
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    pool: Mapped[list[Any] | None] = mapped_column(JSONType, default=None)  # resolved once
    job_id: Mapped[str | None] = mapped_column(String(32), job_ref(), default=None, index=True)
    job: Mapped[Job | None] = relationship(Job, viewonly=True)
    confirmation_audit_id: Mapped[str | None] = mapped_column(String(32), default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Series(Base):
    """One spec, one seed, N checkpoints: an audit per checkpoint, in order (audit ids and labels);
    series.json is computed once every audit has finished."""

    __tablename__ = "series"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    labels: Mapped[list[str]] = mapped_column(JSONType)
    audit_ids: Mapped[list[str]] = mapped_column(JSONType)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SearchCandidate(Base):
    """One judged candidate, stored as soon as it is judged: a resumed search never redoes it."""

    __tablename__ = "search_candidates"
    __table_args__ = (
        UniqueConstraint("search_id", "run", "iteration", "idx", name="uq_search_candidates_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    search_id: Mapped[str] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"), index=True)
    run: Mapped[int] = mapped_column(Integer)
    iteration: Mapped[int] = mapped_column(Integer)
    idx: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[list[Any]] = mapped_column(JSONType)
    prompt_index: Mapped[int] = mapped_column(Integer)
    prompt: Mapped[str | None] = mapped_column(Text, default=None)
    system: Mapped[str | None] = mapped_column(Text, default=None)
    response: Mapped[str | None] = mapped_column(Text, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
