"""``/v1/alerts``: the alert queue (search, one by id, dashboard counts) and triage.

Reads ``<prefix>-alerts-GGGG.wWW`` (weekly by first occurrence; written by the indexer, which folds repeated
occurrences of one dedup key into one alert with a ``count``), ANDed with ``auth.scope_filters``: a platform
key sees only its processor's alerts; another processor's alert is a 404.

Status is served **as of the request**: a suppression whose ``suppressed_until`` has passed reads as
``open`` (in filters, counts and documents), so nothing has to wake up when it ends.

Triage (``POST /v1/alerts/{id}/acknowledge|assign|resolve|suppress|reopen``, roles admin and soc_analyst)
writes the alert directly in Elasticsearch with optimistic concurrency (``if_seq_no``/``if_primary_term``,
re-read and retried when the indexer folded an occurrence meanwhile), appends a ``TriageEntry`` to the
alert's ``history`` and writes an audit record (``flowwatch.audit``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from elasticsearch import ConflictError, Elasticsearch
from fastapi import APIRouter, Body, HTTPException, Query, Response, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.alert_texts import AlertText, localized
from flowwatch.alerts import Alert, AlertStatus, Severity, TriageAction, TriageEntry
from flowwatch.audit import AuditRecord, write_audit
from flowwatch.es_indices import alerts_pattern
from flowwatch.rules.incident_pack import ObligationId
from flowwatch.settings import ApiSettings
from flowwatch.wire import HISTORY_KEPT, MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, actor_of, may_read, scope_filters
from flowwatch_api.csv_export import ALERT_COLUMNS, CSV_RESPONSE, PAGE, csv_response, pages
from flowwatch_api.deps import AggCacheDep, AnalystPrincipal, CurrentPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import PartitionedPage, flat_page, sort_on, walk_page
from flowwatch_api.partitions import (
    PartitionAggCache,
    aggregate_partitions,
    get_by_id,
    in_range,
    list_partitions,
    merge_counts,
)
from flowwatch_api.query import iso_ms, text_query, time_range, unprocessable

router = APIRouter(prefix="/v1/alerts", tags=["alerts"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

TEXT_FIELDS = ["title", "message", "processor_id", "incident_id", "type", "assignee"]
"""Fields searched by ``q``."""
AlertSort = Literal["-raised_at", "raised_at", "-last_raised_at", "-count", "due_at"]
SORTS: dict[str, tuple[str, bool]] = {
    "-raised_at": ("raised_at", True), "raised_at": ("raised_at", False),
    "-last_raised_at": ("last_raised_at", True), "-count": ("count", True), "due_at": ("due_at", False),
}
WRITE_RETRIES = 5
STATS_DEFAULT_DAYS = 365


class LocalizedAlert(Alert):
    """An alert with its title and message in Chinese and English (``texts.zh`` from the message catalogue
    ``flowwatch.alert_texts``, ``texts.en`` = ``title`` / ``message`` as generated)."""

    texts: dict[str, AlertText] = Field(description="`zh` and `en`: {title, message}.")


def localize(alert: Alert) -> LocalizedAlert:
    """``alert`` with ``texts`` added."""
    return LocalizedAlert(**alert.model_dump(), texts=localized(alert))


class AlertsPage(PartitionedPage[LocalizedAlert]):
    """One page of alerts. ``total`` counts the matches (``total_relation = "gte"``: at least that many)."""


class AlertTimeBucket(BaseModel):
    """Alerts first raised in the month starting at ``t``."""

    t: datetime
    count: int = Field(ge=0)


class AlertsStats(BaseModel):
    """Dashboard counts of the alerts first raised in ``[from, to)`` visible to the key (status as of now)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: datetime = Field(alias="from")
    to: datetime
    interval: Literal["month"] = "month"
    total: int = Field(ge=0)
    occurrences: int = Field(ge=0, description="Sum of `count`: occurrences folded into these alerts.")
    by_type: dict[str, int]
    by_severity: dict[str, int]
    by_status: dict[str, int]
    by_processor: dict[str, int]
    over_time: list[AlertTimeBucket]


