"""The end-of-partition check: input the Faust consumer skipped where no later record comes to reveal it.

The agents repair skipped input when a batch arrives (``batch_agent.with_skipped``, the pii agent's
``ContiguityGuard``): a batch that starts past the offset the agent expects, or has a hole inside, makes them
read the missing offsets from the broker. That needs a batch. After a SIGKILL, Faust's consumer has been seen to
move past the rest of a partition without delivering it (docs/state.md, "Skipped input after a restart"); when
nothing more is produced to that partition, no batch ever comes and the records are never applied — a CI run of
``tests/integration/test_egress_crash.py`` left two processors at 181 of 401 flows that way (2026-12-04). A
commit that went past records no agent applied (Faust's ``_add_gap``) has the same effect on a restart.

``TailRepair`` closes it. Every ``FLOWWATCH_TAIL_CHECK_INTERVAL`` seconds (default 10; 0: off) it asks the broker
for the high watermark of every partition of the agent's source topic assigned to this worker
(``Watermarks``, ListOffsets through confluent-kafka). A partition whose high watermark lies past the offset
the agent expects next (the batch agents: the ``"o"`` of the state's last record, ``SetLog.next_offset``; the pii
agent: the last offset it handled, or the committed offset Faust sought to) and that got no batch for a whole
interval is read from the broker (``gap_reader.read_range``) and applied through the agent's own path, under the
agent's batch lock, so a repair and a batch never interleave. At most ``MAX_REPAIR`` records per partition and
check (the next check goes on).

A repair that was not needed (the consumer was merely slow to deliver the partition) costs work, never
correctness: the agents skip a record at or below the offset they already applied (``already_applied``), and
their outputs are idempotent (event ids in the ledger, update ids in incidents, deterministic finding ids). A
repair is never done during a rebalance or for a partition no longer assigned, and it is re-checked under the
lock (a batch that came meanwhile moved the offset on: only what is still missing is applied). A failed repair
(broker unreachable, a send refused) is logged and tried again at the next check.

Repairs are logged as a warning (``<topic> partition P: no batch for N s and the broker holds offsets X..Y past
what the agent applied``) and counted in ``flowwatch_input_gap_records_total`` like the other repairs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from flowwatch.kafka_client import confluent_config
from flowwatch.settings import KafkaSettings
from flowwatch_detector import metrics
from flowwatch_detector.gap_reader import SkippedEvent, read_range

log = logging.getLogger("flowwatch.detector.tail")

MAX_REPAIR = 5_000
"""Most records one check reads and applies per partition (records; the rest waits for the next check)."""
WATERMARK_TIMEOUT = 10.0
"""Seconds a high-watermark query may take before the check gives up until the next one."""

Expected = Callable[[int], "int | None"]
"""``partition -> offset``: the source offset the agent expects next (None: nothing to check against)."""
Apply = Callable[[int, list[SkippedEvent], int], Awaitable[None]]
"""``(partition, records, end)``: apply ``records`` (in offset order, possibly fewer than the range: offsets
may hold no record) and record that everything before ``end`` was applied; raises on failure (the agent's
state rolled back)."""


class Watermarks:
    """High watermarks (the offset after the last record) of topic partitions, asked of the broker with one
    long-lived confluent-kafka consumer outside any group (created on first use, with the deployment's
    security settings). Blocking: call from a worker thread, one call at a time."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._consumer: Consumer | None = None

    def high(self, topic: str, partitions: Iterable[int], timeout: float = WATERMARK_TIMEOUT) -> dict[int, int]:
        """``partition -> high watermark`` of ``topic``. Raises ``confluent_kafka.KafkaException`` when the
        broker does not answer within ``timeout`` seconds."""
        if self._consumer is None:
            self._consumer = Consumer(confluent_config(self.settings, **{
                "group.id": "flowwatch-tail-check", "enable.auto.commit": False,
                "isolation.level": "read_committed"}))
        return {p: int(self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout,
                                                            cached=False)[1])
                for p in partitions}

    def close(self) -> None:
        """Close the consumer (idempotent)."""
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def already_applied(offset: int, expected: int | None) -> bool:
    """True when the record at ``offset`` lies below ``expected``, the offset the agent applied everything
    before (a redelivery after a repair or a seek back: skip it)."""
    return expected is not None and offset < expected


