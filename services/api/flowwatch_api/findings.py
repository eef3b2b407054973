"""``/v1/findings``: search findings (filters, full text, sorting, cursor paging), fetch one by id, and
dashboard aggregations (``/v1/findings/stats``).

Every query is ANDed with ``auth.scope_filters(principal)``, so a platform key only sees its processor; a
finding fetched by id is checked with ``auth.may_read``. Findings live in daily indices; newest-first pages
walk them from the newest (``paging.walk_page``). Paging uses ES ``search_after`` on
``[occurred_at, finding_id asc]``; the cursor is the urlsafe base64 (unpadded) of the last hit's sort
values, opaque to clients (``flowwatch_api.paging``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AwareDatetime, BaseModel, Field

from flowwatch.es_indices import findings_pattern
from flowwatch.models import Finding
from flowwatch.stored_form import finding_from_source
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, may_read, scope_filters
from flowwatch_api.deps import AggCacheDep, CurrentPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import PartitionedPage, flat_page, sort_on, walk_page
from flowwatch_api.partitions import aggregate_partitions, get_by_id, in_range, list_partitions, merge_counts
from flowwatch_api.query import text_query, time_range, unprocessable

router = APIRouter(prefix="/v1/findings", tags=["findings"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

TEXT_FIELDS = ["processor_name", "processor_id", "event_id", "entity_types", "categories", "activity",
               "source_region", "destination_region", "kind"]
"""Fields searched by ``q``."""
FindingSort = Literal["-occurred_at", "occurred_at"]
Interval = Literal["hour", "day", "week", "month"]
STATS_DEFAULT_DAYS = 30


class FindingsPage(PartitionedPage[Finding]):
    """One page of findings. ``total`` counts the matches (``total_relation = "gte"``: at least that many)."""


class TimeBucket(BaseModel):
    """Findings in the interval starting at ``t``."""

    t: datetime
    count: int = Field(ge=0)
    sensitive: int = Field(ge=0, description="Of which hold sensitive PI.")


class FindingsStats(BaseModel):
    """Dashboard counts of the findings in ``[from, to)`` visible to the key (findings, not entities)."""

    from_: datetime = Field(alias="from")
    to: datetime
    interval: Interval
    total: int = Field(ge=0)
    sensitive: int = Field(ge=0)
    by_entity_type: dict[str, int]
    by_category: dict[str, int]
    by_processor: dict[str, int]
    over_time: list[TimeBucket]


def findings_filters(
    principal: Any, processor: list[str] | None, entity_type: list[str] | None, category: str | None,
    sensitive: bool | None, event_id: str | None, q: str | None,
) -> list[dict[str, Any]]:
    """Filter clauses of a findings query (tenant scope first)."""
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
    return filters + text_query(q, TEXT_FIELDS)


ProcessorsParam = Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
OldProcessorParam = Annotated[list[str] | None, Query(
    deprecated=True, description="Old name of `processor_id` (kept as an alias; both may be given: any of them).")]


def processors_of(processor_id: list[str] | None, processor: list[str] | None) -> list[str] | None:
    """The processor ids asked for under the name ``processor_id`` and its old alias ``processor``."""
    merged = [*(processor_id or []), *(processor or [])]
    return merged or None

FromParam = Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; occurred_at >= from.")]
ToParam = Annotated[AwareDatetime | None, Query(description="RFC 3339; occurred_at < to (exclusive).")]


@router.get("", response_model=FindingsPage, summary="Search findings (filters, full text, sorting, cursor paging)")
def list_findings(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: ProcessorsParam = None,
    processor: OldProcessorParam = None,
    entity_type: Annotated[
        list[str] | None, Query(description="Canonical entity type; repeat: findings holding any of them.")
    ] = None,
    category: Annotated[str | None, Query(description="PIPL category, e.g. general, medical_health.")] = None,
    sensitive: Annotated[bool | None, Query(description="Only findings with (true) / without sensitive PI.")]
    = None,
    from_: FromParam = None,
    to: ToParam = None,
    event_id: Annotated[str | None, Query(description="Flow event id.")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Full text over processor, event id, entity "
                                   "types, categories, activity and regions (simple query string).")] = None,
    sort: Annotated[FindingSort, Query(description="`-occurred_at` newest first (default) or `occurred_at`.")]
    = "-occurred_at",
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> FindingsPage:
    """Findings matching every given filter (AND; repeated values of one filter OR).

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    filters = findings_filters(principal, processors_of(processor_id, processor), entity_type, category, sensitive,
                               event_id, q)
    filters += time_range("occurred_at", from_, to)
    parts = in_range(list_partitions(es, findings_pattern(settings.es_index_prefix)), from_, to)
    descending = sort.startswith("-")
    order = sort_on("occurred_at", "finding_id", descending)
    page = (walk_page if descending else flat_page)(es, parts, filters, order, size, cursor)
    return FindingsPage(items=[finding_from_source(h["_source"]) for h in page.hits],
                        next_cursor=page.next_cursor, total=page.total, total_relation=page.total_relation)


