"""The loop the stateful agents share (the egress agent over ``export-updates``, the incident agent over
``incident-updates``): micro-batches per source partition over a ``batched_state.SetLog``, skipped input
repaired, the batch acknowledged only after the broker acknowledged everything it produced.

``run_batches`` takes Faust micro-batches (``take_events(settings.batch_size, within=settings.batch_within)``:
``FLOWWATCH_BATCH_SIZE`` events, or what arrived within ``FLOWWATCH_BATCH_WITHIN`` seconds), splits each by
source partition (dropping records below the offset the log's last record of that partition says was applied:
a redelivery) and, per partition, in offset order:

1. when the batch starts past the source offset the log's last record of that partition expects
   (``SetLog.check_offset``, the record's ``"o"``), or has a hole between two of its offsets
   (``gap_reader.inner_holes``), reads the missing offsets from the broker and puts them in their place
   (``gap_reader.read_skipped``: the warning ``<topic> partition P: batch starts at offset X, Y expected: …`` and
   ``flowwatch_input_gap_records_total``; the cause is in ``gap_reader``'s module doc and docs/state.md, "Skipped
   input after a restart");
2. calls the agent's ``apply_partition(partition, events)``, which applies every event, writes its
   record(s) with ``SetLog.flush(partition, next_offset)`` (``next_offset``: the offset after the last event
   applied) and sends its outputs, and returns the broker-acknowledgement futures.

Then it waits for every acknowledgement of the batch (``batched_state.await_acks``), marks the records
settled (``SetLog.settle``) and only then lets Faust acknowledge the input. A failure rolls the log back
and applies the whole batch again (``batched_state.until_applied``): the agents' ids (event ids in the
export ledger, update ids in the incident states) make events applied before the failure count once.

A hole at the very end of a partition has no batch after it to reveal it: ``tail_repair.TailRepair`` checks
every ``FLOWWATCH_TAIL_CHECK_INTERVAL`` seconds that each assigned source partition was applied up to its high
watermark and applies what is missing through the same ``apply_partition``, under the batch lock.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust

from flowwatch.settings import DetectorSettings, Topics
from flowwatch.wire import HEADER_ERROR, HEADER_REASON, MAX_ERROR_BYTES
from flowwatch_detector import metrics
from flowwatch_detector.batched_state import SetLog, as_current_event, await_acks, until_applied
from flowwatch_detector.gap_reader import inner_holes, read_skipped
from flowwatch_detector.processing import event_id_of
from flowwatch_detector.tail_repair import TailRepair, already_applied

log = logging.getLogger("flowwatch.detector.batches")

ApplyPartition = Callable[[int, list[Any]], Awaitable[list[Any]]]
"""``(partition, events) -> acknowledgement futures``: apply one source partition's events (Faust events or
``gap_reader.SkippedEvent``s, both with ``.key``, ``.value``, ``.message.partition`` / ``.offset``)."""


def declare_log(app: faust.App, name: str, settings: DetectorSettings, topics: Topics) -> SetLog:
    """Declare the changelogged Faust table ``name`` (JSON keys and values, ``topics.partitions``
    partitions, like the agent's source topic) and return the ``SetLog`` over it, keyed with the deployment's
    hash key (``FLOWWATCH_HASH_KEY``). After each recovery or rebalance the log forgets its index and
    rebuilds it from the records the worker holds then."""
    json: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
    table = app.Table(name, default=None, partitions=topics.partitions, schema=json)
    state = SetLog(table, settings.hash_key.get_secret_value().encode())

    @table.on_recover
    async def _recovered() -> None:
        state.invalidate()  # the table's partitions changed: rebuild the index from what is local now

    return state


async def run_batches(app: faust.App, stream: faust.StreamT, settings: DetectorSettings, topic: str, state: SetLog,
                      apply_partition: ApplyPartition, what: str) -> None:
    """Consume ``stream`` (of ``topic``) in micro-batches and apply each as the module doc says; never
    returns while the stream runs. ``what`` names the agent's batches in log lines (``"egress batch"``).
    A batch that keeps failing is retried (logged, with backoff) and holds its partitions; it is never
    skipped. Records below the offset the state already applied (a redelivery) are dropped. Beside the
    batches, ``tail_repair.TailRepair`` applies the end of a partition the consumer skipped with no batch
    after it (every ``FLOWWATCH_TAIL_CHECK_INTERVAL`` seconds), under the same lock."""

    async def apply_range(partition: int, records: list[Any], end: int) -> None:
        try:
            acks = await apply_partition(partition, records) if records else []
            if (ack := await state.flush(partition, end)) is not None:  # offsets past the last record held none
                acks.append(ack)
            await await_acks(acks, what)
            state.settle()
        except BaseException:
            state.rollback()
            raise

    async with TailRepair(app, settings, topic, state.next_offset, apply_range,
                          settings.tail_check_interval) as repair:
        batches = cast(faust.Stream, stream).take_events(settings.batch_size, within=settings.batch_within)
        async for events in batches:
            metrics.EVENTS_IN.labels(topic=topic).inc(len(events))
            async with repair.lock:
                by_partition: dict[int, list[Any]] = {}
                for event in events:
                    partition = event.message.partition
                    if not already_applied(event.message.offset, state.next_offset(partition)):
                        by_partition.setdefault(partition, []).append(event)
                repair.delivered({event.message.partition for event in events})

                async def attempt(parts: dict[int, list[Any]] = by_partition) -> None:
                    acks: list[Any] = []
                    for partition, part_events in parts.items():
                        with as_current_event(part_events[-1]):  # sends attach to this partition's last event
                            acks += await apply_partition(partition, await with_skipped(
                                settings, topic, state, partition, part_events))
                    await await_acks(acks, what)
                    state.settle()

                await until_applied(attempt, state.rollback, f"{what} of {len(events)} updates")


async def with_skipped(settings: DetectorSettings, topic: str, state: SetLog, partition: int,
                       events: list[Any]) -> list[Any]:
    """``events`` (one source partition, in offset order) with the records the consumer skipped put in their
    place: before the first when it lies past the offset ``state``'s last record of ``partition`` expects, and
    in every hole between two consecutive offsets of the batch. Raises what ``gap_reader.read_range`` raises
    (``TimeoutError``, a broker error): the batch is retried."""
    if holes := inner_holes([e.message.offset for e in events]):  # skipped inside the batch: read them
        skipped = {end: await read_skipped(settings, topic, partition, start, end) for start, end in holes}
        events = [e for event in events for e in [*skipped.get(event.message.offset, []), event]]
    first = events[0].message.offset
    if (expected := state.check_offset(partition, first)) is None:
        return events
    return [*await read_skipped(settings, topic, partition, expected, first), *events]


async def dead_letter(dlq_topic: Any, event: Any, reason: str, error: Exception, what: str) -> Awaitable[Any]:
    """Keep an input record that cannot be read in the dead-letter topic: its key and value as they came,
    headers ``HEADER_REASON`` = ``reason`` and ``HEADER_ERROR`` = the error text (at most
    ``MAX_ERROR_BYTES``; ``flowwatch.wire``); logged as ``invalid <what> kept in the dead-letter topic`` and
    counted in ``flowwatch_dead_letters_total{reason}``. Returns the broker acknowledgement to await."""
    value = event.value or b""
    log.warning("invalid %s kept in the dead-letter topic: %s", what, error,
                extra={"event_id": event_id_of(value), "reason": reason})
    metrics.DEAD_LETTERS.labels(reason=reason).inc()
    headers = [(HEADER_REASON, reason.encode()), (HEADER_ERROR, str(error).encode()[:MAX_ERROR_BYTES])]
    return cast(Awaitable[Any], await dlq_topic.send(key=event.key, value=value, headers=headers, force=True))
