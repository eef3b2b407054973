"""The commit guard (``flowwatch_detector.faust_commit_guard``) against the installed Faust's own
``Consumer._new_offset``: the message at the committed head still in flight holds the commit back; once it
is acknowledged, the whole run is committed; a real hole (tracked as a gap) does not hold it back."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport import consumer as faust_consumer
from faust.types import TP
from intervaltree import IntervalTree

from flowwatch_detector import faust_commit_guard

TP0 = TP("export-updates", 0)


def consumer(committed: int | None, acked: list[int]) -> Any:
    return SimpleNamespace(_acked=defaultdict(list, {TP0: list(acked)}), _gap=defaultdict(IntervalTree),
                           _committed_offset=defaultdict(lambda: None, {TP0: committed}),
                           _acked_index=defaultdict(set, {TP0: set(acked)}))


def test_faust_alone_commits_over_the_message_in_flight() -> None:
    """The defect this guards against, shown on Faust's own method (faust-streaming #606)."""
    original = faust_commit_guard._ORIGINAL or faust_consumer.Consumer._new_offset
    assert original(consumer(10, [11, 12, 13]), TP0) == 14  # message 10 skipped


def test_the_guard_waits_for_the_head_then_commits_the_run() -> None:
    assert faust_commit_guard.install()
    new_offset = faust_consumer.Consumer._new_offset
    c = consumer(10, [11, 12, 13])
    assert new_offset(c, TP0) is None  # 10 is still being processed
    c._acked[TP0].insert(0, 10)
    c._acked_index[TP0].add(10)
    assert new_offset(c, TP0) == 14
    assert new_offset(consumer(None, [0, 1]), TP0) == 2  # a new group: nothing committed yet


def test_a_tracked_gap_at_the_head_does_not_hold_the_commit() -> None:
    assert faust_commit_guard.install()
    c = consumer(10, [12, 13])
    c._gap[TP0].addi(10, 12)  # offsets 10 and 11 hold no message (a compacted or transactional topic)
    assert faust_consumer.Consumer._new_offset(c, TP0) == 14
