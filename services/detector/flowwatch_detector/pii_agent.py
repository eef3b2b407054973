"""The pii agent: flow events in, one finding or one dead letter out per event, plus incident and export updates.

``register(app, settings, topics)`` declares the agent and its output topics on the detector's Faust app
(``flowwatch_detector.app``). Each micro-batch (``stream.take_events``) is validated and scanned in a process
pool (``processing.process_batch``), and is acknowledged only after every output it produced was
acknowledged by the broker: a killed worker loses nothing, and replays produce the same finding ids, which
the indexer writes idempotently. Offsets the Faust consumer skipped after a restart are read from the broker
and scanned before the batch (``gap_reader``; docs/state.md, "Skipped input after a restart"); the end of a
partition skipped with no batch after it is found by ``tail_repair.TailRepair`` and scanned the same way.
Events at or below the last offset the agent handled (a redelivery) are not scanned again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from typing import Any, cast

import faust

from flowwatch.settings import DetectorSettings, Topics
from flowwatch.wire import HEADER_DEAD_LETTER, HEADER_ERROR, HEADER_REASON, HEADER_TRUNCATED, MAX_ERROR_BYTES
from flowwatch_detector import metrics
from flowwatch_detector.batched_state import await_acks, until_applied
from flowwatch_detector.gap_reader import ContiguityGuard, read_holes
from flowwatch_detector.processing import Outcome, RawEvent, init_worker, process_batch
from flowwatch_detector.tail_repair import TailRepair, already_applied

log = logging.getLogger("flowwatch.detector")

DLQ_OVERHEAD_BYTES = 4_096
"""Room (bytes) left under the producer's ``max_request_size`` (Faust: 1,000,000) for record overhead."""
MAX_DLQ_KEY_BYTES = 1_000


def make_executor(settings: DetectorSettings) -> Executor:
    """Process pool for scanning, ``settings.scan_processes`` processes (0: a single thread, for debugging).

    Each process is initialised with the subject-hash key (``FLOWWATCH_HASH_KEY``) and the bootstrap servers
    (``processing.init_worker``)."""
    key = settings.hash_key.get_secret_value().encode()
    if not key:
        log.warning("FLOWWATCH_HASH_KEY is empty: subject hashes are unkeyed (development only)")
    if settings.scan_processes > 0:
        return ProcessPoolExecutor(settings.scan_processes, initializer=init_worker,
                                   initargs=(key, settings.kafka_bootstrap))
    init_worker(key, settings.kafka_bootstrap)
    return ThreadPoolExecutor(1)


