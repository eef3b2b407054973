"""``/v1/processors`` and ``/v1/restrictions``: the processor registry (profiles, filed transfer mechanisms)
and the recipient restriction list (PIPL Art. 42: 限制或者禁止个人信息提供清单).

Writes never touch Elasticsearch: they produce the whole record to the compacted ``processor-registry``
topic (key: the processor id as a JSON string, or ``RESTRICTIONS_KEY``; value: ``RegistryEntry`` /
``RestrictionList`` JSON), which every detector worker reads as a global table and the indexer copies to
``<prefix>-registry`` (seconds later). The last record per key wins.

Reads come from ``<prefix>-registry`` ANDed with ``auth.scope_filters``: a platform key sees only its own
processor (another processor's entry is a 404, like a missing one) and may write only its own (403).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, Body, HTTPException, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowwatch.apikeys import Role
from flowwatch.audit import AuditRecord, write_audit
from flowwatch.es_indices import registry_index
from flowwatch.exports.rules import FiledMechanism, Mechanism, ProcessorProfile
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictedRecipient, RestrictionList
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, actor_of, scope_filters
from flowwatch_api.deps import (
    AdminPrincipal,
    AllTenantsReader,
    CurrentPrincipal,
    EsDep,
    PublisherPrincipal,
    RegistryProducerDep,
    SettingsDep,
)
from flowwatch_api.paging import Page, search_page, sort_on
from flowwatch_api.producer import BrokerUnavailable, UpdateProducer
from flowwatch_api.query import search, unprocessable

router = APIRouter(tags=["registry"], route_class=AuthFirstRoute, responses=BAD_REQUEST)

SORT = sort_on("updated_at", "processor_id")
RETRY_AFTER_SECONDS = "5"

ProcessorIdPath = Annotated[str, Path(min_length=1, max_length=200, description="The processor id.")]


class Registration(BaseModel):
    """Body of ``PUT /v1/processors/{processor_id}``: the whole profile and every mechanism on file (the
    record replaces the previous one). ``profile.processor_id`` must be the path's processor id."""

    model_config = ConfigDict(extra="forbid")

    profile: ProcessorProfile
    mechanisms: list[FiledMechanism] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Registration:
        ids = [m.id for m in self.mechanisms]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate mechanism ids: {', '.join(duplicates)}")
        return self


class Restrictions(BaseModel):
    """Body of ``PUT /v1/restrictions``: the whole list of restricted recipients (replaces the previous one)."""

    model_config = ConfigDict(extra="forbid")

    recipients: list[RestrictedRecipient]


class ProcessorsPage(Page[RegistryEntry]):
    """One page of registry entries, most recently updated first. ``total`` counts every match."""


# ---------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------


def registry_key(key: str) -> str:
    """Kafka key of a registry record: the registry key as a JSON string (``"p-bank"`` → ``'"p-bank"'``),
    as the detector's global table (JSON key serializer) reads it."""
    return json.dumps(key)


def actor(principal: Principal) -> str:
    """Who made a change: the key's name, else ``key:<key_id>``."""
    return principal.name or f"key:{principal.key_id}"


def build_entry(processor_id: str, body: Registration, by: str, now: datetime) -> RegistryEntry:
    """The ``RegistryEntry`` a registration produces. Raises HTTPException 422 when the profile names
    another processor or the id is the reserved restriction-list key."""
    if processor_id == RESTRICTIONS_KEY:
        raise unprocessable(("path", "processor_id"), f"{RESTRICTIONS_KEY!r} is reserved")
    if body.profile.processor_id != processor_id:
        raise unprocessable(("body", "profile", "processor_id"),
                            f"profile.processor_id {body.profile.processor_id!r} is not the path's {processor_id!r}")
    return RegistryEntry(processor_id=processor_id, profile=body.profile, mechanisms=body.mechanisms,
                         updated_at=now, updated_by=by)


