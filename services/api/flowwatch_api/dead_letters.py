"""``/v1/dead-letters``: the inputs the detector could not process, why, when, and where the original is kept.

Each item is a ``DeadLetter`` record (index ``<prefix>-deadletters``, written by the indexer from the
``fw-dead-letter`` header of the dead-letter topic) plus ``original`` — the topic, partition and offset of
the kept original bytes on the dead-letter topic (the bytes themselves are never served: they may hold raw
PI) — and ``redrive``, the record of ``flowwatch dead-letters redrive`` for that original (null: not
redriven). Every role reads; a platform key only the dead letters carrying its processor id (an input so
broken that no processor id could be read from it is visible to admin, SOC and regulator keys only). For
regulator keys, PI in ``error`` is masked with the detector's recognizers.
"""

from __future__ import annotations

from typing import Annotated, Any

from elasticsearch import Elasticsearch
from fastapi import APIRouter, HTTPException, Path, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict

from flowwatch.apikeys import Role
from flowwatch.detection.redact import redact
from flowwatch.es_indices import dead_letters_index
from flowwatch.models import DeadLetter
from flowwatch.redrives import RedriveRecord, redrive_id, redrive_states
from flowwatch.wire import MAX_PAGE_SIZE
from flowwatch_api.auth import BAD_REQUEST, AuthFirstRoute, Principal, may_read, scope_filters
from flowwatch_api.deps import CurrentPrincipal, EsDep, SettingsDep
from flowwatch_api.paging import ExactPage, search_page, sort_on
from flowwatch_api.query import search, text_query, time_range

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"], route_class=AuthFirstRoute,
                   responses=BAD_REQUEST)

SORT = sort_on("received_at", "dead_letter_id")


class OriginalPointer(BaseModel):
    """Where the original bytes are kept: a message of the dead-letter topic (null partition/offset: the
    record was indexed without them)."""

    topic: str
    partition: int | None
    offset: int | None


class DeadLetterView(DeadLetter):
    """A dead letter with the pointer to its kept original and its redrive (null: not redriven)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=None)

    original: OriginalPointer
    redrive: RedriveRecord | None = None


class DeadLettersPage(ExactPage[DeadLetterView]):
    """One page of dead letters, newest first. ``total`` counts every match."""


def _views(es: Elasticsearch, prefix: str, principal: Principal, docs: list[dict[str, Any]]) -> list[DeadLetterView]:
    records = [DeadLetter.model_validate(d) for d in docs]
    ids = [rid for rid in (redrive_id(r) for r in records) if rid]
    states = redrive_states(es, prefix, ids)
    out = []
    for r in records:
        rid = redrive_id(r)
        error = (redact(r.error) or "") if principal.role is Role.REGULATOR else r.error
        out.append(DeadLetterView(**{**r.model_dump(), "error": error},
                                  original=OriginalPointer(topic=r.dlq_topic, partition=r.dlq_partition,
                                                           offset=r.dlq_offset),
                                  redrive=states.get(rid) if rid else None))
    return out


@router.get("", response_model=DeadLettersPage, summary="Search dead letters (why, when, where the original is)")
def list_dead_letters(
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
    processor_id: Annotated[list[str] | None, Query(description="Processor id; repeatable.")] = None,
    reason: Annotated[list[str] | None, Query(description="invalid_json, schema_violation, too_large, "
                                              "key_mismatch; repeatable.")] = None,
    event_id: Annotated[str | None, Query(max_length=300, description="Flow event id (when it was readable).")]
    = None,
    from_: Annotated[AwareDatetime | None, Query(alias="from", description="RFC 3339; received_at >= from.")] = None,
    to: Annotated[AwareDatetime | None, Query(description="RFC 3339; received_at < to (exclusive).")] = None,
    q: Annotated[str | None, Query(max_length=500, description="Full text over the error.")] = None,
    size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    cursor: Annotated[str | None, Query(max_length=2000, description="`next_cursor` of the previous page.")] = None,
) -> DeadLettersPage:
    """Dead letters matching every given filter, newest first. Raises 400 (cursor), 422, 503."""
    filters: list[dict[str, Any]] = list(scope_filters(principal))
    if processor_id:
        filters.append({"terms": {"processor_id": processor_id}})
    if reason:
        filters.append({"terms": {"reason": reason}})
    if event_id is not None:
        filters.append({"term": {"event_id": event_id}})
    filters += time_range("received_at", from_, to) + text_query(q, ["error"])
    prefix = settings.es_index_prefix
    page = search_page(es, dead_letters_index(prefix), filters, SORT, size, cursor)
    return DeadLettersPage(items=_views(es, prefix, principal, [h["_source"] for h in page.hits]),
                           next_cursor=page.next_cursor, total=page.total)


@router.get("/{dead_letter_id}", response_model=DeadLetterView, summary="One dead letter by id",
            responses={404: {"description": "No such dead letter visible to this key."}})
def get_dead_letter(
    dead_letter_id: Annotated[str, Path(min_length=1, max_length=128, description="SHA-256 of the original.")],
    principal: CurrentPrincipal,
    es: EsDep,
    settings: SettingsDep,
) -> DeadLetterView:
    """The dead letter ``dead_letter_id``. Raises 404 when it does not exist or belongs to another
    processor than a platform key's (the same answer), 503."""
    prefix = settings.es_index_prefix
    resp = search(es, dead_letters_index(prefix), query={"bool": {"filter": [
        {"term": {"dead_letter_id": dead_letter_id}}, *scope_filters(principal)]}}, size=1)
    hits = resp["hits"]["hits"]
    if not hits or not may_read(principal, hits[0]["_source"].get("processor_id")):
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="dead letter not found")
    return _views(es, prefix, principal, [hits[0]["_source"]])[0]