def _interval(interval: Interval) -> dict[str, str]:
    return {"hour": {"fixed_interval": "1h"}, "day": {"calendar_interval": "day"},
            "week": {"calendar_interval": "week"}, "month": {"calendar_interval": "month"}}[interval]


@router.get("/stats", response_model=FindingsStats, summary="Counts of findings for dashboards",
            response_model_by_alias=True)
def findings_stats(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    cache: AggCacheDep,
    processor_id: ProcessorsParam = None,
    processor: OldProcessorParam = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; default: the start of "
                                                 "the UTC day 30 days ago.")] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339, exclusive; default: now.")] = None,
    interval: Annotated[Interval, Query(description="Bucket width of `over_time` (UTC).")] = "day",
) -> FindingsStats:
    """Findings in ``[from, to)`` by entity type, PIPL category, processor and over time, counting findings
    (one per flow event), with how many hold sensitive PI. Platform keys count only their processor.

    Results of whole past days are reused for up to a minute (late findings appear within that time).
    Raises 422 when ``from`` is not before ``to``, 503 when Elasticsearch is down.
    """
    now = datetime.now(UTC)
    to = to or now
    from_ = from_ or (now - timedelta(days=STATS_DEFAULT_DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    if from_ >= to:
        raise unprocessable(("query", "from"), "`from` must be before `to`")
    base = findings_filters(principal, processors_of(processor_id, processor), None, None, None, None, None)
    sensitive_only = {"filter": {"term": {"sensitive": True}}}
    aggs = {
        "sensitive": sensitive_only,
        "by_entity_type": {"terms": {"field": "entity_types", "size": 100}},
        "by_category": {"terms": {"field": "categories", "size": 50}},
        "by_processor": {"terms": {"field": "processor_id", "size": 1000}},
        "over_time": {"date_histogram": {"field": "occurred_at", **_interval(interval), "min_doc_count": 1},
                      "aggs": {"sensitive": sensitive_only}},
    }
    result = FindingsStats.model_validate({
        "from": from_, "to": to, "interval": interval, "total": 0, "sensitive": 0,
        "by_entity_type": {}, "by_category": {}, "by_processor": {}, "over_time": [],
    })
    buckets: dict[int, list[int]] = {}
    parts = list_partitions(es, findings_pattern(settings.es_index_prefix))
    for _, resp in aggregate_partitions(es, cache, parts, base, "occurred_at", from_, to, aggs, now):
        result.total += int(resp["hits"]["total"]["value"])
        got = resp.get("aggregations") or {}
        if not got:
            continue
        result.sensitive += int(got["sensitive"]["doc_count"])
        merge_counts(result.by_entity_type, got["by_entity_type"]["buckets"])
        merge_counts(result.by_category, got["by_category"]["buckets"])
        merge_counts(result.by_processor, got["by_processor"]["buckets"])
        for b in got["over_time"]["buckets"]:
            slot = buckets.setdefault(int(b["key"]), [0, 0])
            slot[0] += int(b["doc_count"])
            slot[1] += int(b["sensitive"]["doc_count"])
    result.over_time = [TimeBucket(t=datetime.fromtimestamp(k / 1000, tz=UTC), count=c, sensitive=s)
                        for k, (c, s) in sorted(buckets.items()) if c]
    return result




@router.get(
    "/{finding_id}",
    response_model=Finding,
    summary="One finding by id",
    responses={404: {"description": "No such finding visible to this key."}},
)
def get_finding(
    finding_id: str,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> Finding:
    """The finding ``finding_id``. Raises 404 when it does not exist OR belongs to a processor the key may
    not read (same answer, so existence does not leak across tenants)."""
    doc = get_by_id(es, list_partitions(es, findings_pattern(settings.es_index_prefix)), finding_id)
    if doc is None or not may_read(principal, doc["_source"].get("processor_id")):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="finding not found")
    return finding_from_source(doc["_source"])