def check_may_write(principal: Principal, processor_id: str) -> None:
    """Raise HTTPException 403 unless ``principal`` may write ``processor_id``'s entry: admin any, platform
    only its own."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.PLATFORM and principal.processor_id and principal.processor_id == processor_id:
        return
    raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="this key may not write this processor")


def entries_filter() -> dict[str, Any]:
    """Registry documents that are processor entries (the restriction list has no ``processor_id``)."""
    return {"exists": {"field": "processor_id"}}


def mechanism_filter(types: list[Mechanism] | None, active: bool | None) -> list[dict[str, Any]]:
    """``[nested clause]`` matching entries with ONE filed mechanism of the given types / status, or ``[]``."""
    inner: list[dict[str, Any]] = []
    if types:
        inner.append({"terms": {"mechanisms.type": [str(t) for t in types]}})
    if active is not None:
        inner.append({"term": {"mechanisms.status": "active" if active else "withdrawn"}})
    if not inner:
        return []
    return [{"nested": {"path": "mechanisms", "query": {"bool": {"filter": inner}}}}]


def get_doc(es: Elasticsearch, index: str, doc_id: str, filters: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``_source`` of document ``doc_id`` of ``index`` if it matches ``filters`` (a missing index or document
    → ``None``; Elasticsearch errors propagate)."""
    query = {"bool": {"filter": [{"ids": {"values": [doc_id]}}, *filters]}}
    hits = search(es, index, query=query, size=1)["hits"]["hits"]
    return dict(hits[0]["_source"]) if hits else None


def send(producer: UpdateProducer, key: str, record: BaseModel) -> None:
    """Produce ``record`` under registry ``key``. Raises HTTPException 503 when Kafka does not acknowledge."""
    try:
        producer.send(registry_key(key), record.model_dump_json().encode())
    except BrokerUnavailable as exc:
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail="event bus unavailable; nothing recorded",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        ) from exc


# ---------------------------------------------------------------------------------------------------
# Routes: processors
# ---------------------------------------------------------------------------------------------------


@router.put(
    "/v1/processors/{processor_id}",
    response_model=RegistryEntry,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Register a processor's profile and filed transfer mechanisms (replaces the entry)",
    responses={
        403: {"description": "SOC analyst and regulator keys, or a platform key of another processor."},
        422: {"description": "Invalid body, or `profile.processor_id` is not the path's processor id."},
        503: {"description": "Kafka unavailable; nothing was recorded."},
    },
)
def put_processor(
    processor_id: ProcessorIdPath,
    body: Annotated[Registration, Body()],
    principal: PublisherPrincipal,
    producer: RegistryProducerDep,
    es: EsDep,
    settings: SettingsDep,
) -> RegistryEntry:
    """Record ``{"profile": ProcessorProfile, "mechanisms": [FiledMechanism]}`` as the processor's whole
    registry entry (2024 Provisions Arts. 7–9; GBA Guideline Art. 2).

    Roles: admin, and platform for its own processor only (another → 403); soc_analyst, regulator → 403.
    Produces a ``RegistryEntry`` (``updated_at`` now, ``updated_by`` the key's name) to
    ``processor-registry`` keyed by the processor id as a JSON string, and answers 202 with it; the detector
    uses it from its next flow on, ``GET`` serves it once indexed. Raises 403, 422, 503 (Kafka down).
    """
    check_may_write(principal, processor_id)
    entry = build_entry(processor_id, body, actor(principal), datetime.now(UTC))
    send(producer, processor_id, entry)
    write_audit(es, settings.es_index_prefix, AuditRecord(
        at=entry.updated_at, actor=actor_of(principal), action="processor.put", target_type="processor",
        target_id=processor_id, processor_id=processor_id,
        details={"ciio": entry.profile.ciio, "mechanisms": [m.id for m in entry.mechanisms]},
    ))  # fmt: skip
    return entry


@router.get("/v1/processors", response_model=ProcessorsPage,
            summary="Registered processors (most recently updated first, cursor paging)")
