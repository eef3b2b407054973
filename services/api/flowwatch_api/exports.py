"""``/v1/exports/ledger``: the cross-border export ledger — distinct persons whose PI each processor sent
abroad per counting window, the mechanism the law requires and what is on file (2024 Provisions Arts. 7–8).

Reads ``<prefix>-ledger`` (written by the indexer from the detector's ``export-ledger`` topic, one document
per processor and window), ANDed with ``auth.scope_filters``: a platform key sees only its processor, and
asking for another processor's ledger is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel, Field

from flowwatch.apikeys import Role
from flowwatch.es_indices import ledger_index
from flowwatch.exports.models import LedgerRecord
from flowwatch.exports.rules import Mechanism
from flowwatch.rules.export_pack import ExportRulePack, load_export_packs, window_id
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, scope_filters
from flowwatch_api.csv_export import CSV_RESPONSE, LEDGER_COLUMNS, PAGE, csv_response, pages
from flowwatch_api.deps import CurrentPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import Page, search_page, sort_on
from flowwatch_api.query import search

router = APIRouter(prefix="/v1/exports", tags=["exports"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

SORT = sort_on("updated_at", "id")
MAX_CURRENT = 100
"""Most records one processor can have in its current windows (one per applicable pack)."""


class LedgerPage(Page[LedgerRecord]):
    """One page of ledger records, most recently updated first. ``total`` counts every match."""


class CurrentLedger(BaseModel):
    """A processor's ledger in the counting window(s) that contain ``as_of``: ``items`` is empty when
    nothing was exported in them yet (0 persons)."""

    processor_id: str
    as_of: AwareDatetime
    window_ids: list[str] = Field(description="Current windows of the export rule packs in force on `as_of`.")
    items: list[LedgerRecord]


@cache
def _packs() -> tuple[ExportRulePack, ...]:
    return tuple(load_export_packs())


def current_window_ids(now: datetime, packs: tuple[ExportRulePack, ...] | None = None) -> list[str]:
    """Window ids (``window_id``) of ``now`` under every export rule pack in force on its local date
    (built-in packs by default), e.g. ``["cn_export_2024:2026"]``."""
    return [window_id(p, now) for p in (_packs() if packs is None else packs) if p.applies_on(p.local_date(now))]


def check_may_read(principal: Principal, processor_id: str) -> None:
    """Raise HTTPException 404 when a platform key asks for another processor (the answer of a missing one)."""
    if principal.role is Role.PLATFORM and principal.processor_id != processor_id:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="processor not found")


@router.get("/ledger", response_model=LedgerPage, responses=CSV_RESPONSE,
            summary="Export ledger records (newest first, cursor paging; CSV with format=csv)")
def list_ledger(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
    = None,
    pack_id: Annotated[list[str] | None, Query(description="Export rule pack, e.g. cn_export_2024; repeatable.")]
    = None,
    window_id_: Annotated[
        list[str] | None, Query(alias="window_id", description="Counting window, e.g. cn_export_2024:2026.")
    ] = None,
    required_mechanism: Annotated[
        list[Mechanism] | None, Query(description="Mechanism the law requires now; repeatable.")
    ] = None,
    format_: Annotated[Literal["json", "csv"], Query(alias="format", description="`csv`: every matching item as a "
                       "CSV file (UTF-8 with BOM) instead of one JSON page.")] = "json",
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> LedgerPage | Response:
    """Ledger records matching every given filter (AND; repeated values of one filter OR), most recently
    updated first. Every role may read; platform keys see only their processor.

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    if format_ == "csv":
        args = {k: v for k, v in locals().items() if k != "format_"}
        return csv_response(pages(lambda cur: list_ledger(**{**args, "size": PAGE, "cursor": cur})), LEDGER_COLUMNS,
                            "export-ledger")
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    for field, values in (("processor_id", processor_id), ("pack_id", pack_id), ("window_id", window_id_),
                          ("required_mechanism", [str(m) for m in required_mechanism or []])):
        if values:
            filters.append({"terms": {field: list(values)}})
    page = search_page(es, ledger_index(settings.es_index_prefix), filters, SORT, size, cursor)
    items = [LedgerRecord.model_validate(h["_source"]) for h in page.hits]
    return LedgerPage(items=items, next_cursor=page.next_cursor, total=page.total)


@router.get(
    "/ledger/{processor_id}",
    response_model=CurrentLedger,
    summary="A processor's ledger in the current counting window(s)",
    responses={404: {"description": "A platform key asking for another processor."}},
)
def current_ledger(
    processor_id: Annotated[str, Path(min_length=1, description="The processor id.")],
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> CurrentLedger:
    """The processor's record(s) in the counting window(s) of now (one per export rule pack in force: the
    calendar year under the 2024 Provisions). ``items`` is empty when nothing was exported in the window.
    Every role; a platform key only its own processor (another → 404). Raises 404, 503."""
    check_may_read(principal, processor_id)
    now = datetime.now(UTC)
    windows = current_window_ids(now)
    filters = [{"term": {"processor_id": processor_id}}, {"terms": {"window_id": windows}},
               *scope_filters(principal)]
    resp = search(es, ledger_index(settings.es_index_prefix), query={"bool": {"filter": filters}},
                  sort=SORT, size=MAX_CURRENT)
    items = [LedgerRecord.model_validate(h["_source"]) for h in resp["hits"]["hits"]]
    return CurrentLedger(processor_id=processor_id, as_of=now, window_ids=windows, items=items)
