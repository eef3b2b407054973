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

Micro-batches (``batch_agent.run_batches``, shared with the incident agent: ``take_events``,
``FLOWWATCH_BATCH_SIZE`` / ``_WITHIN``), processed per source partition. Input the Faust consumer skipped (a batch
that starts past the source offset the ledger's last record expects, ``"o"``, or a hole between two offsets of a
batch: ``gap_reader``) is read from the broker and applied in its place, so the ledger stays exact even when a
restart's commit went past updates no agent saw. Every flow is applied in order, then one record holds the new keys
and every touched window (``batched_state.durable_write``: sent at once, not through Faust's producer buffer), and
one message per alert (its latest occurrence, with the running count) and per ledger window (its latest record) is
sent; the batch is acknowledged after the broker acknowledged all of it, the record included.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

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
from flowwatch_detector import metrics
from flowwatch_detector.batch_agent import dead_letter, declare_log, run_batches
from flowwatch_detector.batched_state import RECORD_KEYS
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
    registry = RegistryReader(settings, topics.registry)

    @app.task
    async def start_registry() -> None:
        """Start following the registry; the agent waits until it has caught up."""
        registry.start()

    ledger_log = declare_log(app, EXPORT_PERSONS_TABLE, settings, topics)

    def registry_entry(processor_id: str) -> RegistryEntry | None:
        return registry.validated(processor_id, RegistryEntry)

    def restriction_list() -> RestrictionList | None:
        return registry.validated(RESTRICTIONS_KEY, RestrictionList)

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
        """Count, evaluate and alert for every export flow, a micro-batch at a time (``batch_agent``)."""
        while not registry.ready.is_set():
            await asyncio.sleep(0.2)
        await run_batches(app, stream, settings, topics.export_updates, ledger_log, apply_partition, "egress batch")

    async def apply_partition(partition: int, events: list[Any]) -> list[Any]:
        """Apply the flows of one source partition in order (skipped input already first); write one record
        (more for very large flows); send the outputs. Returns the broker-acknowledgement futures."""
        after = events[-1].message.offset + 1
        acks: list[Any] = []
        ledgers: dict[tuple[str, str], LedgerRecord] = {}
        alerts: dict[str, tuple[ExportUpdate, Alert]] = {}
        for event in events:
            try:
                update = ExportUpdate.model_validate_json(event.value or b"")
            except ValidationError as exc:
                acks.append(await dead_letter(dlq_topic, event, "invalid_export_update", exc, "export update"))
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
