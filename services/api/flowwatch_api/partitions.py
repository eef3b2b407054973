"""Queries over time-partitioned indices (findings by hour or day, alerts by ISO week): the partitions of a
pattern, lookups by id, and per-partition aggregation caching (pages of them: ``flowwatch_api.paging``).

Why: the embedded engine (noida-db) answers every search by scanning each document of the searched indices
(≈ 5–7 µs per finding or alert on the reference machine, more for bigger documents; docs/engines.md), so a
page of the newest 50 findings out of 1,000,000 must not search all of them. Real Elasticsearch prunes
shards the same way (``can_match`` with sort on the time field); doing it here keeps the service fast on
both engines.

- ``list_partitions``: the indices of a pattern with the UTC interval each covers, newest first.
- ``paging.walk_page``: a page sorted by the partition's own time field, descending, searching partitions from
  the newest until the page is full (``paging.flat_page``: other orders, every partition at once).
- ``get_by_id``: a multi-get of ``doc_id`` in the newest ``MGET_FIRST`` partitions, then in the rest (each a
  key lookup, not a scan).
- ``PartitionAggCache`` / ``aggregate_partitions``: a size-0 aggregation run per partition (one ``_msearch``
  for those not cached) and merged by the caller; results of partitions that have ended are reused for
  ``CLOSED_TTL`` seconds during ``SETTLE`` after their end, then for ``SETTLED_TTL`` (late data shows up
  within that time; triage in this process invalidates at once), like Elasticsearch's shard request cache.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from flowwatch_api.query import search
from flowwatch_api.query import time_range as _range

CLOSED_TTL = 60.0
"""Seconds an aggregation of a partition that ended less than ``SETTLE`` ago is reused."""
SETTLE = timedelta(hours=1)
SETTLED_TTL = 900.0
"""Seconds an aggregation of a partition that ended ``SETTLE`` or more ago is reused (data that arrives
later than that for a past hour or day shows in dashboards within this time)."""
MGET_FIRST = 48
"""Partitions (newest first) a lookup by id tries before the others: two days of hourly findings indices."""
MSEARCH_BATCH = 64
"""Most partition aggregations sent in one ``_msearch`` request."""


@dataclass(frozen=True)
class Partition:
    """One index of a time-partitioned pattern and the UTC interval ``[start, end)`` its documents fall in."""

    index: str
    start: datetime
    end: datetime


def parse_partition(index: str) -> Partition | None:
    """The partition of an index named ``…-YYYY.MM.DD.HH`` (an hour), ``…-YYYY.MM.DD`` (a day),
    ``…-GGGG.wWW`` (an ISO 8601 week, Monday to Monday) or ``…-YYYY.MM`` (a month); None otherwise."""
    suffix = index.rsplit("-", 1)[-1]
    parts = suffix.split(".")
    try:
        if len(parts) == 4:
            start = datetime(int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), tzinfo=UTC)
            return Partition(index, start, start + timedelta(hours=1))
        if len(parts) == 3:
            start = datetime(int(parts[0]), int(parts[1]), int(parts[2]), tzinfo=UTC)
            return Partition(index, start, start + timedelta(days=1))
        if len(parts) == 2 and parts[1].startswith("w"):
            start = datetime.combine(date.fromisocalendar(int(parts[0]), int(parts[1][1:]), 1), dt_time(), UTC)
            return Partition(index, start, start + timedelta(days=7))
        if len(parts) == 2:
            year, month = int(parts[0]), int(parts[1])
            start = datetime(year, month, 1, tzinfo=UTC)
            end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return Partition(index, start, end)
    except ValueError:
        return None
    return None


def list_partitions(es: Elasticsearch, pattern: str) -> list[Partition]:
    """Partitions of ``pattern`` (e.g. ``fw-findings-*``), newest first; indices without a date suffix are
    ignored. One ``resolve_index`` call (cluster metadata, < 1 ms here), not cached, so a partition created a
    moment ago is seen. Raises elasticsearch errors other than not-found."""
    try:
        resolved = es.indices.resolve_index(name=pattern, expand_wildcards="open")
        names = [i["name"] for i in resolved.get("indices", [])]
    except NotFoundError:
        names = []
    return sorted((p for p in map(parse_partition, names) if p), key=lambda p: p.start, reverse=True)


def in_range(parts: list[Partition], from_: datetime | None, to: datetime | None) -> list[Partition]:
    """Partitions that can hold a document with ``from_ <= t < to``."""
    return [p for p in parts if (from_ is None or p.end > from_) and (to is None or p.start < to)]


def covers(part: Partition, from_: datetime | None, to: datetime | None) -> bool:
    """Whether every instant of ``part`` lies in ``[from_, to)`` (so a time-range filter is redundant there)."""
    return (from_ is None or from_ <= part.start) and (to is None or part.end <= to)


def aggregate_partitions(
    es: Elasticsearch,
    cache: PartitionAggCache,
    parts: list[Partition],
    filters: list[dict[str, Any]],
    time_field: str,
    from_: datetime | None,
    to: datetime | None,
    aggs: dict[str, Any],
    now: datetime,
) -> list[tuple[Partition, dict[str, Any]]]:
    """``(partition, size-0 response)`` of ``filters`` + ``aggs`` for every partition of ``parts`` that can
    hold a document with ``from_ <= time_field < to``, in the order of ``parts``. The time range is left out
    where it covers the whole partition, so that cached results are reused (``PartitionAggCache``)."""
    wanted = in_range(parts, from_, to)
    whole = {"query": {"bool": {"filter": filters}}, "aggs": aggs}  # shared: serialised once per call
    cut = {"query": {"bool": {"filter": filters + _range(time_field, from_, to)}}, "aggs": aggs}
    bodies = [whole if covers(p, from_, to) else cut for p in wanted]
    return list(zip(wanted, cache.run_many(es, list(zip(wanted, bodies, strict=True)), now), strict=True))


def merge_counts(target: dict[str, int], buckets: list[dict[str, Any]]) -> None:
    """Add terms-aggregation ``buckets`` (``key``, ``doc_count``) into ``target``."""
    for b in buckets:
        key = str(b.get("key_as_string", b["key"])) if not isinstance(b["key"], str) else b["key"]
        target[key] = target.get(key, 0) + int(b["doc_count"])


def get_by_id(es: Elasticsearch, parts: list[Partition], doc_id: str) -> dict[str, Any] | None:
    """The stored document ``doc_id`` (``{"_index", "_id", "_source", "_seq_no", "_primary_term"}``) from
    the first partition holding it, else None. ``parts`` newest first: one multi-get of the newest
    ``MGET_FIRST`` partitions (where documents people open usually are), then one of the rest; each is a
    key lookup per partition, not a scan. Raises elasticsearch errors."""
    for chunk in (parts[:MGET_FIRST], parts[MGET_FIRST:]):
        if not chunk:
            continue
        resp = es.mget(docs=[{"_index": p.index, "_id": doc_id} for p in chunk])
        for doc in resp["docs"]:
            if doc.get("found"):
                return dict(doc)
    return None


class PartitionAggCache:
    """Per-partition results of size-0 aggregation queries (see module doc). Thread-safe."""

    def __init__(self, closed_ttl: float = CLOSED_TTL, settled_ttl: float = SETTLED_TTL) -> None:
        self.closed_ttl = closed_ttl
        self.settled_ttl = settled_ttl
        self._entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def ttl(self, part: Partition, now: datetime) -> float:
        """Seconds a result of ``part`` is reused: 0 while it is current, ``closed_ttl`` for ``SETTLE`` after
        it ended, ``settled_ttl`` afterwards."""
        if part.end > now:
            return 0.0
        return self.closed_ttl if now - part.end < SETTLE else self.settled_ttl

    def run_many(
        self,
        es: Elasticsearch,
        queries: list[tuple[Partition, dict[str, Any]]],
        now: datetime | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> list[dict[str, Any]]:
        """The search response (``hits.total`` and ``aggregations``) of each size-0 ``(partition, body)``, in
        order, reused for ``ttl(part, now)`` seconds (``now`` defaults to the current time); the ones not cached
        go to Elasticsearch in ``_msearch`` requests of at most ``MSEARCH_BATCH`` searches. A body should leave
        out a time range that covers the whole partition, so that it is reused. Elasticsearch errors
        propagate."""
        now = now or datetime.now(UTC)
        out: list[dict[str, Any]] = []  # a placeholder {} for each miss, filled below
        missing: list[tuple[int, tuple[str, str], Partition, dict[str, Any]]] = []
        keys: dict[int, str] = {}  # one serialisation per distinct body (most partitions share one)
        with self._lock:
            for part, body in queries:
                if id(body) not in keys:
                    keys[id(body)] = json.dumps(body, sort_keys=True, default=str)
                key = (part.index, keys[id(body)])
                hit = self._entries.get(key)
                if hit and clock() - hit[0] < self.ttl(part, now):
                    out.append(hit[1])
                else:
                    out.append({})
                    missing.append((len(out) - 1, key, part, body))
        for i in range(0, len(missing), MSEARCH_BATCH):
            chunk = missing[i : i + MSEARCH_BATCH]
            lines: list[dict[str, Any]] = []
            for _, _, part, body in chunk:
                lines += [{"index": part.index, "ignore_unavailable": True, "allow_no_indices": True},
                          {**body, "size": 0, "track_total_hits": True}]
            responses = es.msearch(searches=lines)["responses"]
            for (pos, key, part, body), resp in zip(chunk, responses, strict=True):
                if "error" in resp:  # ask again alone: a missing index reads as empty, other errors raise
                    resp = search(es, part.index, size=0, track_total_hits=True, **body)
                out[pos] = dict(resp)
                if self.ttl(part, now) > 0:
                    with self._lock:
                        self._entries[key] = (clock(), dict(resp))
        return out

    def invalidate(self, index: str) -> None:
        """Forget every cached result of ``index`` (after a write to it)."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == index]:
                del self._entries[key]
