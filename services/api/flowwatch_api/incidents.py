"""``/v1/incidents``: aggregated incidents, their report contents, and marking obligations done or waived.

Reads come from ``<prefix>-incidents`` (written by the indexer from the incident agent's records), ANDed
with ``auth.scope_filters``: a platform key sees only its processor, and another processor's incident is a
404, the same answer as a missing one. Obligation statuses are served **as of the request**: a ``pending``
obligation whose ``due_at`` has passed is ``overdue`` (``compute_obligations``' rule), also in the filters,
so the answer does not depend on when the agent last re-produced the record.

Writes (``POST .../obligations/{obligation}``) never touch Elasticsearch: they produce an
``IncidentUpdate`` (``source = "api"``) to ``incident-updates``, keyed by processor id; the incident
agent applies it and re-produces the record, which the indexer stores (seconds later).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal

from elasticsearch import Elasticsearch, NotFoundError
from fastapi import APIRouter, Body, HTTPException, Path, Query, Response, status
from fastapi.responses import HTMLResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.apikeys import Role
from flowwatch.audit import AuditRecord, write_audit
from flowwatch.detection.redact import redact
from flowwatch.es_indices import incidents_index
from flowwatch.ids import incident_doc_id
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate, IndividualNotice, RegulatorReport
from flowwatch.models import IncidentType
from flowwatch.rules.incident_pack import IncidentRulePack, ObligationId, load_packs
from flowwatch.rules.obligations import DONE_FIELD, Obligation, Status
from flowwatch.stored_form import incident_from_source
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, actor_of, may_read, scope_filters
from flowwatch_api.deps import CurrentPrincipal, EsDep, IncidentProducerDep, SettingsDep, WriterPrincipal
from flowwatch_api.paging import ExactPage, search_page, sort_on
from flowwatch_api.producer import BrokerUnavailable
from flowwatch_api.query import search, time_range, unprocessable
from flowwatch_api.report_html import render_pdf, render_report

router = APIRouter(prefix="/v1/incidents", tags=["incidents"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

SORT = sort_on("occurred_at", "id")
WAIVABLE: frozenset[str] = frozenset({"notify_individuals"})
"""Obligations that may be waived: the notice to individuals (PIPL Art. 57 para 2). The incident's rule
pack must also give the obligation a ``waiver_basis``."""
FUTURE_TOLERANCE = timedelta(minutes=5)
"""How far in the future a ``done`` instant may lie (clock skew); later → 422."""
RETRY_AFTER_SECONDS = "5"

ProcessorParam = Annotated[
    str | None,
    Query(description="Processor id of the incident; needed by admin/SOC/regulator keys when two processors "
          "use the same incident id (else 409)."),
]
IncidentIdPath = Annotated[str, Path(description="The processor's incident id, or the record's `id`.")]
DownloadParam = Annotated[bool, Query(description="Answer as a file download (Content-Disposition: attachment).")]
ONE_INCIDENT: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such incident visible to this key."},
    409: {"description": "Several processors use this incident id: pass `processor_id`."},
}


class IncidentsPage(ExactPage[IncidentRecord]):
    """One page of incidents, newest ``occurred_at`` first (unknown last). ``total`` counts every match."""

    total_relation: Literal["eq"] = Field(default="eq", description="Always `eq`: `total` is exact.")


class IncidentReport(BaseModel):
    """What goes to the regulator and to individuals: the Art. 11 report, the PIPL Art. 57 notice (``null``
    while the occurrence time is unknown) and the obligations with their deadlines and statuses.
    Counts, types and the platform's own texts (cause, measures) only: no personal information."""

    report: RegulatorReport | None
    notice: IndividualNotice | None
    obligations: list[Obligation]


class MarkDone(BaseModel):
    """The obligation was performed at ``at`` (default: now): the report sent, the individuals notified."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["done"]
    at: AwareDatetime | None = Field(default=None, description="RFC 3339 with offset; default now.")
    note: str | None = Field(default=None, max_length=2000)


class MarkWaived(BaseModel):
    """The obligation is not performed, with the reason (only ``notify_individuals``: PIPL Art. 57 para 2,
    measures effectively avoid harm)."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["waive"]
    reason: str = Field(min_length=1, max_length=2000)
    note: str | None = Field(default=None, max_length=2000)