def effective(alert: Alert, now: datetime) -> Alert:
    """``alert`` as of ``now``: an ended suppression reads as ``open``."""
    if alert.status == "suppressed" and alert.suppressed_until is not None and alert.suppressed_until <= now:
        return alert.model_copy(update={"status": "open"})
    return alert


def status_filter(statuses: list[str], now: datetime) -> dict[str, Any]:
    """A clause matching alerts whose status as of ``now`` is one of ``statuses``."""
    ended = {"bool": {"filter": [{"term": {"status": "suppressed"}},
                                 {"range": {"suppressed_until": {"lte": iso_ms(now)}}}]}}  # fmt: skip
    should: list[dict[str, Any]] = []
    for value in statuses:
        if value == "suppressed":
            should.append({"bool": {"filter": [{"term": {"status": "suppressed"}}], "must_not": [ended]}})
        else:
            should.append({"term": {"status": value}})
            if value == "open":
                should.append(ended)
    return {"bool": {"should": should, "minimum_should_match": 1}}


@router.get("", response_model=AlertsPage, summary="The alert queue: search alerts (filters, full text, sorting, "
            "cursor paging; CSV with format=csv)", responses=CSV_RESPONSE)
def list_alerts(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
    = None,
    incident_id: Annotated[str | None, Query(description="The processor's incident id.")] = None,
    type_: Annotated[
        list[str] | None,
        Query(alias="type", description="e.g. obligation_due_soon, obligation_overdue, export_threshold_crossed; "
              "repeatable."),
    ] = None,
    severity: Annotated[list[Severity] | None, Query(description="critical, high, medium, low; repeatable.")]
    = None,
    status_: Annotated[list[AlertStatus] | None, Query(alias="status", description="Status as of now; "
                       "repeatable.")] = None,
    obligation: Annotated[list[ObligationId] | None, Query(description="Obligation id; repeatable.")] = None,
    assignee: Annotated[str | None, Query(max_length=200, description="Assigned to.")] = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339; first raised >= from (inclusive).")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; first raised < to (exclusive).")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Full text over title, message, processor, "
                                   "incident, type and assignee (simple query string).")] = None,
    sort: Annotated[AlertSort, Query(description="`-raised_at` newest first (default), `raised_at`, "
                                     "`-last_raised_at`, `-count` or `due_at`.")] = "-raised_at",
    format_: Annotated[Literal["json", "csv"], Query(alias="format", description="`csv`: every matching item as a "
                       "CSV file (UTF-8 with BOM) instead of one JSON page.")] = "json",
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> AlertsPage | Response:
    """Alerts matching every given filter (AND; repeated values of one filter OR). Every role may read;
    platform keys see only their processor.

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    if format_ == "csv":
        args = {k: v for k, v in locals().items() if k != "format_"}
        return csv_response(pages(lambda cur: list_alerts(**{**args, "size": PAGE, "cursor": cur})), ALERT_COLUMNS,
                            "alerts")
    now = datetime.now(UTC)
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    for field, values in (
        ("processor_id", processor_id), ("type", type_), ("severity", [str(s) for s in severity or []]),
        ("obligation", obligation),
    ):
        if values:
            filters.append({"terms": {field: list(values)}})
    if status_:
        filters.append(status_filter(list(status_), now))
    if incident_id is not None:
        filters.append({"term": {"incident_id": incident_id}})
    if assignee is not None:
        filters.append({"term": {"assignee": assignee}})
    filters += time_range("raised_at", from_, to) + text_query(q, TEXT_FIELDS)
    parts = in_range(list_partitions(es, alerts_pattern(settings.es_index_prefix)), from_, to)
    field, descending = SORTS[sort]
    order = sort_on(field, "alert_id", descending)
    if field in ("count",):
        order[0][field]["unmapped_type"] = "integer"
    walk = field == "raised_at" and descending  # the partition field, newest first
    page = (walk_page if walk else flat_page)(es, parts, filters, order, size, cursor)
    return AlertsPage(items=[localize(effective(Alert.model_validate(h["_source"]), now)) for h in page.hits],
                      next_cursor=page.next_cursor, total=page.total, total_relation=page.total_relation)


@router.get("/stats", response_model=AlertsStats, summary="Counts of alerts for dashboards")
def alerts_stats(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    cache: AggCacheDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeatable.")] = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; first raised >= from; "
                                                 "default: the start of the UTC month a year ago.")] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339, exclusive; default: now.")] = None,
) -> AlertsStats:
    """Alerts first raised in ``[from, to)`` by type, severity, status (as of now), processor and month.
    Platform keys count only their processor. Results of past weeks are reused for up to a minute (triage
    through this process shows at once; a suppression ending counts as open from the next whole minute).
    Raises 422 when ``from`` is not before ``to``, 503."""
    now = datetime.now(UTC)
    to = to or now
    from_ = from_ or (now - timedelta(days=STATS_DEFAULT_DAYS)).replace(day=1, hour=0, minute=0, second=0,
                                                                        microsecond=0)
    if from_ >= to:
        raise unprocessable(("query", "from"), "`from` must be before `to`")
    base: list[dict[str, Any]] = list(scope_filters(principal))
    if processor_id:
        base.append({"terms": {"processor_id": processor_id}})
    minute = now.replace(second=0, microsecond=0)
    aggs = {
        "by_type": {"terms": {"field": "type", "size": 100}},
        "by_severity": {"terms": {"field": "severity", "size": 10}},
        "by_status": {"terms": {"field": "status", "size": 10}},
        # "now" to the minute, so that a partition's cached result stays reusable within a minute
        "ended_suppressions": {"filter": {"range": {"suppressed_until": {"lte": iso_ms(minute)}}},
                               "aggs": {"status": {"terms": {"field": "status", "size": 10}}}},
        "by_processor": {"terms": {"field": "processor_id", "size": 1000}},
        "occurrences": {"sum": {"field": "count"}},
        "by_month": {"date_histogram": {"field": "raised_at", "calendar_interval": "month", "min_doc_count": 1}},
    }
    stats = AlertsStats.model_validate({"from": from_, "to": to, "total": 0, "occurrences": 0, "by_type": {},
                                        "by_severity": {}, "by_status": {}, "by_processor": {}, "over_time": []})
    months: dict[int, int] = {}  # weekly partitions: months come from a date histogram, merged
    parts = list_partitions(es, alerts_pattern(settings.es_index_prefix))
    for _, resp in aggregate_partitions(es, cache, parts, base, "raised_at", from_, to, aggs, now):
        stats.total += int(resp["hits"]["total"]["value"])
        got = resp.get("aggregations") or {}
        if not got:
            continue
        for b in got["by_month"]["buckets"]:
            months[int(b["key"])] = months.get(int(b["key"]), 0) + int(b["doc_count"])
        stats.occurrences += int(got["occurrences"].get("value") or 0)
        for name in ("by_type", "by_severity", "by_status", "by_processor"):
            merge_counts(getattr(stats, name), got[name]["buckets"])
        for b in got["ended_suppressions"]["status"]["buckets"]:
            if b["key"] == "suppressed":  # ended suppressions count as open
                stats.by_status["suppressed"] -= int(b["doc_count"])
                stats.by_status["open"] = stats.by_status.get("open", 0) + int(b["doc_count"])
    stats.by_status = {k: v for k, v in stats.by_status.items() if v}
    stats.over_time = [AlertTimeBucket(t=datetime.fromtimestamp(k / 1000, tz=UTC), count=n)
                       for k, n in sorted(months.items()) if n]
    return stats


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No such alert visible to this key."}}


def _load(es: Elasticsearch, settings: ApiSettings, principal: Principal, alert_id: str) -> dict[str, Any]:
    doc = get_by_id(es, list_partitions(es, alerts_pattern(settings.es_index_prefix)), alert_id)
    if doc is None or not may_read(principal, doc["_source"].get("processor_id")):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="alert not found")
    return doc


@router.get("/{alert_id}", response_model=LocalizedAlert, summary="One alert by id", responses=NOT_FOUND)
def get_alert(
    alert_id: str,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> LocalizedAlert:
    """The alert ``alert_id`` (status as of now). Raises 404 when it does not exist OR belongs to a processor
    the key may not read (same answer, so existence does not leak across tenants); 503."""
    return localize(effective(Alert.model_validate(_load(es, settings, principal, alert_id)["_source"]),
                              datetime.now(UTC)))


# ---------------------------------------------------------------------------------------------------
# Triage
# ---------------------------------------------------------------------------------------------------

Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcknowledgeBody(_Body):
    """Acknowledge: someone is looking at it."""

    reason: Reason | None = None


class AssignBody(_Body):
    """Assign to an analyst (free text: a name or e-mail of your team)."""

    assignee: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Reason | None = None


class ResolveBody(_Body):
    """Resolve, saying why (what was done, or why it is a false positive)."""

    reason: Reason


class SuppressBody(_Body):
    """Suppress, saying why, until ``until`` (RFC 3339, in the future) or until lifted (``reopen``)."""

    reason: Reason
    until: AwareDatetime | None = None


class ReopenBody(_Body):
    """Reopen a resolved, suppressed or acknowledged alert."""

    reason: Reason | None = None


ALLOWED_FROM: dict[str, frozenset[str]] = {
    "acknowledge": frozenset({"open", "suppressed"}),
    "assign": frozenset({"open", "acknowledged", "suppressed"}),
    "resolve": frozenset({"open", "acknowledged", "suppressed"}),
    "suppress": frozenset({"open", "acknowledged", "suppressed"}),
    "reopen": frozenset({"acknowledged", "resolved", "suppressed"}),
}
"""Status (as of now) each action applies to; anything else is 409."""
NEW_STATUS: dict[str, AlertStatus | None] = {
    "acknowledge": "acknowledged", "assign": None, "resolve": "resolved", "suppress": "suppressed", "reopen": "open",
}
"""Status after each action (None: unchanged)."""


def apply_triage(alert: Alert, action: TriageAction, entry: TriageEntry, now: datetime) -> Alert:
    """``alert`` after ``action`` (pure). Raises HTTPException 409 when the action does not apply to the
    alert's status as of ``now``."""
    current = effective(alert, now)
    if current.status not in ALLOWED_FROM[action]:
        raise HTTPException(status_code=status.HTTP_409_CONFLICT,
                            detail=f"cannot {action} an alert that is {current.status}")
    update: dict[str, Any] = {
        "status": NEW_STATUS[action] or current.status, "status_reason": entry.reason or current.status_reason,
        "updated_at": now, "history": [*alert.history, entry][-HISTORY_KEPT:],
    }
    if action == "assign":
        update["assignee"] = entry.assignee
    if action == "suppress":
        update["suppressed_until"] = entry.suppressed_until
    elif NEW_STATUS[action] is not None:
        update["suppressed_until"] = None
    return alert.model_copy(update=update)


