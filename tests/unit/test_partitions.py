"""Unit tests of ``flowwatch_api.partitions``: partition names (hour, day, month), ranges, and the
aggregation cache (time to live by age, one ``_msearch`` for the misses, fallback on a per-search error).
The walk and the cache against noida-db: tests/integration/test_alert_triage.py and test_api.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from elasticsearch import NotFoundError

from flowwatch.es_indices import alerts_index, findings_index
from flowwatch_api.partitions import (
    CLOSED_TTL,
    MGET_FIRST,
    MSEARCH_BATCH,
    SETTLED_TTL,
    Partition,
    PartitionAggCache,
    aggregate_partitions,
    covers,
    get_by_id,
    in_range,
    parse_partition,
)

T = datetime(2026, 11, 21, 14, 30, tzinfo=UTC)


def test_index_names_parse_back_to_their_interval() -> None:
    hour = parse_partition(findings_index("fw", T))
    assert hour == Partition("fw-findings-2026.11.21.14", T.replace(minute=0), T.replace(minute=0) + timedelta(hours=1))
    day = parse_partition(findings_index("fw", T, "day"))
    assert day == Partition("fw-findings-2026.11.21", datetime(2026, 11, 21, tzinfo=UTC),
                            datetime(2026, 11, 22, tzinfo=UTC))
    week = parse_partition(alerts_index("fw", T))
    assert week == Partition("fw-alerts-2026.w47", datetime(2026, 11, 16, tzinfo=UTC),
                             datetime(2026, 11, 23, tzinfo=UTC))
    new_year = parse_partition("fw-alerts-2025.w01")  # ISO 2025 week 1 starts on Monday 30 December 2024
    assert new_year is not None and new_year.start == datetime(2024, 12, 30, tzinfo=UTC)
    month = parse_partition("fw-alerts-2026.12")
    assert month is not None and (month.start, month.end) == (datetime(2026, 12, 1, tzinfo=UTC),
                                                              datetime(2027, 1, 1, tzinfo=UTC))
    # an offset is converted to UTC first: 08:30 in Beijing is 00:30 UTC
    beijing = datetime(2026, 11, 22, 8, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert findings_index("fw", beijing) == "fw-findings-2026.11.22.00"
    for name in ("fw-findings", "fw-findings-2026.13.01", "fw-alerts-2026.w54", "fw-alerts-2026.wx",
 "fw-findings-2026.11.21.24", "fw-findings-x.y.z.w",
                 "fw-incidents"):
        assert parse_partition(name) is None, name


def test_ranges_and_cover() -> None:
    parts = [p for p in (parse_partition(findings_index("fw", T - timedelta(hours=h))) for h in range(5)) if p]
    from_, to = T - timedelta(hours=3, minutes=10), T - timedelta(minutes=40)
    assert [p.index[-2:] for p in in_range(parts, from_, to)] == ["13", "12", "11"]
    assert [covers(p, from_, to) for p in in_range(parts, from_, to)] == [False, True, False]
    assert in_range(parts, None, None) == parts


class FakeES:
    """Answers ``_msearch``/``search`` with the index name as the total; records the calls."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.msearch_calls: list[list[str]] = []
        self.search_calls: list[str] = []
        self.failing = failing or set()

    def msearch(self, searches: list[dict[str, Any]]) -> dict[str, Any]:
        heads = searches[0::2]
        self.msearch_calls.append([h["index"] for h in heads])
        return {"responses": [{"error": {"type": "boom"}, "status": 500} if h["index"] in self.failing
                              else {"hits": {"total": {"value": len(h["index"])}}} for h in heads]}

    def search(self, index: str, **body: Any) -> Any:
        self.search_calls.append(index)
        raise NotFoundError("index_not_found_exception", meta=None, body={})  # type: ignore[arg-type]


def hours_back(n: int, now: datetime = T) -> list[Partition]:
    return [p for p in (parse_partition(findings_index("fw", now - timedelta(hours=h))) for h in range(n)) if p]


