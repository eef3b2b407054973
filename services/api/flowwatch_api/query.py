"""Search helpers shared by the incident and alert routes: tolerant search, time ranges, cursor pages.

Cursors are those of ``findings`` (urlsafe base64 of the last hit's ``[epoch_ms, id]`` sort values): every
list sorts on one date field descending, then a keyword id ascending.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from fastapi import HTTPException, status
from fastapi.exceptions import RequestValidationError


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


EMPTY: dict[str, Any] = {"hits": {"hits": [], "total": {"value": 0}}}


def search(es: Elasticsearch, index: str, **body: Any) -> dict[str, Any]:
    """ES search of ``index``; a missing index reads as no hits. Elasticsearch errors propagate (→ 503)."""
    try:
        resp = es.search(index=index, ignore_unavailable=True, allow_no_indices=True, **body)
    except NotFoundError:
        return EMPTY
    return dict(resp.body)


def unprocessable(loc: tuple[str, ...], msg: str) -> RequestValidationError:
    """A 422 in FastAPI's documented validation-error shape (``{"detail": [{"loc", "msg", "type"}]}``)."""
    return RequestValidationError([{"type": "value_error", "loc": loc, "msg": msg, "input": None}])


def iso_ms(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds (what ES date ranges compare; ES refuses offsets beyond ±18:00).
    Raises RequestValidationError (422) for an instant that has no UTC equivalent in years 1–9999."""
    try:
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    except (OverflowError, ValueError):
        raise unprocessable(("query",), f"{value.isoformat()} is out of range in UTC") from None


def time_range(field: str, from_: datetime | None, to: datetime | None) -> list[dict[str, Any]]:
    """``[range clause]`` for ``from_ <= field < to`` (either bound optional), or ``[]`` without bounds."""
    bounds: dict[str, str] = {}
    if from_ is not None:
        bounds["gte"] = iso_ms(from_)
    if to is not None:
        bounds["lt"] = iso_ms(to)
    return [{"range": {field: bounds}}] if bounds else []


def text_query(q: str | None, fields: list[str]) -> list[dict[str, Any]]:
    """``[simple_query_string clause]`` for a full-text ``q`` over ``fields`` (AND of the words), or ``[]``.

    Simple query string syntax never fails on user input (unbalanced quotes or operators are read as text)."""
    if q is None or not q.strip():
        return []
    return [{"simple_query_string": {"query": q, "fields": fields, "default_operator": "and", "lenient": True}}]


def sort_by(date_field: str, id_field: str) -> list[dict[str, Any]]:
    """Newest first on ``date_field`` (documents without it last), then ``id_field`` ascending."""
    return [
        {date_field: {"order": "desc", "missing": "_last", "unmapped_type": "date"}},
        {id_field: {"order": "asc", "unmapped_type": "keyword"}},
    ]


def search_page(
    es: Elasticsearch, index: str, filters: list[dict[str, Any]], sort: list[dict[str, Any]], size: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None, int]:
    """One page of hits: ``(hits, next_cursor or None, total matches)``.

    Raises HTTPException 400 for a cursor not made by this API; Elasticsearch errors propagate.
    """
    body: dict[str, Any] = {
        "query": {"bool": {"filter": filters}},
        "sort": sort,
        "size": size + 1,  # one extra hit tells whether another page exists
        "track_total_hits": True,
    }
    if cursor:  # an empty cursor means the first page
        try:
            body["search_after"] = decode_cursor(cursor)
        except ValueError:
            raise HTTPException(status_code=status.HTTP_400_BAD_REQUEST, detail="invalid cursor") from None
    resp = search(es, index, **body)
    hits = resp["hits"]["hits"]
    page, more = hits[:size], len(hits) > size
    return page, (encode_cursor(page[-1]["sort"]) if more else None), int(resp["hits"]["total"]["value"])
