"""Idle consumers that do not spin: pause a confluent-kafka consumer while it has read everything.

A Kafka broker holds a fetch that finds nothing for ``fetch.wait.max.ms``; librdkafka relies on that and
sends the next fetch as soon as one returns. The embedded development engine noida-db answers empty
fetches at once, so an idle librdkafka consumer and the engine spin together: measured 0.45 core for the
consumer plus 0.39 core for noida-db, per idle consumer (noida-db 0.2.3, librdkafka 2.16; docs/engines.md).
Flowwatch runs several such consumers (the indexer, one registry reader per detector worker).

``IdleFetchGuard.consume`` behaves like ``Consumer.consume`` until a call returns fewer messages than asked
for (the consumer has caught up). Then it pauses every assigned partition (no fetches at all) and, on the
following calls, only asks the broker every ``probe_interval`` seconds for the partitions' high watermarks
(one ListOffsets request per partition, no fetch); it resumes as soon as one of them is past the
consumer's position, and in any case after ``resume_every`` seconds. While paused it still calls
``consume(…, 0)``, so rebalance callbacks and errors are served as usual, and a rebalance ends the pause.

Cost on a real Kafka: none that matters (it only pauses a consumer that had caught up); added latency:
at most ``probe_interval`` seconds for the first message after a quiet spell. It never skips or
re-reads a message: pausing keeps the positions, and resuming fetches from them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaException, Message, TopicPartition

log = logging.getLogger("flowwatch.kafka")


class IdleFetchGuard:
    """Wraps ``consumer`` (a subscribed or assigned confluent-kafka ``Consumer``); see the module doc.

    ``probe_interval``: seconds between watermark checks while paused (> 0). ``resume_every``: seconds
    after which a pause ends even without new data (a safety net for brokers whose watermarks lag).
    ``resume_grace``: seconds after a resume during which the consumer is not paused again: librdkafka
    fetches a partition it has not read from yet only ~1 s after a resume (measured), and pausing
    again before that fetch answered would start the wait over.
    ``enabled=False`` passes every call straight through. ``clock`` and ``sleep`` are for tests.
    """

    def __init__(
        self,
        consumer: Consumer,
        probe_interval: float = 0.05,
        resume_every: float = 5.0,
        resume_grace: float = 2.0,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if probe_interval <= 0:
            raise ValueError("probe_interval must be > 0 seconds")
        self.consumer = consumer
        self.probe_interval = probe_interval
        self.resume_every = resume_every
        self.enabled = enabled
        self._clock, self._sleep = clock, sleep
        self._paused: list[TopicPartition] | None = None
        self._paused_at = 0.0
        self._starts: dict[tuple[str, int], int] = {}  # start offsets of partitions not fetched yet, this pause
        self._resumed_at = float("-inf")
        self.resume_grace = resume_grace
        self.pauses = 0
        """How many times the consumer was paused (a figure for tests and logs)."""

    @property
    def paused(self) -> bool:
        """True while the guard holds the consumer's partitions paused."""
        return self._paused is not None

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        """Up to ``num_messages`` messages within about ``timeout`` seconds, like ``Consumer.consume``.

        Raises what ``Consumer.consume`` raises (``KafkaException``, ``RuntimeError`` when closed).
        """
        if not self.enabled:
            return list(self.consumer.consume(num_messages, timeout))
        if self._paused is not None:
            early = self._wait_while_paused(num_messages, timeout)
            if early is not None:
                return early
        messages = list(self.consumer.consume(num_messages, timeout))
        if len(messages) < num_messages and self._clock() - self._resumed_at >= self.resume_grace:
            self._pause()
        return messages

    def resume(self, grace: bool = False) -> None:
        """End a pause now (e.g. before closing or seeking). Idempotent.

        Each partition is also sought to where it stands (its position, or for a partition not fetched
        yet its committed offset or low watermark): librdkafka otherwise sends the first fetch after a
        resume only at its next internal wake-up, ~0.5–1 s later (measured); a seek sends it at once.
        ``grace``: do not pause again for ``resume_grace`` seconds (a resume because data is waiting).
        """
        if self._paused is None:
            return
        paused, self._paused = self._paused, None
        if grace:
            self._resumed_at = self._clock()
        try:
            self.consumer.resume(paused)
            for tp in self.consumer.position(paused):
                start = tp.offset if tp.offset >= 0 else self._starts.get((tp.topic, tp.partition))
                if start is not None and start >= 0:
                    self.consumer.seek(TopicPartition(tp.topic, tp.partition, start))
        except KafkaException as exc:  # partitions revoked meanwhile: nothing to resume
            log.debug("resume after pause: %s", exc)
        self._starts.clear()

    def _pause(self) -> None:
        assignment = self.consumer.assignment()
        if not assignment:
            return
        try:
            self.consumer.pause(assignment)
        except KafkaException as exc:
            log.debug("pause: %s", exc)
            return
        self._paused, self._paused_at = assignment, self._clock()
        self.pauses += 1

    def _wait_while_paused(self, num_messages: int, timeout: float) -> list[Message] | None:
        """Serve callbacks and probe watermarks until there is data, the pause is over or ``timeout``
        passed. Returns messages delivered meanwhile (after a rebalance), [] on timeout, or None when the
        caller should consume normally (the guard has resumed)."""
        deadline = self._clock() + timeout
        while True:
            # paused partitions are not fetched: this only serves rebalance callbacks and errors
            early = list(self.consumer.consume(num_messages, 0))
            assert self._paused is not None
            if early or _names(self.consumer.assignment()) != _names(self._paused):
                self.resume()  # a rebalance happened: librdkafka starts new partitions unpaused
                return early or None
            now = self._clock()
            if now - self._paused_at >= self.resume_every:
                self.resume()
                return None
            if self._has_new_data():
                self.resume(grace=True)
                return None
            if now >= deadline:
                return []
            self._sleep(min(self.probe_interval, max(0.0, deadline - now)))

    def _has_new_data(self) -> bool:
        """True when some paused partition's high watermark is past the consumer's position."""
        assert self._paused is not None
        try:
            positions = self.consumer.position(self._paused)
            for tp in positions:
                low, high = self.consumer.get_watermark_offsets(tp, timeout=1.0, cached=False)
                start = tp.offset if tp.offset >= 0 else self._start_of(tp, low)
                if high > start:
                    return True
        except KafkaException as exc:  # broker unreachable: resume and let consume report it
            log.debug("watermark probe failed: %s", exc)
            return True
        return False

    def _start_of(self, tp: TopicPartition, low: int) -> int:
        """Where the consumer will start ``tp`` when it has not fetched from it yet: its committed offset,
        else the low watermark (``auto.offset.reset=earliest``, as every Flowwatch consumer uses). Looked
        up once per pause."""
        key = (tp.topic, tp.partition)
        if key not in self._starts:
            committed = self.consumer.committed([TopicPartition(tp.topic, tp.partition)], timeout=1.0)
            offset = committed[0].offset if committed else OFFSET_INVALID
            self._starts[key] = offset if offset >= 0 else low
        return self._starts[key]


def _names(tps: list[TopicPartition]) -> set[tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in tps}
