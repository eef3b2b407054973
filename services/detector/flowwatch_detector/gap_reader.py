"""Read a range of offsets of one topic partition directly from the broker: the repair for input that the
Faust consumer skipped.

Why: after a restart with a backlog, faust-streaming 0.15.3 can deliver a partition starting hundreds of
offsets past its committed offset. Its recovery resumes the stream partitions and only then seeks them to the
committed offsets (``Recovery.on_recovery_completed``); records aiokafka fetched in between are dropped, and
``Consumer._drain_messages`` takes the jump for a compaction gap (``Consumer._add_gap``), so the skipped
offsets count as acknowledged and are committed. Measured on noida-db (``tests/integration/test_egress_crash
.py``, 3 of 12 runs): ``add_gap export-updates[2] 209..420`` with the committed offset at 208. Reordering
Faust's recovery (seek, then resume) was tried and made it worse (6 of 12 runs stalled: aiokafka had fetched
ahead, and records drained while Faust's flow was off were never delivered), so the agents that keep their
source offset in their state (``batched_state.SetLog``, ``"o"``) repair the hole instead: when a batch starts
beyond the offset the state expects, they read the missing offsets with this reader and apply them first.
Offsets with no record (compaction, transaction markers) simply yield nothing.

A broker restart (the worker stays, the member rejoins) showed three more kinds of hole (docs/state.md,
"Broker restart"): a commit Faust moved past records it never delivered, found only at the next seek; a hole
between two offsets of one batch; a hole of a single offset. The pii agent's ``ContiguityGuard`` therefore
checks every offset against the one before it and the last one the agent handled, and the egress agent reads
holes inside a batch (``inner_holes``) as well as before it.

The reader is a plain confluent-kafka consumer outside the consumer group (``assign``, no commits), with
the deployment's security settings (``flowwatch.kafka_client.confluent_config``). It blocks, so agents run
it in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from flowwatch.kafka_client import confluent_config
from flowwatch.settings import KafkaSettings
from flowwatch_detector import metrics
from flowwatch_detector.processing import RawEvent

log = logging.getLogger("flowwatch.detector.gaps")

READ_TIMEOUT = 60.0
"""Seconds a gap read may take before it gives up (raises ``TimeoutError``; the agent retries the batch)."""
FETCH_MAX_BYTES, RECEIVE_MAX_BYTES = 8 << 20, 2_147_483_647
"""The gap reader's fetch size (bytes) and the largest response it accepts (librdkafka's maximum)."""


@dataclass(frozen=True)
class SkippedEvent:
    """A record read past Faust, shaped as much like a Faust event as the agents use it: ``.key``, ``.value``
    and ``.message`` (a ``processing.RawEvent``: topic, partition, offset, key, value)."""

    message: RawEvent

    @property
    def key(self) -> bytes | None:
        """The record key."""
        return self.message.key

    @property
    def value(self) -> bytes | None:
        """The record value."""
        return self.message.value


def read_range(settings: KafkaSettings, topic: str, partition: int, start: int, end: int,
               timeout: float = READ_TIMEOUT) -> list[SkippedEvent]:
    """The records of ``topic``/``partition`` with ``start <= offset < end``, in offset order (fewer than
    ``end - start`` when offsets hold no record). Blocks; raises ``TimeoutError`` when the broker does not
    deliver up to ``end`` within ``timeout`` seconds, ``confluent_kafka.KafkaException`` on a broker error."""
    if end <= start:
        return []
    consumer = Consumer(confluent_config(settings, **{
        "group.id": "flowwatch-gap-reader", "enable.auto.commit": False, "enable.partition.eof": True,
        "auto.offset.reset": "earliest", "isolation.level": "read_committed",
        # noida-db answers a fetch with everything from the offset on, ignoring fetch.max.bytes: 558 MB for a
        # hole of one update behind 750 10,000-person updates (bench/state_scale.py), which librdkafka refuses
        # at its default 100 MB, so the read never succeeds. A broker that honours fetch.max.bytes (8 MB
        # here) never sends that much.
        "fetch.max.bytes": FETCH_MAX_BYTES, "receive.message.max.bytes": RECEIVE_MAX_BYTES}))
    out: list[SkippedEvent] = []
    try:
        consumer.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        if (msg.offset() or 0) >= end:
                            return out
                        continue
                    raise RuntimeError(f"gap read of {topic}[{partition}] {start}..{end}: {error}")
                offset = msg.offset()
                if offset is None or offset < start:
                    continue
                if offset >= end:
                    return out
                out.append(SkippedEvent(RawEvent(topic, partition, offset, msg.key(), msg.value())))
                if offset + 1 >= end:
                    return out
        raise TimeoutError(f"gap read of {topic}[{partition}] {start}..{end} not done in {timeout:.0f} s "
                           f"({len(out)} records read)")
    finally:
        consumer.close()


async def read_skipped(settings: KafkaSettings, topic: str, partition: int, start: int,
                       first: int) -> list[SkippedEvent]:
    """``read_range(start, first)`` in a worker thread, for a batch whose first offset ``first`` lies past
    ``start``, the offset the agent expected: logged (a warning naming both offsets) and counted in
    ``flowwatch_input_gap_records_total``. Raises what ``read_range`` raises (the agent retries its batch)."""
    read = await asyncio.to_thread(read_range, settings, topic, partition, start, first)
    log.warning("%s partition %d: batch starts at offset %d, %d expected: read the %d skipped records from the "
                "broker, applied before the batch", topic, partition, first, start, len(read))
    metrics.GAP_RECORDS.labels(topic=topic).inc(len(read))
    return read


async def read_holes(settings: KafkaSettings, topic: str, partition: int,
                     holes: Sequence[tuple[int, int]]) -> list[SkippedEvent]:
    """The records of ``topic``/``partition`` in ``holes`` ((start, end) ranges, ``start <= offset < end``, in
    order), read with one ``read_range`` from the first start to the last end in a worker thread (records
    between the holes are dropped); logged (a warning naming the ranges) and counted in
    ``flowwatch_input_gap_records_total``. Raises what ``read_range`` raises (the agent retries)."""
    if not holes:
        return []
    read = await asyncio.to_thread(read_range, settings, topic, partition, holes[0][0], holes[-1][1])
    kept = [e for e in read if any(start <= e.message.offset < end for start, end in holes)]
    log.warning("%s partition %d: offsets %s never delivered: read the %d skipped records from the broker, "
                "applied before the batch", topic, partition,
                ", ".join(f"{start}..{end - 1}" for start, end in holes), len(kept))
    metrics.GAP_RECORDS.labels(topic=topic).inc(len(kept))
    return kept


IN_PROCESS_GAP = 1
"""Offsets a partition must jump between two offsets the agent was given before ``ContiguityGuard`` and
``inner_holes`` read the hole. 1: every hole is read. Faust dropped single offsets too (a broker-restart run
of 2026-12-04 lost ``flow-events[2]`` offset 545, delivered during recovery between "Resuming flow" and the
seek: docs/state.md). A transaction marker of a transactional producer (an offset without a record) is
then read as well and yields nothing; the pii agent reads all holes of a partition and batch in one read
(``read_holes``), so markers cost one short broker read per partition and batch, and only with transactional
producers upstream (Flowwatch's own producers are not transactional)."""


def inner_holes(offsets: Sequence[int], least: int = IN_PROCESS_GAP) -> list[tuple[int, int]]:
    """The ranges (start, end), ``start <= offset < end``, missing between consecutive ``offsets`` (one
    partition's offsets of a batch, in delivery order) of at least ``least`` offsets (default
    ``IN_PROCESS_GAP``: every hole); offsets at or below the highest before them (a replay) open no hole."""
    found: list[tuple[int, int]] = []
    top: int | None = None
    for offset in offsets:
        if top is not None and offset - top - 1 >= least:
            found.append((top + 1, offset))
        top = offset if top is None else max(top, offset)
    return found


class ContiguityGuard:
    """For an agent without its own source offsets (the pii agent): which offsets of a source partition
    the Faust consumer skipped.

    The guard remembers the last offset the agent handled per partition (``done``); every offset of a batch
    must follow the one before it, the first the last handled (holes of ``IN_PROCESS_GAP`` offsets or more are
    returned). The committed offsets a seek went to (Faust's ``Consumer.perform_seek``: every rebalance, and
    whenever Faust's fetcher finds the flow stopped; ``install_seek_snapshot`` records them) are used only for
    a partition the agent has handled nothing of since it was assigned (a fresh worker, or a partition that
    came from another worker): Faust's commit can be past
    records no agent handled (``Consumer._add_gap`` takes a skipped range for a compaction gap, and its
    ``_new_offset`` commits over a single missing offset), so it is not trusted while the guard knows better.
    ``holes(topic, partition, offsets)`` returns the (start, end) ranges to read with ``read_range``."""

    def __init__(self, app: Any) -> None:
        self.app = app  # a faust.App; its consumer is read when needed (it is created lazily)
        self._last: dict[tuple[str, int], int] = {}
        self._seen_seek: dict[tuple[str, int], int] = {}

    def holes(self, topic: str, partition: int, offsets: Sequence[int]) -> list[tuple[int, int]]:
        """The offsets of ``topic``/``partition`` never delivered to the agent before or between ``offsets``
        (the partition's offsets in one batch, in delivery order), as (start, end) ranges with
        ``start <= offset < end``, in order; [] when nothing is missing or the guard has nothing to check
        against (no offset handled and no seek seen for the partition). Faust has been seen to leave a hole in
        the middle of a batch as well as before it, so every offset is checked. An offset at or below one
        already handled is a replay (after a seek back), not a hole."""
        key = (topic, partition)
        seeks, committed = _seek_snapshot(self.app.consumer)
        after_seek = self._seen_seek.get(key) != seeks
        self._seen_seek[key] = seeks
        last = self._last.get(key)
        if last is not None:
            expected: int | None = last + 1
        else:  # nothing handled of it since it was assigned: the committed offset of the seek
            expected = committed.get(key) if after_seek else None
        least = IN_PROCESS_GAP
        found: list[tuple[int, int]] = []
        sought = committed.get(key)
        for i, offset in enumerate(offsets):
            if expected is not None and offset - expected >= least:
                found.append((expected, offset))
                if i > 0:
                    log.warning("%s partition %d: offsets %d..%d missing inside a batch (%d delivered after %d)",
                                topic, partition, expected, offset - 1, offset, offsets[i - 1])
                elif after_seek and last is not None and sought is not None and sought > expected:
                    log.warning("%s partition %d: the seek's committed offset %d is past offset %d, the first the "
                                "agent has not handled (Faust committed over records it never delivered)", topic,
                                partition, sought, expected)
            expected = offset + 1 if expected is None else max(expected, offset + 1)
        return found

    def next_expected(self, topic: str, partition: int) -> int | None:
        """The offset of ``topic``/``partition`` the agent should be given next: the one after the last it
        handled, or, when it has handled nothing of the partition since it was assigned, the committed offset
        of the latest seek (where the previous owner stopped); None when neither is known."""
        key = (topic, partition)
        if (last := self._last.get(key)) is not None:
            return last + 1
        return _seek_snapshot(self.app.consumer)[1].get(key)

    def missing(self, topic: str, partition: int, first: int) -> tuple[int, int] | None:
        """``holes`` of a batch whose first offset of the partition is ``first``, checked on that one: the
        (start, end) range before it, or None."""
        found = self.holes(topic, partition, [first])
        return found[0] if found else None

    def done(self, topic: str, partition: int, last: int) -> None:
        """The agent handled everything of ``topic``/``partition`` up to offset ``last``."""
        self._last[(topic, partition)] = max(last, self._last.get((topic, partition), -1))

    def assigned(self, partitions: Any) -> None:
        """A rebalance assigned ``partitions`` (an iterable of Faust ``TP``, the whole new assignment): forget
        what was handled of every other partition (another worker may take it on from its committed offset;
        remembering it would only read records that worker handled again, never lose one)."""
        keep = {(tp.topic, tp.partition) for tp in partitions}
        for key in [k for k in self._last if k not in keep]:
            del self._last[key]

    async def on_partitions_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Faust ``app.on_partitions_assigned`` signal receiver: ``assigned(...)`` with the new assignment."""
        self.assigned(args[0] if args else kwargs.get("assigned", ()))


def _seek_snapshot(consumer: Any) -> tuple[int, dict[tuple[str, int], int]]:
    return getattr(consumer, "_fw_seeks", 0), getattr(consumer, "_fw_seek_offsets", {})


def install_seek_snapshot() -> bool:
    """Make Faust's ``Consumer.perform_seek`` record, on the consumer, the committed offsets it sought to
    and a count of seeks (read by ``ContiguityGuard``). Idempotent; False (and a warning) when the installed
    Faust has no such method."""
    from faust.transport import consumer as faust_consumer

    cls = getattr(faust_consumer, "Consumer", None)
    original = getattr(cls, "perform_seek", None)
    if cls is None or original is None:
        log.warning("faust Consumer has no perform_seek: skipped input is not detected after a rebalance")
        return False
    if getattr(original, "_fw_snapshot", False):
        return True

    async def perform_seek(self: Any) -> None:
        await original(self)
        self._fw_seek_offsets = {(tp.topic, tp.partition): offset for tp, offset in self._committed_offset.items()
                                 if offset is not None}
        self._fw_seeks = getattr(self, "_fw_seeks", 0) + 1

    perform_seek._fw_snapshot = True  # type: ignore[attr-defined]
    cls.perform_seek = perform_seek
    return True