def test_cache_reuses_ended_partitions_longer_as_they_age() -> None:
    clock = [1000.0]
    cache = PartitionAggCache()
    current, just_ended, settled = hours_back(3)
    assert cache.ttl(current, T) == 0
    assert cache.ttl(just_ended, T) == CLOSED_TTL  # ended 30 min ago
    assert cache.ttl(settled, T) == SETTLED_TTL  # ended 90 min ago
    es = FakeES()
    body = {"aggs": {"x": {"terms": {"field": "processor_id"}}}}
    cache.run_many(es, [(p, body) for p in (current, just_ended, settled)], T, lambda: clock[0])  # type: ignore[arg-type]
    assert es.msearch_calls == [[current.index, just_ended.index, settled.index]]  # one request for all misses
    clock[0] += CLOSED_TTL - 1
    cache.run_many(es, [(p, body) for p in (current, just_ended, settled)], T, lambda: clock[0])  # type: ignore[arg-type]
    assert es.msearch_calls[-1] == [current.index]  # the current hour is never reused
    clock[0] += 2
    cache.run_many(es, [(p, body) for p in (current, just_ended, settled)], T, lambda: clock[0])  # type: ignore[arg-type]
    assert es.msearch_calls[-1] == [current.index, just_ended.index]
    clock[0] += SETTLED_TTL
    got = cache.run_many(es, [(p, body) for p in (settled, current)], T, lambda: clock[0])  # type: ignore[arg-type]
    assert es.msearch_calls[-1] == [settled.index, current.index]
    assert [r["hits"]["total"]["value"] for r in got] == [len(settled.index), len(current.index)]  # in order
    # another body is another entry; invalidate forgets an index
    cache.invalidate(settled.index)
    cache.run_many(es, [(settled, body)], T, lambda: clock[0])  # type: ignore[arg-type]
    assert es.msearch_calls[-1] == [settled.index]


def test_many_partitions_go_in_batches_and_a_failed_search_is_asked_again_alone() -> None:
    parts = hours_back(MSEARCH_BATCH + 5)
    es = FakeES(failing={parts[3].index})
    got = aggregate_partitions(es, PartitionAggCache(), parts, [], "occurred_at", None, None, {}, T)  # type: ignore[arg-type]
    assert [len(c) for c in es.msearch_calls] == [MSEARCH_BATCH, 5]
    assert es.search_calls == [parts[3].index]  # not found alone: reads as empty
    assert [p for p, _ in got] == parts
    assert got[3][1]["hits"]["total"]["value"] == 0 and got[4][1]["hits"]["total"]["value"] == len(parts[4].index)


def test_time_range_only_where_a_partition_is_not_covered() -> None:
    parts = hours_back(3)

    class Capture(FakeES):
        bodies: ClassVar[list[dict[str, Any]]] = []

        def msearch(self, searches: list[dict[str, Any]]) -> dict[str, Any]:
            self.bodies.extend(searches[1::2])
            return super().msearch(searches)

    es = Capture()
    from_ = T - timedelta(hours=2)
    aggregate_partitions(es, PartitionAggCache(), parts, [{"term": {"x": 1}}], "occurred_at", from_, T, {}, T)  # type: ignore[arg-type]
    filters = [b["query"]["bool"]["filter"] for b in es.bodies]
    assert filters[0][-1]["range"]["occurred_at"]["lt"].startswith("2026-11-21T14:30")  # current hour: cut at T
    assert filters[1] == [{"term": {"x": 1}}]  # 13:00-14:00 lies inside the range
    assert "range" in filters[2][-1]  # 12:00-13:00 starts before from_


@pytest.mark.parametrize("name", ["fw-findings-2026.11.21.14", "fw-findings-2026.11.21", "fw-alerts-2026.w47",
                                  "fw-alerts-2026.11"])
def test_partitions_are_half_open(name: str) -> None:
    p = parse_partition(name)
    assert p is not None and p.start < p.end and covers(p, p.start, p.end)
    assert not covers(p, p.start, p.end - timedelta(microseconds=1))


def test_lookup_by_id_tries_the_newest_partitions_first() -> None:
    parts = hours_back(MGET_FIRST + 30)

    class Lookup:
        def __init__(self, holder: str) -> None:
            self.holder, self.calls = holder, []  # type: list[int]

        def mget(self, docs: list[dict[str, str]]) -> dict[str, Any]:
            self.calls.append(len(docs))
            return {"docs": [{**d, "found": d["_index"] == self.holder, "_source": {}} for d in docs]}

    recent = Lookup(parts[5].index)
    assert get_by_id(recent, parts, "x")["_index"] == parts[5].index  # type: ignore[arg-type, index]
    assert recent.calls == [MGET_FIRST]
    old = Lookup(parts[-1].index)
    assert get_by_id(old, parts, "x")["_index"] == parts[-1].index  # type: ignore[arg-type, index]
    assert old.calls == [MGET_FIRST, 30]
    none = Lookup("elsewhere")
    assert get_by_id(none, parts, "x") is None and none.calls == [MGET_FIRST, 30]  # type: ignore[arg-type]
    assert get_by_id(none, [], "x") is None and none.calls == [MGET_FIRST, 30]  # type: ignore[arg-type]
