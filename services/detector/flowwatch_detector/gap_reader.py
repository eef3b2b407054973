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

The reader is a plain confluent-kafka consumer outside the consumer group (``assign``, no commits), with
the deployment's security settings (``flowwatch.kafka_client.confluent_config``). It blocks, so agents run
it in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import asyncio
import logging
import time
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


IN_PROCESS_GAP = 2
"""Offsets a partition may jump while a worker keeps it before ``ContiguityGuard`` reads the hole: 1 is a
transaction marker of a transactional producer (Kafka gives it an offset and no record), so holes of one
offset are not read; the first batch after a seek is checked from the committed offset exactly."""


class ContiguityGuard:
    """For an agent without its own source offsets (the pii agent): which offsets of a source partition
    the Faust consumer skipped.

    After each seek to the committed offsets (Faust's ``Consumer.perform_seek``, on every assignment:
    ``install_seek_snapshot`` records them), the first batch of a partition must start at the committed
    offset; later batches right after the previous one (holes of fewer than ``IN_PROCESS_GAP`` offsets are
    transaction markers). ``missing(topic, partition, first)`` returns the (start, end) offsets to read with
    ``read_range``, or None; ``done(topic, partition, last)`` records the last offset the agent handled."""

    def __init__(self, app: Any) -> None:
        self.app = app  # a faust.App; its consumer is read when needed (it is created lazily)
        self._last: dict[tuple[str, int], int] = {}
        self._seen_seek: dict[tuple[str, int], int] = {}

    def missing(self, topic: str, partition: int, first: int) -> tuple[int, int] | None:
        """The offsets before ``first`` (the first of a batch) that were never delivered, as (start, end)."""
        key = (topic, partition)
        seeks, committed = _seek_snapshot(self.app.consumer)
        if self._seen_seek.get(key) != seeks:  # first batch since the last seek: start at the committed offset
            self._seen_seek[key] = seeks
            self._last.pop(key, None)
            start = committed.get(key)
            return (start, first) if start is not None and first > start else None
        last = self._last.get(key)
        if last is not None and first - last - 1 >= IN_PROCESS_GAP:
            return last + 1, first
        return None

    def done(self, topic: str, partition: int, last: int) -> None:
        """The agent handled everything of ``topic``/``partition`` up to offset ``last``."""
        self._last[(topic, partition)] = max(last, self._last.get((topic, partition), -1))


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