def register(app: faust.App, settings: DetectorSettings, topics: Topics) -> ContiguityGuard:
    """Declare the pii agent on ``app``: it consumes ``topics.flow_events`` and produces to the findings,
    dead-letter, incident-update and export-update topics. Returns the agent's ``ContiguityGuard`` (the
    offsets it has applied per partition, for the skipped-input check)."""
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": topics.partitions}
    flow_events = app.topic(topics.flow_events, key_type=bytes, value_type=bytes, **raw)
    findings_topic = app.topic(topics.findings, **raw)
    dlq_topic = app.topic(topics.dead_letters, **raw)
    incident_updates_topic = app.topic(topics.incident_updates, **raw)
    export_updates_topic = app.topic(topics.export_updates, **raw)
    guard = ContiguityGuard(app)
    # mode's SignalHandlerT alias rejects every handler under mypy (as in flowwatch_detector.app)
    app.on_partitions_assigned.connect(guard.on_partitions_assigned)  # type: ignore[arg-type]
    pool: list[Executor] = []  # created on the first batch, in the worker (not at import)

    @app.agent(flow_events, name="flowwatch_detector.app.pii")
    async def pii(stream: faust.StreamT) -> None:
        """Validate, scan and emit one finding (or one dead letter) per flow event."""
        if not pool:
            pool.append(make_executor(settings))
        async def apply_range(partition: int, records: list[Any], end: int) -> None:
            batch = [e.message for e in records]
            if batch:
                await handle(batch)
            guard.done(topics.flow_events, partition, end - 1)  # offsets past the last record held none

        async with TailRepair(app, settings, topics.flow_events, partial(guard.next_expected, topics.flow_events),
                              apply_range, settings.tail_check_interval) as repair:
            # take_events exists on faust.Stream; faust's StreamT protocol does not declare it
            batches = cast(faust.Stream, stream).take_events(settings.batch_size, within=settings.batch_within)
            async for events in batches:
                async with repair.lock:
                    batch = [
                        RawEvent(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                                 e.message.value)
                        for e in events
                        if not already_applied(e.message.offset,
                                               guard.next_expected(e.message.topic, e.message.partition))
                    ]
                    repair.delivered({e.message.partition for e in events})
                    batch = await with_skipped(batch) + batch
                    if batch:
                        await handle(batch)

    async def handle(batch: list[RawEvent]) -> None:
        """Scan ``batch`` in the pool, send every output and wait for the broker's acknowledgements, then mark
        the offsets handled (``guard.done``)."""
        metrics.EVENTS_IN.labels(topic=topics.flow_events).inc(len(batch))
        started = time.perf_counter()
        loop = asyncio.get_running_loop()
        outcomes = await loop.run_in_executor(pool[0], partial(process_batch, batch, topics.dead_letters))
        metrics.DETECTION_SECONDS.observe(time.perf_counter() - started)
        # every output, acknowledged by the broker, before the batch is acked; a failed send (a broker
        # restart) sends the whole batch's outputs again rather than letting Faust skip the batch (no loss;
        # findings, incident and export updates are idempotent downstream: deterministic ids, update and
        # event ids)
        await until_applied(partial(emit_all, batch, outcomes), lambda: None,
                            f"outputs of a batch of {len(batch)} flow events")
        for event in batch:
            guard.done(event.topic, event.partition, event.offset)

    async def with_skipped(batch: list[RawEvent]) -> list[RawEvent]:
        """The flow events before and between ``batch``'s offsets of each partition that the consumer never
        delivered, read from the broker (``gap_reader``), in offset order per partition; [] when nothing is
        missing."""
        offsets: dict[tuple[str, int], list[int]] = {}
        for event in batch:
            offsets.setdefault((event.topic, event.partition), []).append(event.offset)
        holes = {key: found for key, delivered in offsets.items() if (found := guard.holes(*key, delivered))}
        skipped: list[RawEvent] = []

        async def read_all() -> None:
            skipped.clear()
            for (topic, partition), ranges in holes.items():
                skipped.extend(e.message for e in await read_holes(settings, topic, partition, ranges))

        if holes:  # a failed read (the broker not back yet) is tried again: escaping the agent would lose the batch
            await until_applied(read_all, skipped.clear, f"reading skipped flow events of {len(holes)} partitions")
        return skipped

    async def emit_all(batch: list[RawEvent], outcomes: list[Outcome]) -> None:
        """Send every output of a scanned batch and wait for the broker's acknowledgement of each."""
        pending = [await emit(event, out) for event, out in zip(batch, outcomes, strict=True)]
        pending += [
            await incident_updates_topic.send(key=out.key, value=out.incident_update, force=True)
            for out in outcomes
            if out.incident_update is not None
        ]
        pending += [
            await export_updates_topic.send(key=out.key, value=out.export_update, force=True)
            for out in outcomes
            if out.export_update is not None
        ]
        await await_acks(pending, "pii batch")

    async def emit(event: RawEvent, out: Outcome) -> Awaitable[Any]:
        """Send the outcome's record; return the broker-acknowledgement future (not yet awaited)."""
        if out.finding is not None:
            metrics.FINDINGS_OUT.inc()
            return await findings_topic.send(key=out.key, value=out.finding, force=True)
        metrics.DEAD_LETTERS.labels(reason=out.reason or "unknown").inc()
        log.info("dead letter", extra={"event_id": out.event_id, "processor_id": out.processor_id,
                                       "event_partition": event.partition, "event_offset": event.offset,
                                       "reason": out.reason})
        headers = [
            (HEADER_REASON, (out.reason or "").encode()),
            (HEADER_ERROR, (out.error or "").encode()[:MAX_ERROR_BYTES]),
            (HEADER_DEAD_LETTER, out.dead_letter or b"{}"),
        ]
        limit = app.conf.producer_max_request_size - DLQ_OVERHEAD_BYTES
        key, value = dlq_fit(event.key, event.value, headers, limit)
        if value is not event.value:
            headers.append((HEADER_TRUNCATED, str(len(event.value or b"")).encode()))
            log.warning("dead letter original truncated to fit the DLQ", extra={
                "event_partition": event.partition, "event_offset": event.offset,
                "size_bytes": len(event.value or b"")})
        return await dlq_topic.send(key=key, value=value, headers=headers, force=True)

    return guard


def dlq_fit(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
            limit: int) -> tuple[bytes | None, bytes | None]:
    """Key and value of a dead letter cut so that key + value + headers fit ``limit`` bytes (the producer's
    ``max_request_size``, 1,000,000 bytes in Faust, less record overhead). An original over it — Kafka's
    default broker limit is 1 MiB, so such events arrive — would otherwise be refused by the producer and
    crash the agent, which Faust restarts past the unfinished batch: events lost (docs/faults.md).
    The record's ``dead_letter_id`` stays the SHA-256 of the whole original and ``fw-truncated``
    gives its size, so a redrive refuses the cut bytes (they no longer match the id)."""
    used = sum(len(n) + len(v) for n, v in headers) + 64  # the fw-truncated header, if added
    if key is not None and len(key) > MAX_DLQ_KEY_BYTES:
        key = key[:MAX_DLQ_KEY_BYTES]
    room = limit - used - len(key or b"")
    if value is not None and len(value) > room:
        value = value[: max(0, room)]
    return key, value