Mark = Annotated[MarkDone | MarkWaived, Field(discriminator="action")]


# ---------------------------------------------------------------------------------------------------
# Helpers (pure where possible)
# ---------------------------------------------------------------------------------------------------


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_of(record: IncidentRecord, now: datetime) -> IncidentRecord:
    """``record`` with every ``pending`` obligation whose ``due_at`` is at or before ``now`` shown as
    ``overdue`` (done and waived take precedence and are final, as in ``compute_obligations``)."""
    obligations = [
        ob.model_copy(update={"status": "overdue"})
        if ob.status == "pending" and ob.due_at is not None and _aware(ob.due_at) <= now else ob
        for ob in record.obligations
    ]
    if all(a is b for a, b in zip(obligations, record.obligations, strict=True)):
        return record
    return record.model_copy(update={"obligations": obligations})


def redacted(record: IncidentRecord) -> IncidentRecord:
    """``record`` with PI masked in every free-text field a platform or user wrote (cause, measures,
    consequences, notes, reasons, timeline) — what a regulator key is served. Counts, types, obligations and
    the processor's own contact stay as they are."""
    def texts(model: Any, names: tuple[str, ...]) -> Any:
        return model.model_copy(update={n: redact(getattr(model, n)) for n in names}) if model else model

    return record.model_copy(update={
        "report": texts(record.report, ("measures", "cause", "consequences", "accountability", "improvements")),
        "notice": texts(record.notice, ("cause", "remedial_measures")),
        "timeline": [e.model_copy(update={"what": redact(e.what) or ""}) for e in record.timeline],
        "obligations": [ob.model_copy(update={"waived_reason": redact(ob.waived_reason),
                                              "notes": [redact(n) or "" for n in ob.notes]})
                        for ob in record.obligations],
    })  # fmt: skip


def served(record: IncidentRecord, principal: Principal, now: datetime) -> IncidentRecord:
    """``record`` as ``principal`` is served it: obligations as of ``now``; PI masked for regulators."""
    record = as_of(record, now)
    return redacted(record) if principal.role is Role.REGULATOR else record


def status_clause(wanted: list[Status], now: datetime) -> dict[str, Any]:
    """ES clause (inside the ``obligations`` nested query) for "status is one of ``wanted`` as of ``now``"."""
    now_s = now.isoformat(timespec="milliseconds")
    should: list[dict[str, Any]] = []
    for value in dict.fromkeys(wanted):
        if value == "pending":
            not_due = {"bool": {"should": [
                {"bool": {"must_not": [{"exists": {"field": "obligations.due_at"}}]}},
                {"range": {"obligations.due_at": {"gt": now_s}}},
            ], "minimum_should_match": 1}}
            should.append({"bool": {"filter": [{"term": {"obligations.status": "pending"}}, not_due]}})
        elif value == "overdue":
            should.append({"term": {"obligations.status": "overdue"}})
            should.append({"bool": {"filter": [
                {"term": {"obligations.status": "pending"}}, {"range": {"obligations.due_at": {"lte": now_s}}},
            ]}})
        else:
            should.append({"term": {"obligations.status": value}})
    return {"bool": {"should": should, "minimum_should_match": 1}}


def obligation_filter(obligation: list[str] | None, wanted: list[Status] | None, now: datetime) -> list[Any]:
    """``[nested clause]`` matching incidents with ONE obligation of the given ids and statuses, or ``[]``."""
    inner: list[dict[str, Any]] = []
    if obligation:
        inner.append({"terms": {"obligations.id": obligation}})
    if wanted:
        inner.append(status_clause(wanted, now))
    if not inner:
        return []
    return [{"nested": {"path": "obligations", "query": {"bool": {"filter": inner}}}}]


@cache
def _builtin_packs() -> dict[str, IncidentRulePack]:
    return {p.id: p for p in load_packs()}


