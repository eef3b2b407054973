"""``gap_reader.ContiguityGuard``: which offsets of a partition the consumer skipped — every offset of a batch
checked against the one before it, the first against the last one the agent handled (any hole, one offset
included: Faust dropped single offsets); the committed offset of a seek only for a partition the agent has
handled nothing of since its assignment."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.types import TP

from flowwatch_detector.gap_reader import ContiguityGuard, inner_holes


def consumer(seeks: int, committed: dict[tuple[str, int], int]) -> SimpleNamespace:
    return SimpleNamespace(_fw_seeks=seeks, _fw_seek_offsets=committed)


def test_first_batch_after_a_seek_starts_at_the_committed_offset() -> None:
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 208}))
    guard = ContiguityGuard(app)
    assert guard.missing("t", 0, 420) == (208, 420)  # the restart defect: 212 offsets never delivered
    guard.done("t", 0, 430)
    assert guard.missing("t", 0, 431) is None  # right after the last one
    assert guard.missing("t", 0, 432) == (431, 432)  # one offset: read (a transaction marker yields nothing)
    assert guard.missing("t", 0, 440) == (431, 440)
    app.consumer = consumer(2, {("t", 0): 100})  # a rebalance sought back to the committed offset
    assert guard.missing("t", 0, 100) is None
    assert guard.missing("t", 1, 5) is None  # no committed offset: nothing to check against


def test_a_replay_below_the_committed_offset_is_not_a_hole() -> None:
    guard = ContiguityGuard(SimpleNamespace(consumer=consumer(1, {("t", 0): 50})))
    assert guard.missing("t", 0, 40) is None


def test_a_commit_past_unhandled_records_does_not_hide_them() -> None:
    # the broker-restart run of 2026-12-04 (docs/faults.md): flow-events[0] sought to 409, the first batch
    # at 904; the agent handled up to 908; a second seek found Faust's commit at 925 (it had taken 909..924
    # for a compaction gap): the guard trusted the commit and 16 events were lost
    app = SimpleNamespace(consumer=consumer(1, {("flow-events", 0): 409}))
    guard = ContiguityGuard(app)
    assert guard.missing("flow-events", 0, 904) == (409, 904)
    guard.done("flow-events", 0, 908)
    app.consumer = consumer(2, {("flow-events", 0): 925})
    assert guard.missing("flow-events", 0, 925) == (909, 925)
    guard.done("flow-events", 0, 930)
    app.consumer = consumer(3, {("flow-events", 0): 931})
    assert guard.missing("flow-events", 0, 931) is None


def test_a_hole_of_one_offset_is_read() -> None:
    # Faust's _new_offset commits over one missing offset at the head of its acked offsets
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 0}))
    guard = ContiguityGuard(app)
    assert guard.missing("t", 0, 0) is None
    guard.done("t", 0, 99)
    assert guard.missing("t", 0, 101) == (100, 101)  # between seeks too (pt6 of 2026-12-04: offset 545 lost)
    app.consumer = consumer(2, {("t", 0): 102})
    assert guard.missing("t", 0, 102) == (100, 102)


def test_a_partition_that_left_the_worker_starts_again_from_the_committed_offset() -> None:
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 0, ("t", 1): 0}))
    guard = ContiguityGuard(app)
    guard.done("t", 0, 99)
    guard.done("t", 1, 49)
    guard.assigned({TP("t", 1)})  # t/0 went to another worker, which handled it up to 2,000
    app.consumer = consumer(2, {("t", 0): 2000, ("t", 1): 50})
    assert guard.missing("t", 0, 2000) is None
    assert guard.missing("t", 1, 60) == (50, 60)


def test_the_assignment_signal_forgets_other_partitions() -> None:
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 5}))
    guard = ContiguityGuard(app)
    guard.done("t", 0, 10)
    asyncio.run(guard.on_partitions_assigned(object(), set()))  # Faust sends the new assignment: empty
    app.consumer = consumer(2, {("t", 0): 5})
    assert guard.missing("t", 0, 20) == (5, 20)


def test_a_hole_inside_a_batch_is_found() -> None:
    # the broker-restart run of 2026-12-04 (d3): flow-events[2] delivered ..., 909, 920, ... in one batch;
    # a check of the batch's first offset only lost 910..919
    app = SimpleNamespace(consumer=consumer(1, {("t", 2): 0}))
    guard = ContiguityGuard(app)
    assert guard.holes("t", 2, [0, 1, 2]) == []
    guard.done("t", 2, 2)
    assert guard.holes("t", 2, [3, 4, 5, 16, 17, 19, 40]) == [(6, 16), (18, 19), (20, 40)]
    guard.done("t", 2, 40)
    assert guard.holes("t", 2, [41, 10, 11, 42]) == []  # a replay below what was handled is not a hole


def test_the_first_batch_after_a_seek_is_checked_against_the_commit_then_within_itself() -> None:
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 100}))
    guard = ContiguityGuard(app)
    assert guard.holes("t", 0, [100, 101, 105]) == [(102, 105)]
    assert guard.holes("t", 1, [7, 9]) == [(8, 9)]  # no commit known: checked from the first delivered


def test_inner_holes_of_a_batch() -> None:
    assert inner_holes([5, 6, 7]) == []
    assert inner_holes([5, 7, 8]) == [(6, 7)]
    assert inner_holes([5, 7, 8], least=2) == []
    assert inner_holes([5, 6, 20, 21, 3, 4, 30]) == [(7, 20), (22, 30)]  # 3, 4: a replay
