"""The Faust application of the detector: the pii agent turns flow events into findings.

Run: ``faust -A flowwatch_detector.app worker --without-web`` (``flowwatch up`` does it for you).
Delivery is at-least-once: a micro-batch (``stream.take_events``) is acknowledged only after every
output it produced was acknowledged by the broker, so a killed worker loses nothing; replays produce
the same finding ids, which the indexer writes idempotently.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from functools import partial
from typing import Any, cast

import faust

from flowwatch.kafka_client import faust_broker, faust_credentials
from flowwatch.observability import logging_config, metrics_port, start_metrics_server
from flowwatch.settings import DETECTOR_APP_ID, DetectorSettings, topics
from flowwatch_detector import egress, fetch_backoff, incidents, metrics
from flowwatch_detector.batched_state import await_acks, until_applied
from flowwatch_detector.gap_reader import ContiguityGuard, install_seek_snapshot, read_skipped
from flowwatch_detector.loopmon import LoopMonitor, make_probe_task, stats_path
from flowwatch_detector.processing import Outcome, RawEvent, init_worker, process_batch

log = logging.getLogger("flowwatch.detector")

settings = DetectorSettings()
TOPICS = topics()
fetch_backoff.install(settings.empty_fetch_backoff)  # long-poll on the client when the broker does not
install_seek_snapshot()  # the committed offsets of each seek: the pii agent's ContiguityGuard checks against them
HEADER_REASON = "fw-reason"
HEADER_ERROR = "fw-error"
HEADER_DEAD_LETTER = "fw-dead-letter"
HEADER_TRUNCATED = "fw-truncated"
DLQ_OVERHEAD_BYTES = 4_096
"""Room (bytes) left under the producer's ``max_request_size`` (Faust: 1,000,000) for record overhead."""
MAX_DLQ_KEY_BYTES = 1_000

app = faust.App(
    DETECTOR_APP_ID,
    broker=faust_broker(settings),
    broker_credentials=faust_credentials(settings),  # SASL / TLS from FLOWWATCH_KAFKA_* (flowwatch.kafka_client)
    store=settings.faust_store,
    topic_partitions=TOPICS.partitions,
    topic_allow_declare=False,  # topics are created with their partition counts before workers start
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
    broker_rebalance_timeout=settings.rebalance_timeout,
    consumer_group_instance_id=settings.instance_id,
    web_enabled=False,
    table_standby_replicas=0,  # a worker's tables hold only its active partitions (the deadline timer scans them)
    datadir=os.environ.get("FLOWWATCH_DETECTOR_DATADIR", "/tmp/flowwatch-detector"),
    logging_config=logging_config("detector"),  # FLOWWATCH_LOG_FORMAT=json (default): one JSON object per line
)

flow_events = app.topic(
    TOPICS.flow_events, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
    partitions=TOPICS.partitions,
)
findings_topic = app.topic(TOPICS.findings, key_serializer="raw", value_serializer="raw",
                           partitions=TOPICS.partitions)
dlq_topic = app.topic(TOPICS.dead_letters, key_serializer="raw", value_serializer="raw",
                      partitions=TOPICS.partitions)
incident_updates_topic = app.topic(TOPICS.incident_updates, key_serializer="raw", value_serializer="raw",
                                   partitions=TOPICS.partitions)
export_updates_topic = app.topic(TOPICS.export_updates, key_serializer="raw", value_serializer="raw",
                                 partitions=TOPICS.partitions)
incidents.register(app, settings, TOPICS)
egress.register(app, settings, TOPICS)

# Event-loop lag and heartbeat monitor: one JSON log line every loop_stats_interval seconds; the same figures
# (plus the window's raw lag samples) are appended to FLOWWATCH_LOOP_STATS_FILE when it is set ("{instance}"
# in it becomes the instance id, for one file per worker).
monitor: LoopMonitor | None = None
if settings.loop_probe_interval > 0:
    monitor = LoopMonitor(
        probe_interval=settings.loop_probe_interval,
        report_interval=settings.loop_stats_interval,
        stats_file=stats_path(os.environ.get("FLOWWATCH_LOOP_STATS_FILE"), settings.instance_id),
        instance=settings.instance_id,
        heartbeat_interval=app.conf.broker_heartbeat_interval,
        session_timeout=app.conf.broker_session_timeout,
        sample_sink=metrics.observe_loop_lag,
    )
    # mode's SignalHandlerT alias rejects every handler under mypy (even a plain ``def f(sender, *a, **kw)``)
    app.on_partitions_revoked.connect(monitor.on_partitions_revoked)  # type: ignore[arg-type]
    app.on_partitions_assigned.connect(monitor.on_partitions_assigned)  # type: ignore[arg-type]
    app.task(make_probe_task(monitor, app))

CONSUMER_LAG_INTERVAL = 10.0
"""Seconds between updates of ``flowwatch_consumer_lag``."""

# Prometheus: /metrics on FLOWWATCH_METRICS_PORT (unset: no server) once the worker runs.
_metrics_port = metrics_port()
if _metrics_port is not None:
    port = _metrics_port

    @app.task
    async def serve_metrics() -> None:
        """Start the Prometheus HTTP server of this worker (a daemon thread)."""
        try:
            start_metrics_server(port)
        except OSError as exc:  # e.g. two local workers given one port: run without metrics, loudly
            log.error("cannot serve metrics on port %d: %s", port, exc)

    @app.timer(interval=CONSUMER_LAG_INTERVAL)
    async def consumer_lag() -> None:
        """Refresh ``flowwatch_consumer_lag`` of the partitions assigned to this worker."""
        metrics.update_consumer_lag(app.consumer)


