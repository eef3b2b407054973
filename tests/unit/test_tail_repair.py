"""``flowwatch_detector.tail_repair.TailRepair`` without a broker (the watermarks and the read stubbed; the
real ones are exercised in ``tests/integration/test_tail_repair.py``): which partitions a check repairs, the
cap per check, the re-check under the lock when a batch came during the read, a failed apply left for the next
check; and what the agents expect next (``SetLog.next_offset``, ``ContiguityGuard.next_expected``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from flowwatch.settings import KafkaSettings
from flowwatch_detector import tail_repair
from flowwatch_detector.batched_state import SetLog
from flowwatch_detector.gap_reader import ContiguityGuard, SkippedEvent
from flowwatch_detector.processing import RawEvent
from flowwatch_detector.tail_repair import MAX_REPAIR, TailRepair, already_applied


class Broker:
    """Stands in for the high-watermark query and the range read: ``ends`` per partition."""

    def __init__(self, ends: dict[int, int]) -> None:
        self.ends = ends
        self.reads: list[tuple[int, int, int]] = []
        self.during_read: Any = None  # called while a read is in flight (a batch arriving meanwhile)

    def high(self, topic: str, partitions: Any, timeout: float = 0) -> dict[int, int]:
        return {p: self.ends[p] for p in partitions}

    def close(self) -> None:
        pass

    def read(self, settings: Any, topic: str, partition: int, start: int, end: int) -> list[SkippedEvent]:
        self.reads.append((partition, start, end))
        if self.during_read is not None:
            self.during_read()
        return [SkippedEvent(RawEvent(topic, partition, o, b"k", f"v{o}".encode())) for o in range(start, end)]


def make(monkeypatch: pytest.MonkeyPatch, ends: dict[int, int], expected: dict[int, int],
         assigned: list[int] | None = None) -> tuple[TailRepair, Broker, list[tuple[int, list[int], int]]]:
    broker = Broker(ends)
    monkeypatch.setattr(tail_repair, "read_range", broker.read)
    applied: list[tuple[int, list[int], int]] = []

    async def apply(partition: int, records: list[Any], end: int) -> None:
        applied.append((partition, [r.message.offset for r in records], end))
        expected[partition] = end

    tps = {TP("t", p) for p in (assigned if assigned is not None else list(ends))} | {TP("other", 0)}
    app = SimpleNamespace(rebalancing=False, consumer=SimpleNamespace(assignment=lambda: tps))
    repair = TailRepair(app, KafkaSettings(), "t", expected.get, apply, interval=10.0)
    repair.watermarks = broker  # type: ignore[assignment]
    repair._started -= 10.0  # the worker has run for one interval
    return repair, broker, applied


def test_only_idle_assigned_partitions_behind_their_end_are_repaired(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {0: 5, 1: 7, 2: 3}
    repair, _, applied = make(monkeypatch, {0: 9, 1: 7, 2: 8, 3: 4}, expected, assigned=[0, 1, 2, 3])
    repair.delivered([2])  # a batch of partition 2 just now: the consumer is delivering it
    assert asyncio.run(repair.check()) == 4
    assert applied == [(0, [5, 6, 7, 8], 9)]  # 1 caught up, 2 busy, 3 nothing to check against
    assert asyncio.run(repair.check()) == 0 and len(applied) == 1


def test_nothing_during_a_rebalance_or_for_a_partition_not_assigned(monkeypatch: pytest.MonkeyPatch) -> None:
    repair, _, applied = make(monkeypatch, {0: 9, 1: 9}, {0: 5, 1: 5}, assigned=[1])
    repair.app.rebalancing = True
    assert asyncio.run(repair.check()) == 0
    repair.app.rebalancing = False
    assert asyncio.run(repair.check()) == 4 and [a[0] for a in applied] == [1]


def test_a_check_reads_at_most_max_repair_records(monkeypatch: pytest.MonkeyPatch) -> None:
    repair, broker, applied = make(monkeypatch, {0: 2 * MAX_REPAIR + 10}, {0: 10})
    assert asyncio.run(repair.check()) == MAX_REPAIR
    assert broker.reads == [(0, 10, 10 + MAX_REPAIR)] and applied[0][2] == 10 + MAX_REPAIR


def test_a_batch_during_the_read_leaves_only_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {0: 5}
    repair, broker, applied = make(monkeypatch, {0: 9}, expected)

    def batch_came() -> None:  # the batch moves the offset, but the partition is no longer idle either
        expected[0] = 7
        repair.delivered([0])

    broker.during_read = batch_came
    assert asyncio.run(repair.check()) == 0 and applied == []

    def offset_moved_only() -> None:  # e.g. a rollback-free rebuild that found a later record
        expected[0] = 8

    repair._last_batch.clear()
    broker.during_read = offset_moved_only
    assert asyncio.run(repair.check()) == 1 and applied == [(0, [8], 9)]


def test_a_failed_apply_is_left_for_the_next_check(monkeypatch: pytest.MonkeyPatch) -> None:
    repair, _, _ = make(monkeypatch, {0: 9}, {0: 5})
    calls: list[int] = []

    async def failing(partition: int, records: list[Any], end: int) -> None:
        calls.append(partition)
        raise RuntimeError("broker gone")

    repair.apply = failing
    repair.interval = 0.01

    async def run_a_while() -> None:
        async with repair:  # the checks run in a task for the block
            await asyncio.sleep(0.1)
        assert repair._checker is not None
        await asyncio.sleep(0)
        assert repair._checker.cancelled()  # and stop with it

    asyncio.run(run_a_while())
    assert len(calls) >= 2  # logged and tried again, the checker still running


def test_already_applied() -> None:
    assert already_applied(4, 5) and not already_applied(5, 5) and not already_applied(0, None)


def test_what_the_agents_expect_next() -> None:
    log = SetLog({}, b"secret")
    assert log.next_offset(0) is None

    async def flush() -> None:
        ack = await log.flush(0, 42)
        assert ack is not None
        await ack

    asyncio.run(flush())
    assert log.next_offset(0) == 42 and log.next_offset(1) is None

    app = SimpleNamespace(consumer=SimpleNamespace(_fw_seeks=1, _fw_seek_offsets={("t", 0): 208}))
    guard = ContiguityGuard(app)
    assert guard.next_expected("t", 0) == 208  # nothing handled since the seek: where the previous owner stopped
    assert guard.next_expected("t", 1) is None
    guard.done("t", 0, 300)
    assert guard.next_expected("t", 0) == 301