class TailRepair:
    """The end-of-partition check of one agent (see the module doc).

    ``app``: the Faust app (its consumer's assignment, ``rebalancing``); ``topic``: the agent's source topic;
    ``expected``: the offset the agent expects next per partition; ``apply``: applies a read range;
    ``interval``: seconds between checks, and how long a partition must have had no batch before it is
    repaired. ``lock`` is the agent's batch lock: the agent holds it for every batch, a repair holds it while
    it applies. As an async context manager (``async with TailRepair(...) as repair:``) it runs the checks in a
    task for the duration of the block."""

    def __init__(self, app: Any, settings: KafkaSettings, topic: str, expected: Expected, apply: Apply,
                 interval: float) -> None:
        self.app = app
        self.settings = settings
        self.topic = topic
        self.expected = expected
        self.apply = apply
        self.lock = asyncio.Lock()
        self.interval = interval
        self._checker: asyncio.Future[None] | None = None
        self.watermarks = Watermarks(settings)
        self._started = time.monotonic()
        self._last_batch: dict[int, float] = {}
        self._answered = False

    async def __aenter__(self) -> TailRepair:
        self._checker = asyncio.ensure_future(self.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._checker is not None:
            self._checker.cancel()

    def delivered(self, partitions: Iterable[int]) -> None:
        """A batch with records of ``partitions`` is being applied (called by the agent for every batch)."""
        now = time.monotonic()
        for p in partitions:
            self._last_batch[p] = now

    def assigned(self) -> set[int]:
        """The partitions of the source topic assigned to this worker now (empty before the consumer runs)."""
        try:
            tps = self.app.consumer.assignment()
        except Exception:  # the consumer is not started yet
            return set()
        return {tp.partition for tp in tps if tp.topic == self.topic}

    def idle(self, partition: int, now: float) -> bool:
        """No batch of ``partition`` for at least ``interval`` seconds (counting from the check's start)."""
        return now - self._last_batch.get(partition, self._started) >= self.interval

    async def run(self) -> None:
        """Check every ``interval`` seconds until cancelled; a failed check is logged and tried again."""
        if self.interval <= 0:
            return
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await self.check()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("%s: end-of-partition check failed, trying again in %.0f s: %r", self.topic,
                                self.interval, exc)
        finally:
            self.watermarks.close()  # no group, no subscription: closes at once

    async def check(self) -> int:
        """One check of every assigned, idle partition; returns the records applied."""
        if getattr(self.app, "rebalancing", False):
            return 0
        parts = self.assigned()
        now = time.monotonic()
        candidates = {p: o for p in parts if self.idle(p, now) and (o := self.expected(p)) is not None}
        if not candidates:
            return 0
        highs = await asyncio.to_thread(self.watermarks.high, self.topic, sorted(candidates))
        if not self._answered:  # once: the broker answers the check (a misconfigured client shows as warnings)
            self._answered = True
            log.info("%s: end-of-partition check every %.0f s; the broker's ends of partitions %s: %s", self.topic,
                     self.interval, sorted(candidates), highs)
        applied = 0
        for p, start in candidates.items():
            if highs[p] > start:
                applied += await self.repair(p, start, min(highs[p], start + MAX_REPAIR), now)
        return applied

    async def repair(self, partition: int, start: int, end: int, since: float) -> int:
        """Read ``start <= offset < end`` of ``partition`` and apply what is still missing under the lock;
        returns the records applied (0 when a batch or a rebalance made it moot)."""
        read = await asyncio.to_thread(read_range, self.settings, self.topic, partition, start, end)
        async with self.lock:
            expected = self.expected(partition)
            if (getattr(self.app, "rebalancing", False) or partition not in self.assigned() or expected is None
                    or expected < start or expected >= end or not self.idle(partition, since)):
                return 0  # a batch, a rollback or a rebalance came in between: the next check decides again
            missing = [e for e in read if e.message.offset >= expected]
            log.warning("%s partition %d: no batch for %.0f s and the broker holds offsets %d..%d past what the "
                        "agent applied: read the %d records from the broker and applied them", self.topic,
                        partition, time.monotonic() - self._last_batch.get(partition, self._started),
                        expected, end - 1, len(missing))
            await self.apply(partition, missing, end)
            self._last_batch[partition] = time.monotonic()
        metrics.GAP_RECORDS.labels(topic=self.topic).inc(len(missing))
        return len(missing)