_executor: Executor | None = None


def executor() -> Executor:
    """Process pool for scanning (``scan_processes`` = 0: a single thread, for debugging)."""
    global _executor
    if _executor is None:
        key = settings.hash_key.get_secret_value().encode()
        if not key:
            log.warning("FLOWWATCH_HASH_KEY is empty: subject hashes are unkeyed (development only)")
        if settings.scan_processes > 0:
            _executor = ProcessPoolExecutor(settings.scan_processes, initializer=init_worker,
                                            initargs=(key, settings.kafka_bootstrap))
        else:
            init_worker(key, settings.kafka_bootstrap)
            _executor = ThreadPoolExecutor(1)
    return _executor


@app.agent(flow_events)
async def pii(stream: faust.StreamT) -> None:
    """Validate, scan and emit one finding (or one dead letter) per flow event."""
    loop = asyncio.get_running_loop()
    # take_events exists on faust.Stream; faust's StreamT protocol does not declare it
    async for events in cast(faust.Stream, stream).take_events(settings.batch_size, within=settings.batch_within):
        batch = [
            RawEvent(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
            for e in events
        ]
        batch = await _with_skipped(batch) + batch
        metrics.EVENTS_IN.labels(topic=TOPICS.flow_events).inc(len(batch))
        started = time.perf_counter()
        outcomes = await loop.run_in_executor(executor(), partial(process_batch, batch, TOPICS.dead_letters))
        metrics.DETECTION_SECONDS.observe(time.perf_counter() - started)
        # every output, acknowledged by the broker, before the batch is acked; a failed send (a broker
        # restart) sends the whole batch's outputs again rather than letting Faust skip the batch (no loss;
        # findings, incident and export updates are idempotent downstream: deterministic ids, update and
        # event ids)
        await until_applied(partial(_emit_all, batch, outcomes), lambda: None,
                            f"outputs of a batch of {len(batch)} flow events")
        for raw in batch:
            guard.done(raw.topic, raw.partition, raw.offset)


guard = ContiguityGuard(app)
"""Offsets of ``flow-events`` the Faust consumer skipped (``gap_reader``'s module doc)."""


async def _with_skipped(batch: list[RawEvent]) -> list[RawEvent]:
    """The flow events before ``batch``'s first offset of each partition that the consumer never delivered,
    read from the broker (``gap_reader``), in offset order; [] when nothing is missing."""
    firsts: dict[tuple[str, int], int] = {}
    for raw in batch:
        firsts.setdefault((raw.topic, raw.partition), raw.offset)
    skipped: list[RawEvent] = []
    for (topic, partition), first in firsts.items():
        if (hole := guard.missing(topic, partition, first)) is None:
            continue
        skipped += [event.message for event in await read_skipped(settings, topic, partition, hole[0], first)]
    return skipped


async def _emit_all(batch: list[RawEvent], outcomes: list[Outcome]) -> None:
    """Send every output of a scanned batch and wait for the broker's acknowledgement of each."""
    pending = [await _emit(raw, out) for raw, out in zip(batch, outcomes, strict=True)]
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


async def _emit(raw: RawEvent, out: Outcome) -> Awaitable[Any]:
    """Send the outcome's record; return the broker-acknowledgement future (not yet awaited)."""
    if out.finding is not None:
        metrics.FINDINGS_OUT.inc()
        return await findings_topic.send(key=out.key, value=out.finding, force=True)
    metrics.DEAD_LETTERS.labels(reason=out.reason or "unknown").inc()
    log.info("dead letter", extra={"event_id": out.event_id, "processor_id": out.processor_id,
                                   "event_partition": raw.partition, "event_offset": raw.offset,
                                   "reason": out.reason})
    headers = [
        (HEADER_REASON, (out.reason or "").encode()),
        (HEADER_ERROR, (out.error or "").encode()[:4000]),
        (HEADER_DEAD_LETTER, out.dead_letter or b"{}"),
    ]
    key, value = dlq_fit(raw.key, raw.value, headers, app.conf.producer_max_request_size - DLQ_OVERHEAD_BYTES)
    if value is not raw.value:
        headers.append((HEADER_TRUNCATED, str(len(raw.value or b"")).encode()))
        log.warning("dead letter original truncated to fit the DLQ", extra={
            "event_partition": raw.partition, "event_offset": raw.offset, "size_bytes": len(raw.value or b"")})
    return await dlq_topic.send(key=key, value=value, headers=headers, force=True)


def dlq_fit(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]],
            limit: int) -> tuple[bytes | None, bytes | None]:
    """Key and value of a dead letter cut so that key + value + headers fit ``limit`` bytes (the producer's
    ``max_request_size``, 1,000,000 bytes in Faust, less record overhead). An original over it — Kafka's
    default broker limit is 1 MiB, so such events arrive — would otherwise be refused by the producer and
    crash the agent, which Faust restarts past the unfinished batch: events lost (issue 17 point 3).
    The record's ``dead_letter_id`` stays the SHA-256 of the whole original and ``fw-truncated``
    gives its size, so a redrive refuses the cut bytes (they no longer match the id)."""
    used = sum(len(n) + len(v) for n, v in headers) + 64  # the fw-truncated header, if added
    if key is not None and len(key) > MAX_DLQ_KEY_BYTES:
        key = key[:MAX_DLQ_KEY_BYTES]
    room = limit - used - len(key or b"")
    if value is not None and len(value) > room:
        value = value[: max(0, room)]
    return key, value