def triage(
    es: Elasticsearch, settings: ApiSettings, cache: PartitionAggCache, principal: Principal, alert_id: str,
    action: TriageAction, reason: str | None, assignee: str | None = None, until: datetime | None = None,
) -> LocalizedAlert:
    """Apply ``action`` to the stored alert with optimistic concurrency, then audit it; return the alert as
    of now. Raises HTTPException 404/409/422; elasticsearch errors propagate (503)."""
    now = datetime.now(UTC)
    if until is not None and until <= now:
        raise unprocessable(("body", "until"), "`until` must be in the future")
    actor = actor_of(principal)
    entry = TriageEntry(at=now, actor=actor.name or actor.key_id, role=actor.role, action=action, reason=reason,
                        assignee=assignee, suppressed_until=until)  # fmt: skip
    for attempt in range(WRITE_RETRIES):
        doc = _load(es, settings, principal, alert_id)
        before = Alert.model_validate(doc["_source"])
        after = apply_triage(before, action, entry, now)
        try:
            es.index(index=doc["_index"], id=alert_id, document=after.model_dump(mode="json"),
                     if_seq_no=doc["_seq_no"], if_primary_term=doc["_primary_term"], refresh="wait_for")
            break
        except ConflictError:
            if attempt == WRITE_RETRIES - 1:
                raise HTTPException(status_code=status.HTTP_409_CONFLICT,
                                    detail="the alert keeps changing; try again") from None
    cache.invalidate(doc["_index"])
    write_audit(es, settings.es_index_prefix, AuditRecord(
        at=now, actor=actor, action=f"alert.{action}", target_type="alert", target_id=alert_id,
        processor_id=after.processor_id, reason=reason,
        details={"from": effective(before, now).status, "to": after.status,
                 **({"assignee": assignee} if assignee else {}),
                 **({"suppressed_until": until.isoformat()} if until else {})},
    ))  # fmt: skip
    return localize(effective(after, now))


TRIAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    403: {"description": "Only admin and soc_analyst keys triage alerts."},
    409: {"description": "The action does not apply to the alert's current status."},
    422: {"description": "Invalid body (e.g. a suppression ending in the past)."},
}


@router.post("/{alert_id}/acknowledge", response_model=LocalizedAlert, summary="Acknowledge an alert",
             responses=TRIAGE_RESPONSES)
def acknowledge(alert_id: str, principal: AnalystPrincipal,
                es: EsDep, settings: SettingsDep, cache: AggCacheDep,
                body: Annotated[AcknowledgeBody | None, Body()] = None) -> LocalizedAlert:
    """Mark an open (or suppressed) alert acknowledged (body optional). Answers the updated alert; audited."""
    return triage(es, settings, cache, principal, alert_id, "acknowledge", body.reason if body else None)


@router.post("/{alert_id}/assign", response_model=LocalizedAlert, summary="Assign an alert", responses=TRIAGE_RESPONSES)
def assign(alert_id: str, body: Annotated[AssignBody, Body()], principal: AnalystPrincipal,
           es: EsDep, settings: SettingsDep, cache: AggCacheDep) -> LocalizedAlert:
    """Assign an unresolved alert to ``assignee`` (status unchanged). Answers the updated alert; audited."""
    return triage(es, settings, cache, principal, alert_id, "assign", body.reason, assignee=body.assignee)


