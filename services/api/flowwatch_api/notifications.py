"""``/v1/notification-routes`` and ``/v1/notifications``: where alerts are sent, and what was sent.

Routes (``flowwatch.notifications.models.RouteSpec``: match by severity, type and processor; one channel: webhook,
DingTalk, WeCom, Feishu, Lark or e-mail) are read and written by admin and SOC analyst keys only (platform and
regulator keys: 403). Every write leaves an audit record (``notification_route.put`` / ``.delete``, target
type ``notification_route``) with the masked channel, never the secret. A stored secret is never served
(``has_secret``), nor a URL's credentials (query string, bot token: masked). When the channel kind is unchanged,
a PUT without ``channel.secret`` keeps the stored secret and a PUT with the masked URL as served keeps the
stored URL, so a route can be edited without re-entering either. The notifier (``flowwatch_notifier``) reads
the routes within ``FLOWWATCH_NOTIFY_ROUTES_REFRESH`` seconds.

``GET /v1/notifications`` lists the delivery records: one per alert, severity and route, with every try;
``state=dead_lettered`` is the dead-letter path of deliveries whose last try failed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel

from flowwatch.audit import AuditRecord, write_audit
from flowwatch.notifications import store
from flowwatch.notifications.models import (
    ROUTE_ID_PATTERN,
    Notification,
    NotificationState,
    Route,
    RouteSpec,
    RouteView,
    mask_url,
    view_of,
)
from flowwatch.settings import ApiSettings
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, actor_of
from flowwatch_api.deps import AnalystPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import ExactPage, search_page, sort_on

router = APIRouter(tags=["notifications"], route_class=AuthFirstRoute, responses={
    **BAD_REQUEST, 403: {"description": "Only admin and soc_analyst keys read and manage notifications."}})

RouteIdPath = Annotated[str, Path(pattern=ROUTE_ID_PATTERN, description="Route id: a-z, 0-9, `_.-`, ≤ 63.")]
SORT = sort_on("created_at", "notification_id")


class RoutesList(BaseModel):
    """Every notification route, by id."""

    items: list[RouteView]


class NotificationsPage(ExactPage[Notification]):
    """One page of notification records, newest first."""


def _audit(es: Elasticsearch, settings: ApiSettings, principal: Principal, action: str, route_id: str,
           details: dict[str, Any]) -> None:
    write_audit(es, settings.es_index_prefix, AuditRecord(
        actor=actor_of(principal), action=action, target_type="notification_route", target_id=route_id,
        details=details))


@router.get("/v1/notification-routes", response_model=RoutesList, summary="List notification routes")
def list_routes(
    _principal: AnalystPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> RoutesList:
    """Every route (secrets never included). Admin and SOC analyst keys. Raises 403, 503."""
    return RoutesList(items=[view_of(r) for r in store.load_routes(es, settings.es_index_prefix)])


@router.get("/v1/notification-routes/{route_id}", response_model=RouteView, summary="One notification route",
            responses={404: {"description": "No such route."}})
def get_route(
    route_id: RouteIdPath,
    _principal: AnalystPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> RouteView:
    """The route ``route_id``. Raises 403, 404, 503."""
    route = store.get_route(es, settings.es_index_prefix, route_id)
    if route is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="route not found")
    return view_of(route)


@router.put("/v1/notification-routes/{route_id}", response_model=RouteView,
            summary="Create or replace a notification route (audited)",
            responses={201: {"model": RouteView, "description": "Created."}})
def put_route(
    route_id: RouteIdPath,
    spec: RouteSpec,
    principal: AnalystPrincipal,
    response: Response,
    es: EsDep,
    settings: SettingsDep,
) -> RouteView:
    """Store the route (200 replaced, 201 created) and an audit record. Raises 403, 422, 503."""
    prefix = settings.es_index_prefix
    before = store.get_route(es, prefix, route_id)
    channel = spec.channel
    if before is not None and before.channel.kind == channel.kind:
        if channel.url == mask_url(before.channel.url):  # the masked URL as served: keep the stored one
            channel = channel.model_copy(update={"url": before.channel.url})
        if channel.secret is None:
            channel = channel.model_copy(update={"secret": before.channel.secret})
    route = Route(**{**spec.model_dump(), "channel": channel}, route_id=route_id,
                  updated_at=datetime.now(UTC), updated_by=principal.name or principal.key_id)
    created = store.put_route(es, prefix, route)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    _audit(es, settings, principal, "notification_route.put", route_id, {
        "created": created, "enabled": route.enabled, "kind": channel.kind, "url": mask_url(channel.url),
        "match": route.match.model_dump(mode="json"), "language": route.language,
        "secret_changed": spec.channel.secret is not None})
    return view_of(route)


@router.delete("/v1/notification-routes/{route_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Delete a notification route (audited)", response_class=Response,
               responses={204: {"description": "Deleted.", "content": {"text/plain": {"schema": {"type": "string"}}}},
                          404: {"description": "No such route."}})
def delete_route(
    route_id: RouteIdPath,
    principal: AnalystPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> Response:
    """Delete the route and write an audit record. Raises 403, 404, 503."""
    if not store.delete_route(es, settings.es_index_prefix, route_id):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="route not found")
    _audit(es, settings, principal, "notification_route.delete", route_id, {})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/notifications", response_model=NotificationsPage,
            summary="Search notification records (delivered, dead-lettered, sending)")
def list_notifications(
    _principal: AnalystPrincipal,
    es: EsDep,
    settings: SettingsDep,
    state: Annotated[list[NotificationState] | None, Query(description="sending, delivered, dead_lettered.")]
    = None,
    route_id: Annotated[list[str] | None, Query(description="Route id; repeatable.")] = None,
    alert_id: Annotated[str | None, Query(max_length=200, description="Alert id.")] = None,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeatable.")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> NotificationsPage:
    """Notification records matching every given filter, newest first. Raises 400, 403, 422, 503."""
    filters: list[dict[str, Any]] = []
    for field, values in (("state", state), ("route_id", route_id), ("processor_id", processor_id)):
        if values:
            filters.append({"terms": {field: list(values)}})
    if alert_id is not None:
        filters.append({"term": {"alert_id": alert_id}})
    page = search_page(es, store.notifications_index(settings.es_index_prefix), filters, SORT, size, cursor)
    return NotificationsPage(items=[Notification.model_validate(h["_source"]) for h in page.hits],
                             next_cursor=page.next_cursor, total=page.total)
