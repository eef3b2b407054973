"""``/v1/findings``: search findings (filters + cursor paging) and fetch one by id.

Every query is ANDed with ``auth.scope_filters(principal)``, so a platform key only sees its processor.
Paging uses ES ``search_after`` on ``[occurred_at desc, finding_id asc]``; the cursor is the urlsafe
base64 (unpadded) of the last hit's sort values, opaque to clients.
"""

from __future__ import annotations

from typing import Annotated, Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from flowwatch.es_indices import findings_pattern
from flowwatch.models import Finding
from flowwatch.settings import ApiSettings
from flowwatch_api.auth import CurrentPrincipal, app_es, app_settings, scope_filters
from flowwatch_api.query import iso_ms, search, search_page

router = APIRouter(prefix="/v1/findings", tags=["findings"])

MAX_PAGE_SIZE = 500
SORT: list[dict[str, Any]] = [
    {"occurred_at": {"order": "desc", "unmapped_type": "date"}},
    {"finding_id": {"order": "asc", "unmapped_type": "keyword"}},
]


class FindingsPage(BaseModel):
    """One page of findings, newest first. ``total`` counts every match of the query (all pages)."""

    items: list[Finding]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    total: int = Field(ge=0)


@router.get("", response_model=FindingsPage, summary="Search findings (newest first, cursor paging)")
def list_findings(
    principal: CurrentPrincipal,
    es: Annotated[Elasticsearch, Depends(app_es)],
    settings: Annotated[ApiSettings, Depends(app_settings)],
    processor: Annotated[
        list[str] | None, Query(description="Processor id; repeat for any of several.")
    ] = None,
    entity_type: Annotated[
        list[str] | None, Query(description="Canonical entity type; repeat: findings holding any of them.")
    ] = None,
    category: Annotated[str | None, Query(description="PIPL category, e.g. general, medical_health.")] = None,
    sensitive: Annotated[bool | None, Query(description="Only findings with (true) / without sensitive PI.")]
    = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339; occurred_at >= from (inclusive).")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; occurred_at < to (exclusive).")] = None,
    event_id: Annotated[str | None, Query(description="Flow event id.")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> FindingsPage:
    """Findings matching every given filter (AND; repeated values of one filter OR), newest first.

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    if processor:
        filters.append({"terms": {"processor_id": processor}})
    if entity_type:
        filters.append({"terms": {"entity_types": entity_type}})
    if category is not None:
        filters.append({"term": {"categories": category}})
    if sensitive is not None:
        filters.append({"term": {"sensitive": sensitive}})
    if event_id is not None:
        filters.append({"term": {"event_id": event_id}})
    if from_ is not None or to is not None:
        bounds: dict[str, str] = {}
        if from_ is not None:
            bounds["gte"] = iso_ms(from_)
        if to is not None:
            bounds["lt"] = iso_ms(to)
        filters.append({"range": {"occurred_at": bounds}})

    page, next_cursor, total = search_page(
        es, findings_pattern(settings.es_index_prefix), filters, SORT, size, cursor
    )
    return FindingsPage(
        items=[Finding.model_validate(hit["_source"]) for hit in page], next_cursor=next_cursor, total=total
    )


@router.get(
    "/{finding_id}",
    response_model=Finding,
    summary="One finding by id",
    responses={404: {"description": "No such finding visible to this key."}},
)
def get_finding(
    finding_id: str,
    principal: CurrentPrincipal,
    es: Annotated[Elasticsearch, Depends(app_es)],
    settings: Annotated[ApiSettings, Depends(app_settings)],
) -> Finding:
    """The finding ``finding_id``. Raises 404 when it does not exist OR belongs to a processor the key may
    not read (same answer, so existence does not leak across tenants)."""
    filters = [{"term": {"finding_id": finding_id}}, *scope_filters(principal)]
    index = findings_pattern(settings.es_index_prefix)
    resp = search(es, index, query={"bool": {"filter": filters}}, size=1)
    hits = resp["hits"]["hits"]
    if not hits:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="finding not found")
    return Finding.model_validate(hits[0]["_source"])
