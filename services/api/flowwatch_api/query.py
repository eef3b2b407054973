"""Search helpers shared by the routes: tolerant search, time ranges, full text, the 422 of a bad parameter.

Cursor paging (cursors, sort order, the page searches and models) is ``flowwatch_api.paging``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from fastapi.exceptions import RequestValidationError

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
