"""Routes and notification records in Elasticsearch: the notifier's durable state.

- ``<prefix>-notify-routes``: one document per route (id ``route_id``), written by the query service.
- ``<prefix>-notifications``: one document per notification (id ``notification_id``). ``claim`` creates it
  with ``op_type=create`` in state ``sending`` before the first try, so a replayed alert (or a second notifier
  instance) finds it and sends nothing; ``finish`` sets ``delivered`` or ``dead_lettered``. A ``sending``
  record older than ``STALE_SENDING`` (a notifier killed mid-delivery) is taken over by the next occurrence:
  at least once, and exactly once unless a notifier dies between the receiver's answer and ``finish``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import BadRequestError, ConflictError, Elasticsearch, NotFoundError

from flowwatch.notifications.models import Notification, Route

STALE_SENDING = timedelta(minutes=10)
KW = {"type": "keyword"}
DATE = {"type": "date"}

ROUTE_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {"route_id": KW, "name": KW, "enabled": {"type": "boolean"}, "updated_at": DATE,
                   "updated_by": KW, "language": KW,
                   "channel": {"type": "object", "enabled": False},
                   "match": {"type": "object", "enabled": False}},
}
NOTIFICATION_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {"notification_id": KW, "route_id": KW, "channel_kind": KW, "alert_id": KW, "alert_type": KW,
                   "severity": KW, "processor_id": KW, "incident_id": KW, "title": {"type": "text"},
                   "title_zh": {"type": "text"}, "state": KW,
                   "created_at": DATE, "updated_at": DATE, "last_error": {"type": "text"},
                   "attempts": {"type": "object", "enabled": False},
                   "alert": {"type": "object", "enabled": False}},
}


def routes_index(prefix: str) -> str:
    """Index of notification routes."""
    return f"{prefix}-notify-routes"


def notifications_index(prefix: str) -> str:
    """Index of notification records."""
    return f"{prefix}-notifications"


def ensure_indices(es: Elasticsearch, prefix: str) -> None:
    """Create both indices with their mappings when missing (idempotent)."""
    for index, mappings in ((routes_index(prefix), ROUTE_MAPPINGS),
                            (notifications_index(prefix), NOTIFICATION_MAPPINGS)):
        if es.indices.exists(index=index):
            continue
        try:
            es.indices.create(index=index, mappings=mappings, settings={"number_of_shards": 1})
        except BadRequestError as exc:  # created meanwhile by another process
            if "already_exists" not in str(exc) and "exists" not in str(exc):
                raise


def load_routes(es: Elasticsearch, prefix: str) -> list[Route]:
    """Every stored route (at most 1,000), by id. A missing index reads as none."""
    try:
        resp = es.search(index=routes_index(prefix), size=1000, sort=[{"route_id": "asc"}],
                         query={"match_all": {}})
    except NotFoundError:
        return []
    return [Route.model_validate(h["_source"]) for h in resp["hits"]["hits"]]


def get_route(es: Elasticsearch, prefix: str, route_id: str) -> Route | None:
    """The route ``route_id``, or None."""
    try:
        doc = es.get(index=routes_index(prefix), id=route_id)
    except NotFoundError:
        return None
    return Route.model_validate(doc["_source"])


def put_route(es: Elasticsearch, prefix: str, route: Route) -> bool:
    """Store ``route`` (``refresh=wait_for``). Returns True when it was new."""
    ensure_indices(es, prefix)
    resp = es.index(index=routes_index(prefix), id=route.route_id, document=route.stored(), refresh="wait_for")
    return resp["result"] == "created"


def delete_route(es: Elasticsearch, prefix: str, route_id: str) -> bool:
    """Delete the route; False when there was none."""
    try:
        es.delete(index=routes_index(prefix), id=route_id, refresh="wait_for")
    except NotFoundError:
        return False
    return True


def claim(es: Elasticsearch, prefix: str, record: Notification) -> bool:
    """Create ``record`` (state ``sending``) unless its id exists; take over a stale ``sending`` one. Returns
    whether this caller now owns the delivery."""
    index = notifications_index(prefix)
    try:
        es.create(index=index, id=record.notification_id, document=record.model_dump(mode="json"), refresh=True)
        return True
    except ConflictError:
        got = es.get(index=index, id=record.notification_id)
        existing = Notification.model_validate(got["_source"])
        if existing.state != "sending" or datetime.now(UTC) - existing.updated_at < STALE_SENDING:
            return False
        try:
            es.index(index=index, id=record.notification_id, document=record.model_dump(mode="json"),
                     if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"], refresh=True)
        except ConflictError:
            return False
        return True


def finish(es: Elasticsearch, prefix: str, record: Notification) -> None:
    """Store the final state of ``record`` (delivered or dead_lettered)."""
    es.index(index=notifications_index(prefix), id=record.notification_id, document=record.model_dump(mode="json"),
             refresh=True)
