"""The egress agent: counts the distinct persons each processor exports per counting window, in
changelogged Faust tables holding keyed hashes only, and raises the export alerts
(``flowwatch.exports.evaluate``) — once each.

- In: ``export-updates`` (key ``processor_id``), written by the pii agent for flows that leave mainland China
  (or go to a destination that could not be resolved).
- Registry: the compacted topic ``processor-registry``, followed by every worker in full
  (``RegistryReader``): processor profiles, filed mechanisms, and the restriction list under ``RESTRICTIONS_KEY``.
- Tables: ``export-ledger-state`` (``processor\\x1fwindow`` → window counts and raised alert keys) and
  ``export-persons`` (person-year entries and applied event ids → 1).
- Out: ``export-ledger`` (``LedgerRecord``) and ``alerts`` (``Alert``), key ``processor_id``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import faust
from pydantic import ValidationError

from flowwatch.exports.models import ExportUpdate
from flowwatch.exports.registry import RESTRICTIONS_KEY, RegistryEntry, RestrictionList
from flowwatch.exports.step import process_update
from flowwatch.models import utc_now
from flowwatch.rules.export_pack import load_export_packs
from flowwatch.settings import EXPORT_LEDGER_TABLE, EXPORT_PERSONS_TABLE, DetectorSettings, Topics
from flowwatch_detector import metrics
from flowwatch_detector.processing import event_id_of
from flowwatch_detector.registry_reader import RegistryReader

log = logging.getLogger("flowwatch.detector.egress")


class _TableKeys:
    """``KeyStore`` over a Faust table (writes only while processing a stream event)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def __setitem__(self, key: str, value: int) -> None:
        self.table[key] = value


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
    states = app.Table(EXPORT_LEDGER_TABLE, default=None, partitions=topics.partitions, schema=json)
    persons = _TableKeys(app.Table(EXPORT_PERSONS_TABLE, default=None, partitions=topics.partitions, schema=json))

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

    @app.agent(updates_topic)
    async def egress_agent(stream: faust.StreamT) -> None:
        """Count, evaluate and alert for every export flow."""
        while not registry.ready.is_set():
            await asyncio.sleep(0.2)
        async for event in stream.events():
            value = event.value or b""
            metrics.EVENTS_IN.labels(topic=topics.export_updates).inc()
            try:
                update = ExportUpdate.model_validate_json(value)
            except ValidationError as exc:
                log.warning("invalid export update kept in the dead-letter topic: %s", exc,
                            extra={"event_id": event_id_of(value), "reason": "invalid_export_update"})
                metrics.DEAD_LETTERS.labels(reason="invalid_export_update").inc()
                headers = [("fw-reason", b"invalid_export_update"), ("fw-error", str(exc).encode()[:4000])]
                await (await dlq_topic.send(key=event.key, value=value, headers=headers, force=True))
                continue
            result = process_update(update, packs, states, persons, registry_entry(update.processor_id),
                                    restriction_list(), utc_now())  # fmt: skip
            key = update.processor_id.encode()
            acks = []
            for alert in result.alerts:
                log.info("alert %s %s", alert.type, alert.dedup_key,
                         extra={"processor_id": update.processor_id, "event_id": update.event_id})
                metrics.observe_alert(alert)
                acks.append(await alerts_topic.send(key=key, value=alert.model_dump_json().encode(), force=True))
            if result.ledger is not None:
                acks.append(await ledger_topic.send(key=key, value=result.ledger.model_dump_json().encode(),
                                                    force=True))  # fmt: skip
            await asyncio.gather(*acks)
