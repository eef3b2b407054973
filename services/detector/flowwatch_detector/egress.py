"""The egress agent: counts the distinct persons each processor exports per counting window, in
changelogged Faust tables holding keyed hashes only, and raises the export alerts
(``flowwatch.exports.evaluate``) — once each.

- In: ``export-updates`` (key ``processor_id``), written by the pii agent for flows that leave mainland China
  (or go to a destination that could not be resolved).
- Registry: the compacted topic ``processor-registry``, followed by every worker in full
  (``RegistryReader``): processor profiles, filed mechanisms, and the restriction list under ``RESTRICTIONS_KEY``.
- Table ``export-persons``: a log of batch records (``batched_state.SetLog``), each one changelog
  message with the batch's new person-year entries and applied event ids and the window counts
  (``processor\\x1fwindow`` → counts and raised alert keys) after it.
- Out: ``export-ledger`` (``LedgerRecord``) and ``alerts`` (``Alert``), key ``processor_id``; also, from a timer
  over the registry, the yearly risk-assessment alerts of important-data processors (Decree 790 Art. 33).

Input the Faust consumer skipped (a batch that starts past the source offset the ledger's last record
expects, or a hole between two offsets of a batch: ``gap_reader``) is read from the broker and applied in its
place, so the ledger stays exact even when a restart's commit went past updates no agent saw.

Micro-batches (``take_events``, ``FLOWWATCH_BATCH_SIZE`` / ``_WITHIN``), processed per source partition:
every flow is applied in order, then one record holds the new keys and every touched window
(``batched_state.durable_write``: sent at once, not through Faust's producer buffer), and one message per
alert (its latest occurrence, with the running count) and per ledger window (its latest record) is sent;
the batch is acknowledged after the broker acknowledged all of it, the record included.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import faust
from pydantic import ValidationError

from flowwatch.alerts import Alert
from flowwatch.exports.models import ExportUpdate, LedgerRecord
from flowwatch.exports.step import process_update
from flowwatch.models import utc_now
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictionList
from flowwatch.rules.export_pack import load_export_packs
from flowwatch.rules.processor_duties import registry_duty_alerts
from flowwatch.settings import EXPORT_PERSONS_TABLE, DetectorSettings, Topics
from flowwatch.wire import HEADER_ERROR, HEADER_REASON, MAX_ERROR_BYTES
from flowwatch_detector import metrics
from flowwatch_detector.batched_state import RECORD_KEYS, SetLog, as_current_event, await_acks, until_applied
from flowwatch_detector.gap_reader import inner_holes, read_skipped
from flowwatch_detector.processing import event_id_of
from flowwatch_detector.registry_reader import RegistryReader

log = logging.getLogger("flowwatch.detector.egress")



def register(app: faust.App, settings: DetectorSettings, topics: Topics) -> None:
    """Declare the registry global table, the ledger tables and the egress agent on ``app``."""
    packs = load_export_packs(settings.export_packs_dir)
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": topics.partitions}
    updates_topic = app.topic(topics.export_updates, key_type=bytes, value_type=bytes, **raw)
    ledger_topic = app.topic(topics.export_ledger, **raw)
    alerts_topic = app.topic(topics.alerts, **raw)
    dlq_topic = app.topic(topics.dead_letters, **raw)
    json: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
    registry = RegistryReader(settings, topics.registry)

    @app.task
    async def start_registry() -> None:
        """Start following the registry; the agent waits until it has caught up."""
        registry.start()
    table = app.Table(EXPORT_PERSONS_TABLE, default=None, partitions=topics.partitions, schema=json)
    ledger_log = SetLog(table, settings.hash_key.get_secret_value().encode())

    @table.on_recover
    async def _recovered() -> None:
        ledger_log.invalidate()  # the table's partitions changed: rebuild the index from what is local now

    def registry_entry(processor_id: str) -> RegistryEntry | None:
        stored = registry.get(processor_id)
        try:
            return RegistryEntry.model_validate(stored) if stored else None
        except ValidationError as exc:
            log.warning("unreadable registry entry for %s ignored: %s", processor_id, exc)
            return None

    def restriction_list() -> RestrictionList | None:
        stored = registry.get(RESTRICTIONS_KEY)
        try:
            return RestrictionList.model_validate(stored) if stored else None
        except ValidationError as exc:
            log.warning("unreadable restriction list ignored: %s", exc)
            return None

    raised_duties: set[str] = set()

    @app.timer(interval=settings.incident_tick)  # as often as incident deadlines
    async def processor_duties_timer() -> None:
        """Decree 790 Art. 33: due-soon and overdue alerts of the yearly risk assessment of every registered
        important-data processor. Every worker follows the whole registry, so each sends the same alerts (same
        ``alert_id``: the indexer folds them into one, the notifier notifies once); ``raised_duties`` keeps a
        worker from sending one twice."""
        if not registry.ready.is_set():
            return
        entries = [registry_entry(k) for k in list(registry.entries) if k != RESTRICTIONS_KEY]
        profiles = [e.profile for e in entries if e is not None]
        for alert in registry_duty_alerts(profiles, utc_now(), raised_duties):
            log.info("alert %s %s", alert.type, alert.dedup_key, extra={"processor_id": alert.processor_id})
            metrics.observe_alert(alert)
            await alerts_topic.send(key=alert.processor_id.encode(), value=alert.model_dump_json().encode())

    @app.agent(updates_topic)
    async def egress_agent(stream: faust.StreamT) -> None:
        """Count, evaluate and alert for every export flow, a micro-batch at a time."""
        while not registry.ready.is_set():
            await asyncio.sleep(0.2)
        batches = cast(faust.Stream, stream).take_events(settings.batch_size, within=settings.batch_within)
        async for events in batches:
            metrics.EVENTS_IN.labels(topic=topics.export_updates).inc(len(events))
            by_partition: dict[int, list[Any]] = {}
            for event in events:
                by_partition.setdefault(event.message.partition, []).append(event)

            async def attempt(parts: dict[int, list[Any]] = by_partition) -> None:
                acks: list[Any] = []
                for part_events in parts.values():
                    with as_current_event(part_events[-1]):
                        acks += await apply_partition(part_events)
                await await_acks(acks, "egress batch")
                ledger_log.settle()

            await until_applied(attempt, ledger_log.rollback, f"egress batch of {len(events)} updates")

    async def apply_partition(events: list[Any]) -> list[Any]:
        """Apply the flows of one source partition in order; write one record (more for very large flows);
        send the outputs. Returns the broker-acknowledgement futures."""
        partition = events[-1].message.partition
        first, after = events[0].message.offset, events[-1].message.offset + 1
        delivered = events
        if holes := inner_holes([e.message.offset for e in delivered]):  # skipped inside the batch: read them
            skipped = {end: await read_skipped(settings, topics.export_updates, partition, start, end)
                       for start, end in holes}
            events = [e for event in delivered for e in [*skipped.get(event.message.offset, []), event]]
        if (expected := ledger_log.check_offset(partition, first)) is not None:
            # the consumer skipped input (gap_reader's module doc): read it past Faust and apply it first
            events = [*await read_skipped(settings, topics.export_updates, partition, expected, first), *events]
        acks: list[Any] = []
        ledgers: dict[tuple[str, str], LedgerRecord] = {}
        alerts: dict[str, tuple[ExportUpdate, Alert]] = {}
        for event in events:
            value = event.value or b""
            try:
                update = ExportUpdate.model_validate_json(value)
            except ValidationError as exc:
                log.warning("invalid export update kept in the dead-letter topic: %s", exc,
                            extra={"event_id": event_id_of(value), "reason": "invalid_export_update"})
                metrics.DEAD_LETTERS.labels(reason="invalid_export_update").inc()
                headers = [(HEADER_REASON, b"invalid_export_update"),
                           (HEADER_ERROR, str(exc).encode()[:MAX_ERROR_BYTES])]
                acks.append(await dlq_topic.send(key=event.key, value=value, headers=headers, force=True))
                continue
            adding = len(update.person_keys) + len(update.sensitive_person_keys)
            too_many = ledger_log.pending_keys + adding > RECORD_KEYS
            if too_many and (ack := await ledger_log.flush(partition, event.message.offset)) is not None:
                acks.append(ack)
            result = process_update(update, packs, ledger_log.windows, ledger_log.keys,
                                    registry_entry(update.processor_id), restriction_list(), utc_now())
            for alert in result.alerts:
                metrics.observe_alert(alert)
                alerts[alert.dedup_key] = (update, alert)  # a later occurrence carries the higher count
            if result.ledger is not None:
                ledgers[(update.processor_id, result.ledger.window_id)] = result.ledger
        if (ack := await ledger_log.flush(partition, after)) is not None:
            acks.append(ack)
        # one message per alert and batch: its latest occurrence (the indexer keeps the highest count)
        for update, alert in alerts.values():
            log.info("alert %s %s (occurrence %d)", alert.type, alert.dedup_key, alert.count,
                     extra={"processor_id": update.processor_id, "event_id": update.event_id})
            acks.append(await alerts_topic.send(key=update.processor_id.encode(),
                                                value=alert.model_dump_json().encode(), force=True))
        for (processor_id, _), ledger in ledgers.items():  # the latest record of each window in this batch
            acks.append(await ledger_topic.send(key=processor_id.encode(), value=ledger.model_dump_json().encode(),
                                                force=True))  # fmt: skip
        return acks
