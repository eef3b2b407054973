"""``gap_reader.ContiguityGuard``: which offsets of a partition the consumer skipped — after a seek from the
committed offset exactly, while a worker keeps the partition only holes of two or more offsets (a hole of
one is a transaction marker)."""

from __future__ import annotations

from types import SimpleNamespace

from flowwatch_detector.gap_reader import ContiguityGuard


def consumer(seeks: int, committed: dict[tuple[str, int], int]) -> SimpleNamespace:
    return SimpleNamespace(_fw_seeks=seeks, _fw_seek_offsets=committed)


def test_first_batch_after_a_seek_starts_at_the_committed_offset() -> None:
    app = SimpleNamespace(consumer=consumer(1, {("t", 0): 208}))
    guard = ContiguityGuard(app)
    assert guard.missing("t", 0, 420) == (208, 420)  # the restart defect: 212 offsets never delivered
    guard.done("t", 0, 430)
    assert guard.missing("t", 0, 431) is None  # right after the last one
    assert guard.missing("t", 0, 432) is None  # a transaction marker
    assert guard.missing("t", 0, 440) == (431, 440)
    app.consumer = consumer(2, {("t", 0): 100})  # a rebalance sought back to the committed offset
    assert guard.missing("t", 0, 100) is None
    assert guard.missing("t", 1, 5) is None  # no committed offset: nothing to check against


def test_a_replay_below_the_committed_offset_is_not_a_hole() -> None:
    guard = ContiguityGuard(SimpleNamespace(consumer=consumer(1, {("t", 0): 50})))
    assert guard.missing("t", 0, 40) is None
