"""``/v1/audit``: the audit log (who did what, when and why; the routes that write it use ``auth.actor_of``).

Roles admin, soc_analyst and regulator read every record; a platform key reads the records about its own
processor (``processor_id``), through ``auth.scope_filters`` like every other list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, BaseModel, Field

from flowwatch.audit import AuditRecord, TargetType
from flowwatch.es_indices import audit_index
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, scope_filters
from flowwatch_api.csv_export import AUDIT_COLUMNS, CSV_RESPONSE, PAGE, csv_response, pages
from flowwatch_api.deps import CurrentPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import ExactPage, search_page, sort_on
from flowwatch_api.query import text_query, time_range

router = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

SORT = sort_on("at", "audit_id")


class Me(BaseModel):
    """The authenticated caller: what the web UI needs to show only the actions the role may take."""

    key_id: str = Field(description="API key id, or `oidc:<subject>` for a bearer token.")
    name: str | None
    role: str
    processor_id: str | None = Field(description="The processor a platform key is bound to; else null.")
    may_triage: bool
    may_write_registry: bool
    may_ingest: bool


me_router = APIRouter(prefix="/v1/me", tags=["auth"], route_class=AuthFirstRoute, responses=BAD_REQUEST)


@me_router.get("", response_model=Me, summary="Who am I: the caller's key, role and permissions")
def who_am_i(principal: CurrentPrincipal) -> Me:
    """The caller's identity and what its role may do (every role may read, within its scope)."""
    role = str(principal.role)
    return Me(key_id=principal.key_id, name=principal.name, role=role, processor_id=principal.processor_id,
              may_triage=role in ("admin", "soc_analyst"), may_write_registry=role in ("admin", "platform"),
              may_ingest=role in ("admin", "platform"))


class AuditPage(ExactPage[AuditRecord]):
    """One page of audit records, newest first. ``total`` counts every match."""


@router.get("", response_model=AuditPage, responses=CSV_RESPONSE,
            summary="Search the audit log (newest first, cursor paging; CSV with format=csv)")
def list_audit(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeatable.")] = None,
    target_type: Annotated[TargetType | None, Query(description="alert, incident, processor, restrictions, "
                                                    "api_key.")] = None,
    target_id: Annotated[str | None, Query(max_length=300, description="Id of the target.")] = None,
    action: Annotated[list[str] | None, Query(description="e.g. alert.resolve; repeatable.")] = None,
    actor: Annotated[str | None, Query(max_length=200, description="Key id or key name of the actor.")] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; at >= from.")] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; at < to (exclusive).")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Full text over the reason.")] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format", description="`csv`: every matching item as a "
                       "CSV file (UTF-8 with BOM) instead of one JSON page.")] = "json",
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> AuditPage | Response:
    """Audit records matching every given filter. Raises 400 (cursor), 422, 503."""
    if format_ == "csv":
        args = {k: v for k, v in locals().items() if k != "format_"}
        return csv_response(pages(lambda cur: list_audit(**{**args, "size": PAGE, "cursor": cur})), AUDIT_COLUMNS,
                            "audit-log")
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    if processor_id:
        filters.append({"terms": {"processor_id": processor_id}})
    if action:
        filters.append({"terms": {"action": action}})
    if target_type is not None:
        filters.append({"term": {"target_type": target_type}})
    if target_id is not None:
        filters.append({"term": {"target_id": target_id}})
    if actor is not None:
        filters.append({"bool": {"should": [{"term": {"actor.key_id": actor}}, {"term": {"actor.name": actor}}],
                                 "minimum_should_match": 1}})
    filters += time_range("at", from_, to) + text_query(q, ["reason"])
    page = search_page(es, audit_index(settings.es_index_prefix), filters, SORT, size, cursor)
    return AuditPage(items=[AuditRecord.model_validate(h["_source"]) for h in page.hits],
                     next_cursor=page.next_cursor, total=page.total)