def list_processors(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeat for any of several.")]
    = None,
    mechanism_type: Annotated[
        list[Mechanism] | None, Query(description="Entries with a filed mechanism of this type; repeatable.")
    ] = None,
    mechanism_active: Annotated[
        bool | None, Query(description="With `mechanism_type`: that mechanism is active (true) / withdrawn.")
    ] = None,
    gba_city: Annotated[str | None, Query(description="Canonical GBA place, e.g. Shenzhen, HK.")] = None,
    ciio: Annotated[bool | None, Query(description="Critical information infrastructure operators.")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> ProcessorsPage:
    """Registry entries matching every given filter. Admin, SOC and regulator keys see every processor;
    a platform key only its own. Raises 400 (cursor), 422, 503 (Elasticsearch down)."""
    filters: list[dict[str, Any]] = [entries_filter(), *scope_filters(principal)]
    if processor_id:
        filters.append({"terms": {"processor_id": processor_id}})
    if gba_city is not None:
        filters.append({"term": {"profile.gba_city": gba_city}})
    if ciio is not None:
        filters.append({"term": {"profile.ciio": ciio}})
    filters += mechanism_filter(mechanism_type, mechanism_active)
    page = search_page(es, registry_index(settings.es_index_prefix), filters, SORT, size, cursor)
    items = [RegistryEntry.model_validate(h["_source"]) for h in page.hits]
    return ProcessorsPage(items=items, next_cursor=page.next_cursor, total=page.total)


@router.get(
    "/v1/processors/{processor_id}",
    response_model=RegistryEntry,
    summary="One processor's registry entry",
    responses={404: {"description": "Not registered, or not visible to this key."}},
)
def get_processor(
    processor_id: ProcessorIdPath,
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> RegistryEntry:
    """The processor's profile and filed mechanisms as last indexed. A platform key reads only its own
    (another processor's is a 404, the same answer as a missing one). Raises 404, 503."""
    filters = [entries_filter(), *scope_filters(principal)]
    doc = get_doc(es, registry_index(settings.es_index_prefix), processor_id, filters)
    if doc is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="processor not registered")
    return RegistryEntry.model_validate(doc)


# ---------------------------------------------------------------------------------------------------
# Routes: restriction list
# ---------------------------------------------------------------------------------------------------


@router.put(
    "/v1/restrictions",
    response_model=RestrictionList,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Replace the list of restricted recipients (PIPL Art. 42)",
    responses={403: {"description": "Only admin keys."}, 503: {"description": "Kafka unavailable."}},
)
def put_restrictions(
    body: Annotated[Restrictions, Body()],
    principal: AdminPrincipal,
    producer: RegistryProducerDep,
    es: EsDep,
    settings: SettingsDep,
) -> RestrictionList:
    """Record ``{"recipients": [{"name", "reason"?, "source"?}]}`` as the whole restriction list (exports to
    a listed recipient raise an alert; names compare case-, width- and punctuation-insensitively). Admin
    only. Produces a ``RestrictionList`` under ``RESTRICTIONS_KEY`` to ``processor-registry`` and answers
    202 with it. Raises 403, 422, 503 (Kafka down)."""
    restrictions = RestrictionList(recipients=body.recipients, updated_at=datetime.now(UTC),
                                   updated_by=actor(principal))
    send(producer, RESTRICTIONS_KEY, restrictions)
    write_audit(es, settings.es_index_prefix, AuditRecord(
        at=restrictions.updated_at, actor=actor_of(principal), action="restrictions.put",
        target_type="restrictions", target_id=RESTRICTIONS_KEY,
        details={"recipients": [r.name for r in restrictions.recipients]},
    ))  # fmt: skip
    return restrictions


@router.get(
    "/v1/restrictions",
    response_model=RestrictionList,
    summary="The list of restricted recipients",
    responses={403: {"description": "Platform keys."}, 404: {"description": "No list has been recorded."}},
)
def get_restrictions(
    principal: AllTenantsReader,
    es: EsDep,
    settings: SettingsDep,
) -> RestrictionList:
    """The restriction list as last indexed. Admin, SOC analyst and regulator keys; platform → 403.
    Raises 404 when none was ever recorded, 503."""
    doc = get_doc(es, registry_index(settings.es_index_prefix), RESTRICTIONS_KEY, [])
    if doc is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="no restriction list recorded")
    return RestrictionList.model_validate(doc)