def check_waivable(obligation: str, pack_id: str | None) -> None:
    """Raise HTTPException 422 unless ``obligation`` may be waived: it is in ``WAIVABLE`` and, when the
    incident's pack is a built-in one, that pack gives it a ``waiver_basis``."""
    pack = _builtin_packs().get(pack_id) if pack_id else None
    rule = next((r for r in pack.obligations if r.id == obligation), None) if pack else None
    if obligation not in WAIVABLE or (pack is not None and (rule is None or rule.waiver_basis is None)):
        raise unprocessable(("path", "obligation"),
                            f"{obligation} cannot be waived; only notify_individuals may be (PIPL Art. 57 para 2)")


def build_update(
    record: IncidentRecord, obligation: ObligationId, mark: MarkDone | MarkWaived, actor: str, now: datetime
) -> IncidentUpdate:
    """The ``IncidentUpdate`` (``source = "api"``, fresh ``update_id``) that records ``mark`` on ``record``.

    ``done`` sets the fulfilment instant of the obligation (``reported_at``, ``followup_reported_at`` or
    ``notified_at``) to ``mark.at`` or ``now``; ``waive`` sets ``waivers = {obligation: reason}``.
    """
    fields: dict[str, Any] = {}
    if isinstance(mark, MarkDone):
        fields[DONE_FIELD[obligation]] = mark.at or now
    else:
        fields["waivers"] = {obligation: mark.reason}
    return IncidentUpdate(
        processor_id=record.processor_id,
        incident_id=record.incident_id,
        update_id=uuid.uuid4().hex,
        source="api",
        received_at=now,
        actor=actor,
        note=mark.note,
        **fields,
    )


def find_incident(
    es: Elasticsearch, prefix: str, principal: Principal, incident_id: str, processor_id: str | None
) -> IncidentRecord:
    """The incident visible to ``principal`` whose ``incident_id`` (or record ``id``) is ``incident_id``.

    Raises HTTPException 404 when there is none (or it belongs to a processor the key may not read) and
    409 when several processors use that incident id and ``processor_id`` does not pick one.

    Fast path: a multi-get of the record ids it can name (``incident_id`` itself, and the id derived from
    the processor and incident id when the processor is known); a search (a scan on the embedded engine)
    only when neither is a readable match.
    """
    known = processor_id or (principal.processor_id if principal.role is Role.PLATFORM else None)
    ids = [incident_id] + ([incident_doc_id(known, incident_id)] if known else [])
    try:
        docs = es.mget(index=incidents_index(prefix), ids=ids)["docs"]
    except NotFoundError:  # no incidents index yet: the search below answers 404
        docs = []
    for doc in docs:
        src = doc.get("_source") if doc.get("found") else None
        if src and may_read(principal, src.get("processor_id")) and processor_id in (None, src.get("processor_id")):
            return incident_from_source(src)
    filters: list[dict[str, Any]] = [
        {"bool": {"should": [{"term": {"incident_id": incident_id}}, {"term": {"id": incident_id}}],
                  "minimum_should_match": 1}},
        *scope_filters(principal),
    ]
    if processor_id is not None:
        filters.append({"term": {"processor_id": processor_id}})
    resp = search(es, incidents_index(prefix), query={"bool": {"filter": filters}}, size=20,
                  sort=[{"processor_id": {"order": "asc", "unmapped_type": "keyword"}}])
    hits = [h["_source"] for h in resp["hits"]["hits"]]
    exact = [h for h in hits if h.get("id") == incident_id]
    if len(exact) == 1:
        hits = exact
    if not hits:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="incident not found")
    if len(hits) > 1:
        processors = ", ".join(sorted({str(h.get("processor_id")) for h in hits}))
        raise HTTPException(
            status_code=status.HTTP_409_CONFLICT,
            detail=f"incident id {incident_id!r} is used by several processors ({processors}); pass processor_id",
        )
    return incident_from_source(hits[0])


# ---------------------------------------------------------------------------------------------------
# Routes
# ---------------------------------------------------------------------------------------------------


