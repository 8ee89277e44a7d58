"""/v1/webhooks: signed notifications when an audit finds miscalibration (and other events)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.webhooks import (
    DeliveryList,
    DeliveryRead,
    WebhookCreate,
    WebhookList,
    WebhookRead,
    WebhookSecret,
    WebhookUpdate,
)
from app.webhooks import use_cases as service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=ERROR_RESPONSES)


@router.post("", status_code=201)
def webhooks_create(body: WebhookCreate, session: SessionDep, settings: SettingsDep, who: Writer
                    ) -> WebhookSecret:
    """The response carries the signing secret; it is never shown again."""
    data = {**body.model_dump(mode="json"), "url": str(body.url)}
    row, secret = service.create(session, settings, data, who)
    return WebhookSecret(**WebhookRead.model_validate(row).model_dump(), secret=secret)


@router.get("")
def webhooks_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> WebhookList:
    rows = service.list_webhooks(session, who, limit=limit, offset=offset)
    return WebhookList(items=[WebhookRead.model_validate(r) for r in rows])


@router.get("/{webhook_id}")
def webhooks_get(webhook_id: str, session: SessionDep, who: Reader) -> WebhookRead:
    return WebhookRead.model_validate(service.get(session, webhook_id, who))


@router.patch("/{webhook_id}")
def webhooks_update(webhook_id: str, body: WebhookUpdate, session: SessionDep, settings: SettingsDep,
                    who: Writer) -> WebhookRead:
    patch = body.model_dump(mode="json", exclude_unset=True)
    if body.url is not None:
        patch["url"] = str(body.url)
    return WebhookRead.model_validate(service.update(session, settings, webhook_id, patch, who))


@router.delete("/{webhook_id}", status_code=204)
def webhooks_delete(webhook_id: str, session: SessionDep, who: Writer) -> Response:
    service.delete(session, webhook_id, who)
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate-secret")
def webhooks_rotate_secret(webhook_id: str, session: SessionDep, settings: SettingsDep, who: Writer
                           ) -> WebhookSecret:
    row, secret = service.rotate_secret(session, settings, webhook_id, who)
    return WebhookSecret(**WebhookRead.model_validate(row).model_dump(), secret=secret)


@router.post("/{webhook_id}/test", status_code=202)
def webhooks_test(webhook_id: str, session: SessionDep, settings: SettingsDep, who: Writer
                  ) -> DeliveryRead:
    """Queue a `webhook.test` event to this subscription only."""
    return DeliveryRead.model_validate(service.send_test(session, settings, webhook_id, who))


@router.get("/{webhook_id}/deliveries")
def webhooks_deliveries(webhook_id: str, session: SessionDep, who: Reader,
                        limit: int = Query(100, ge=1, le=1000),
                        offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> DeliveryList:
    rows = service.deliveries(session, webhook_id, who, limit=limit, offset=offset)
    return DeliveryList(items=[DeliveryRead.model_validate(r) for r in rows])


@router.post("/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202)
def webhooks_redeliver(webhook_id: str, delivery_id: str, session: SessionDep, settings: SettingsDep,
                       who: Writer) -> DeliveryRead:
    """The same event, same `webhook-id`, on a fresh retry schedule."""
    return DeliveryRead.model_validate(service.redeliver(session, settings, webhook_id, delivery_id, who))
