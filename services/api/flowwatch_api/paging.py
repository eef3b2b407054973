"""Cursor paging of every ``/v1`` list: page size, sort order, cursors, the searches that fetch a page and
the page models the routes answer.

Every list sorts on one field (a date, or ``count``), then on a keyword id ascending (``sort_on``), and pages
with Elasticsearch ``search_after``: the cursor is the urlsafe base64 (unpadded) of the JSON of the last
hit's sort values ``[epoch_ms, id]``, opaque to clients (``encode_cursor`` / ``decode_cursor``); an empty
cursor means the first page, any other that this API did not make is a 400. One extra hit per search tells
whether another page exists.

- ``search_page``: a page of one index (or a comma-separated list of indices) in one search.
- ``flat_page``: a page of time partitions (``flowwatch_api.partitions``) in any order, searching every
  partition at once.
- ``walk_page``: a page sorted by the partitions' own time field, descending: partitions are searched from
  the newest in growing batches (1, 1, 2, 4, … indices, at most ``MAX_BATCH``) until the page is full.
  Disjoint partitions make the concatenation of the batches' hits the global order. ``total`` counts the
  matches in the searched partitions; ``total_relation`` is ``"gte"`` when some were not searched.

They answer a ``HitPage`` (raw hits); the route turns the hits into items of a ``Page[T]`` model:
``Page`` (``items``, ``next_cursor``, ``total``), ``PartitionedPage`` (and ``total_relation``, ``"gte"``
when ``total`` is a lower bound) or ``ExactPage`` (``total_relation`` always ``"eq"``). Each route
subclasses one with its item type, which names its OpenAPI schema (``FindingsPage``, ``AlertsPage``, …).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from elasticsearch import Elasticsearch
from fastapi import HTTPException, status
from pydantic import BaseModel, Field

from flowwatch_api.partitions import Partition
from flowwatch_api.query import search

MAX_BATCH = 16
"""Most partitions searched by one request of a walk."""
TotalRelation = Literal["eq", "gte"]
"""``eq``: ``total`` is the number of matches; ``gte``: at least that many (a walk that stopped early)."""

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------------
# Sort order and cursors
# ---------------------------------------------------------------------------------------------------


def sort_on(field: str, id_field: str, descending: bool = True) -> list[dict[str, Any]]:
    """``field`` (descending by default; documents without it last), then ``id_field`` ascending."""
    return [
        {field: {"order": "desc" if descending else "asc", "missing": "_last", "unmapped_type": "date"}},
        {id_field: {"order": "asc", "unmapped_type": "keyword"}},
    ]


def encode_cursor(sort_values: list[Any]) -> str:
    """Opaque cursor (urlsafe base64, no padding) of a hit's sort values ``[epoch_ms, finding_id]``."""
    raw = json.dumps(sort_values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> list[Any]:
    """Sort values of a cursor made by ``encode_cursor``. Raises ValueError when it is not one."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if (
        not isinstance(values, list) or len(values) != 2
        or not isinstance(values[0], int) or isinstance(values[0], bool) or not isinstance(values[1], str)
    ):
        raise ValueError("invalid cursor")
    return values


def search_after(cursor: str | None) -> list[Any] | None:
    """The ``search_after`` values of a request's ``cursor`` (None for the first page: no or an empty cursor).
    Raises HTTPException 400 for a cursor not made by this API."""
    if not cursor:
        return None
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="invalid cursor") from None


# ---------------------------------------------------------------------------------------------------
# Fetching a page
# ---------------------------------------------------------------------------------------------------


@dataclass
class HitPage:
    """One page of raw hits: the hits, the cursor of the next page (None on the last), and the total
    matches (``total_relation`` ``"gte"``: at least that many)."""

    hits: list[dict[str, Any]]
    next_cursor: str | None
    total: int
    total_relation: TotalRelation = "eq"


def _body(filters: list[dict[str, Any]], sort: list[dict[str, Any]], size: int,
          after: list[Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": {"bool": {"filter": filters}}, "sort": sort, "size": size,
                            "track_total_hits": True}  # fmt: skip
    if after is not None:
        body["search_after"] = after
    return body


def _cut(hits: list[dict[str, Any]], size: int) -> tuple[list[dict[str, Any]], str | None]:
    """The first ``size`` of ``hits`` (fetched with one extra) and the cursor after them when more exist."""
    page = hits[:size]
    return page, encode_cursor(page[-1]["sort"]) if len(hits) > size else None


def search_page(
    es: Elasticsearch,
    index: str,
    filters: list[dict[str, Any]],
    sort: list[dict[str, Any]],
    size: int,
    cursor: str | None,
) -> HitPage:
    """One page of the documents of ``index`` (one name, a pattern or a comma-separated list) matching every
    clause of ``filters``, in ``sort`` order, in one search; ``total`` is exact.

    Raises HTTPException 400 for a cursor not made by this API; Elasticsearch errors propagate.
    """
    body = _body(filters, sort, size + 1, search_after(cursor))  # one extra hit: is there another page?
    resp = search(es, index, **body)
    page, next_cursor = _cut(resp["hits"]["hits"], size)
    return HitPage(page, next_cursor, int(resp["hits"]["total"]["value"]))


def flat_page(
    es: Elasticsearch,
    parts: list[Partition],
    filters: list[dict[str, Any]],
    sort: list[dict[str, Any]],
    size: int,
    cursor: str | None,
) -> HitPage:
    """A page of ``filters`` in any ``sort`` order, searching every partition in ``parts`` at once (none:
    an empty page). Raises HTTPException 400 for a bad cursor."""
    if not parts:
        search_after(cursor)
        return HitPage([], None, 0)
    return search_page(es, ",".join(p.index for p in parts), filters, sort, size, cursor)


def walk_page(
    es: Elasticsearch,
    parts: list[Partition],
    filters: list[dict[str, Any]],
    sort: list[dict[str, Any]],
    size: int,
    cursor: str | None,
) -> HitPage:
    """A page of ``filters`` sorted by ``sort`` whose first key is the partitions' time field, DESCENDING
    (see module doc). ``parts`` newest first. Raises HTTPException 400 for a bad cursor."""
    after = search_after(cursor)
    if after is not None:  # partitions entirely newer than the cursor hold nothing after it
        at = datetime.fromtimestamp(after[0] / 1000, tz=UTC) if isinstance(after[0], int) else None
        if at is not None and after[0] < 2**62:
            parts = [p for p in parts if p.start <= at]
    hits: list[dict[str, Any]] = []
    total, searched, batch = 0, 0, 1
    while searched < len(parts) and len(hits) <= size:
        chunk = parts[searched : searched + batch]
        resp = search(es, ",".join(p.index for p in chunk), **_body(filters, sort, size + 1 - len(hits), after))
        hits.extend(resp["hits"]["hits"])
        total += int(resp["hits"]["total"]["value"])
        searched += len(chunk)
        batch = min(MAX_BATCH, batch * 2) if searched > 1 else 1
    page, next_cursor = _cut(hits, size)
    return HitPage(page, next_cursor, total, "eq" if searched >= len(parts) else "gte")


# ---------------------------------------------------------------------------------------------------
# Page models (what the routes answer)
# ---------------------------------------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` in the list's order, the cursor of the next page, the total matches.

    Subclass it with the item type (``class LedgerPage(Page[LedgerRecord])``): the subclass names the
    OpenAPI schema and its docstring describes it."""

    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
    total: int = Field(ge=0)


class PartitionedPage(Page[T], Generic[T]):
    """A page of a list over time partitions: ``total_relation = "gte"`` when ``total`` is a lower bound
    (a newest-first walk that did not search every partition)."""

    total_relation: TotalRelation = Field(default="eq", description="`gte`: `total` is a lower bound.")


class ExactPage(Page[T], Generic[T]):
    """A page whose ``total`` is exact: ``total_relation`` is always ``"eq"`` (the lists of one index)."""

    total_relation: str = Field(default="eq", description="Always `eq` here.")