@router.get("", response_model=IncidentsPage, summary="Search incidents (newest first, cursor paging)")
def list_incidents(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
    = None,
    status_: Annotated[
        list[Status] | None,
        Query(alias="status", description="Incidents with an obligation in this status as of now (pending, "
              "overdue, done, waived, not_applicable); repeat for any of several."),
    ] = None,
    obligation: Annotated[
        list[ObligationId] | None,
        Query(description="Restrict `status` to these obligations (the same obligation must match both)."),
    ] = None,
    important_data: Annotated[bool | None, Query(description="Only incidents with (true) / without important "
                                                 "data.")] = None,
    type_: Annotated[list[IncidentType] | None, Query(alias="type", description="Incident type; repeatable.")]
    = None,
    from_: Annotated[
        AwareDatetime | None, Query(alias="from", description="RFC 3339; occurred_at >= from (inclusive).")
    ] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; occurred_at < to (exclusive).")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> IncidentsPage:
    """Incidents matching every given filter (AND; repeated values of one filter OR), newest
    ``occurred_at`` first. Every role may read; platform keys see only their processor.

    Raises 400 for a malformed cursor, 422 for invalid parameters, 503 when Elasticsearch is down.
    """
    now = datetime.now(UTC)
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    if processor_id:
        filters.append({"terms": {"processor_id": processor_id}})
    if important_data is not None:
        filters.append({"term": {"important_data": important_data}})
    if type_:
        filters.append({"terms": {"type": [str(t) for t in type_]}})
    filters += obligation_filter(list(obligation or []), status_, now)
    filters += time_range("occurred_at", from_, to)
    page = search_page(es, incidents_index(settings.es_index_prefix), filters, SORT, size, cursor)
    items = [served(incident_from_source(h["_source"]), principal, now) for h in page.hits]
    return IncidentsPage(items=items, next_cursor=page.next_cursor, total=page.total)


@router.get(
    "/{incident_id}",
    response_model=IncidentRecord,
    summary="One incident",
    responses=ONE_INCIDENT,
)
def get_incident(
    incident_id: IncidentIdPath,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: ProcessorParam = None,
) -> IncidentRecord:
    """The incident record (obligations as of now). Every role; platform keys only their processor's
    (another processor's incident is a 404, like a missing one). Raises 404, 409, 503."""
    record = find_incident(es, settings.es_index_prefix, principal, incident_id, processor_id)
    return served(record, principal, datetime.now(UTC))


@router.get(
    "/{incident_id}/report",
    response_model=IncidentReport,
    summary="Regulator report, notice to individuals and obligations of one incident",
    responses=ONE_INCIDENT,
)
def get_report(
    incident_id: IncidentIdPath,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    response: Response,
    processor_id: ProcessorParam = None,
    download: DownloadParam = False,
) -> IncidentReport:
    """``{"report", "notice", "obligations"}`` of the incident: the contents of the report to the regulator
    (Draft Network Data Security Regs Art. 11 para 2), of the notice to individuals (PIPL Art. 57 para 1) and
    the obligations as of now. Every role (regulators included); platform keys only their processor's.
    Raises 404, 409, 503."""
    record = served(find_incident(es, settings.es_index_prefix, principal, incident_id, processor_id), principal,
                   datetime.now(UTC))
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="{report_filename(record)}.json"'
    return IncidentReport(report=record.report, notice=record.notice, obligations=record.obligations)


def report_filename(record: IncidentRecord) -> str:
    """``incident-report-<processor>-<incident>`` with only file-name-safe characters."""
    raw = f"incident-report-{record.processor_id}-{record.incident_id}"
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in raw)[:150]


@router.get(
    "/{incident_id}/report.html",
    response_class=HTMLResponse,
    summary="Regulator report of one incident as a printable HTML page",
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "The report page (Chinese with English headings), A4 print layout."},
               **ONE_INCIDENT},
)
def get_report_html(
    incident_id: IncidentIdPath,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: ProcessorParam = None,
    download: DownloadParam = False,
) -> HTMLResponse:
    """The same report as ``/report`` as one self-contained HTML page (no scripts, no external resources;
    print it or save it as PDF from the browser). PI in free text is masked for regulator keys.
    Raises 404, 409, 503."""
    now = datetime.now(UTC)
    record = served(find_incident(es, settings.es_index_prefix, principal, incident_id, processor_id), principal, now)
    headers = {"Content-Disposition": f'attachment; filename="{report_filename(record)}.html"'} if download else {}
    return HTMLResponse(render_report(record, now, masked=principal.role is Role.REGULATOR), headers=headers)


