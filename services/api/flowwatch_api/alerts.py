"""``/v1/alerts``: deadline alerts of incident obligations (search with cursor paging, one by id).

Reads ``<prefix>-alerts`` (written by the indexer from the incident agent's ``alerts`` topic), ANDed with
``auth.scope_filters``: a platform key sees only its processor's alerts; another processor's alert is a 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from elasticsearch import Elasticsearch
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from flowwatch.es_indices import alerts_index
from flowwatch.incidents.models import Alert, Severity
from flowwatch.rules.incident_pack import ObligationId
from flowwatch.settings import ApiSettings
from flowwatch_api.auth import CurrentPrincipal, app_es, app_settings, scope_filters
from flowwatch_api.findings import MAX_PAGE_SIZE
from flowwatch_api.query import search, search_page, sort_by, time_range

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

SORT = sort_by("raised_at", "alert_id")
AlertStatus = Literal["open", "acknowledged", "resolved", "suppressed"]


class AlertsPage(BaseModel):
    """One page of alerts, newest ``raised_at`` first. ``total`` counts every match (all pages)."""

    items: list[Alert]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    total: int = Field(ge=0)


@router.get("", response_model=AlertsPage, summary="Search alerts (newest first, cursor paging)")
def list_alerts(
    principal: CurrentPrincipal,
    es: Annotated[Elasticsearch, Depends(app_es)],
    settings: Annotated[ApiSettings, Depends(app_settings)],
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
    = None,
    incident_id: Annotated[str | None, Query(description="The processor's incident id.")] = None,
    type_: Annotated[
        list[str] | None,
        Query(alias="type", description="e.g. obligation_due_soon, obligation_overdue; repeatable."),
    ] = None,
    severity: Annotated[list[Severity] | None, Query(description="critical, high, medium, low; repeatable.")]
    = None,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status", description="Alert status; repeatable.")]
    = None,
    obligation: Annotated[list[ObligationId] | None, Query(description="Obligation id; repeatable.")] = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339; raised_at >= from (inclusive).")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; raised_at < to (exclusive).")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> AlertsPage:
    """Alerts matching every given filter (AND; repeated values of one filter OR), newest first. Every
    role may read; platform keys see only their processor.

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    for field, values in (
        ("processor_id", processor_id), ("type", type_), ("severity", [str(s) for s in severity or []]),
        ("status", status_), ("obligation", obligation),
    ):
        if values:
            filters.append({"terms": {field: list(values)}})
    if incident_id is not None:
        filters.append({"term": {"incident_id": incident_id}})
    filters += time_range("raised_at", from_, to)
    hits, next_cursor, total = search_page(es, alerts_index(settings.es_index_prefix), filters, SORT, size, cursor)
    return AlertsPage(items=[Alert.model_validate(h["_source"]) for h in hits], next_cursor=next_cursor, total=total)


@router.get(
    "/{alert_id}",
    response_model=Alert,
    summary="One alert by id",
    responses={404: {"description": "No such alert visible to this key."}},
)
def get_alert(
    alert_id: str,
    principal: CurrentPrincipal,
    es: Annotated[Elasticsearch, Depends(app_es)],
    settings: Annotated[ApiSettings, Depends(app_settings)],
) -> Alert:
    """The alert ``alert_id``. Raises 404 when it does not exist OR belongs to a processor the key may not
    read (same answer, so existence does not leak across tenants); 503 when Elasticsearch is down."""
    filters = [{"term": {"alert_id": alert_id}}, *scope_filters(principal)]
    resp = search(es, alerts_index(settings.es_index_prefix), query={"bool": {"filter": filters}}, size=1)
    hits = resp["hits"]["hits"]
    if not hits:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="alert not found")
    return Alert.model_validate(hits[0]["_source"])