@router.post("/{alert_id}/resolve", response_model=LocalizedAlert, summary="Resolve an alert",
             responses=TRIAGE_RESPONSES)
def resolve(alert_id: str, body: Annotated[ResolveBody, Body()], principal: AnalystPrincipal,
            es: EsDep, settings: SettingsDep, cache: AggCacheDep) -> LocalizedAlert:
    """Resolve an alert with a reason. A later occurrence of its dedup key reopens it. Audited."""
    return triage(es, settings, cache, principal, alert_id, "resolve", body.reason)


@router.post("/{alert_id}/suppress", response_model=LocalizedAlert, summary="Suppress an alert",
             responses=TRIAGE_RESPONSES)
def suppress(alert_id: str, body: Annotated[SuppressBody, Body()], principal: AnalystPrincipal,
             es: EsDep, settings: SettingsDep, cache: AggCacheDep) -> LocalizedAlert:
    """Suppress an alert with a reason, until ``until`` (then it reads as open again) or until reopened.
    Occurrences meanwhile still fold into its ``count``. Audited."""
    return triage(es, settings, cache, principal, alert_id, "suppress", body.reason, until=body.until)


@router.post("/{alert_id}/reopen", response_model=LocalizedAlert, summary="Reopen an alert", responses=TRIAGE_RESPONSES)
def reopen(alert_id: str, principal: AnalystPrincipal,
           es: EsDep, settings: SettingsDep, cache: AggCacheDep,
           body: Annotated[ReopenBody | None, Body()] = None) -> LocalizedAlert:
    """Set an acknowledged, resolved or suppressed alert back to open (body optional). Audited."""
    return triage(es, settings, cache, principal, alert_id, "reopen", body.reason if body else None)
