"""Webhook resource contract; the signing secret is shown once (on create and rotate)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, HttpUrl, field_validator

from app.schemas.common import Body, ORMModel
from app.schemas.events import EventType


class DeliveryStatus(StrEnum):
    pending = "pending"
    retrying = "retrying"
    delivered = "delivered"
    failed = "failed"
    abandoned = "abandoned"


class WebhookCreate(Body):
    url: HttpUrl = Field(description="Receiver; must pass SURFTURF_WEBHOOK_EGRESS (public only "
                         "by default), at creation and at every delivery.")
    events: list[EventType] = Field(min_length=1, description="Event types to receive.")
    description: str | None = Field(default=None, max_length=500)

    @field_validator("events")
    @classmethod
    def _unique(cls, v: list[EventType]) -> list[EventType]:
        return list(dict.fromkeys(v))


class WebhookUpdate(Body):
    url: HttpUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="true re-enables a disabled one "
                                 "(and resets its failure count).")


class WebhookRead(ORMModel):
    id: str
    url: str
    events: list[EventType]
    description: str | None
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (410, failures).")
    consecutive_failures: int
    egress_policy: str | None = Field(default=None, description="The egress policy the subscription "
                                      "was accepted under (SURFTURF_WEBHOOK_EGRESS of that process); "
                                      "each delivery is checked against the delivering process's.")
    created_at: datetime
    updated_at: datetime


class WebhookSecret(WebhookRead):
    secret: str = Field(description="Standard Webhooks signing secret `whsec_…`: shown only "
                        "now; verify deliveries with it.")


class WebhookList(BaseModel):
    items: list[WebhookRead]


class Attempt(BaseModel):
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status, if it answered.")
    latency_ms: float
    response: str | None = Field(description="The receiver's answer, truncated to 512 characters.")
    error: str | None = Field(description="Connection error, egress refusal, redirect, timeout.")


class DeliveryRead(ORMModel):
    id: str
    webhook_id: str
    event_id: str = Field(description="The `webhook-id` header: the same on every retry.")
    event_type: EventType
    status: DeliveryStatus
    attempts: int
    attempt_log: list[Attempt]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any] = Field(description="The event body (docs/webhook-events.schema.json).")


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