@router.get(
    "/{incident_id}/report.pdf",
    response_class=Response,
    summary="Regulator report of one incident as a PDF (A4, Chinese fonts)",
    responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "The report as PDF: the HTML page laid out by WeasyPrint."},
               **ONE_INCIDENT},
)
def get_report_pdf(
    incident_id: IncidentIdPath,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: ProcessorParam = None,
    download: DownloadParam = False,
) -> Response:
    """The report of ``/report.html`` as a PDF (same template, same masking for regulator keys), inline or,
    with ``download=true``, as an attachment. Raises 404, 409, 503."""
    now = datetime.now(UTC)
    record = served(find_incident(es, settings.es_index_prefix, principal, incident_id, processor_id), principal, now)
    pdf = render_pdf(render_report(record, now, masked=principal.role is Role.REGULATOR))
    disposition = "attachment" if download else "inline"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'{disposition}; filename="{report_filename(record)}.pdf"'})


@router.post(
    "/{incident_id}/obligations/{obligation}",
    response_model=IncidentUpdate,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Mark an obligation done or waived (applied asynchronously by the incident agent)",
    responses={
        403: {"description": "Regulator keys may not write."},
        404: {"description": "No such incident visible to this key."},
        409: {"description": "Several processors use this incident id: pass `processor_id`."},
        422: {"description": "Invalid body, `at` in the future, or a waiver of an obligation that cannot be "
                             "waived."},
        503: {"description": "Elasticsearch or Kafka unavailable; nothing was recorded."},
    },
)
def mark_obligation(
    incident_id: IncidentIdPath,
    obligation: Annotated[ObligationId, Path(description="regulator_report, followup_report or "
                                                         "notify_individuals.")],
    mark: Annotated[Mark, Body()],
    principal: WriterPrincipal,
    es: EsDep,
    settings: SettingsDep,
    producer: IncidentProducerDep,
    processor_id: ProcessorParam = None,
) -> IncidentUpdate:
    """Record that ``obligation`` was performed (``{"action": "done", "at": <RFC 3339, default now>,
    "note": ...}``) or is waived (``{"action": "waive", "reason": ..., "note": ...}``; only
    ``notify_individuals``, PIPL Art. 57 para 2).

    Roles: admin, soc_analyst, platform (its own processor's incidents only); regulator → 403. Produces an
    ``IncidentUpdate`` (``source = "api"``, ``actor`` = the key's name) to ``incident-updates`` keyed by
    the processor id and answers 202 with it; the incident record changes once the agent has applied it.
    Raises 404 (no such incident visible), 409 (ambiguous id), 422, 503 (Elasticsearch or Kafka down).
    """
    now = datetime.now(UTC)
    if isinstance(mark, MarkWaived) and obligation not in WAIVABLE:
        check_waivable(obligation, None)
    if isinstance(mark, MarkDone) and mark.at is not None and mark.at > now + FUTURE_TOLERANCE:
        raise unprocessable(("body", "at"), "`at` is in the future")
    record = find_incident(es, settings.es_index_prefix, principal, incident_id, processor_id)
    if isinstance(mark, MarkWaived):
        check_waivable(obligation, record.pack_id)
    update = build_update(record, obligation, mark, principal.name or f"key:{principal.key_id}", now)
    try:
        producer.send(record.processor_id, update.model_dump_json().encode())
    except BrokerUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="event bus unavailable; nothing recorded",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from exc
    write_audit(es, settings.es_index_prefix, AuditRecord(
        at=now, actor=actor_of(principal), action=f"incident.obligation.{mark.action}", target_type="incident",
        target_id=record.id, processor_id=record.processor_id,
        reason=getattr(mark, "reason", None) or getattr(mark, "note", None),
        details={"incident_id": record.incident_id, "obligation": obligation, "update_id": update.update_id},
    ))  # fmt: skip
    return update
