"""The incident agent: aggregates incident updates per incident in changelogged Faust tables, evaluates the
obligations of every applicable rule pack (law and policy) and raises deadline alerts, once each.

- ``incident-updates`` (key ``processor_id``) carries ``IncidentUpdate``s from the pii agent (incident
  events) and from the API (obligations marked done or waived), and ``tick`` messages from the timer.
- Table ``incident-state``: a log of batch records (``batched_state.SetLog``), one changelog message per
  event that changed an incident, holding the event's new persons of the incident (64-bit keyed hashes, for
  exact distinct counts: the collision bound is in ``flowwatch.person_sets``) and the ``IncidentState``
  after it (JSON, ``processor\x1fincident``), including the dedup keys of the alerts already raised. Persons
  and counts land together or not at all, so a restarted worker recovers both and raises nothing twice. A
  10,000-person event is one message, not 10,000 (issue 18); the message is sent at once
  (``batched_state.durable_write``) and the event is acknowledged after the broker acknowledged it.
- Out: ``incidents`` (the ``IncidentRecord``, latest state) and ``alerts`` (``Alert``), key ``processor_id``.

Faust tables can only be written while a stream event is being processed (the changelog partition is the
event's), so the timer does not write: it sends a ``tick`` for each incident whose next alert is due, and the
agent, processing the tick on the incident's own partition, decides and records. "Now" is the wall clock.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import datetime
from typing import Any

import faust
import orjson
from pydantic import ValidationError

from flowwatch.exports.rules import ProcessorProfile
from flowwatch.incidents.aggregate import IncidentState
from flowwatch.incidents.alerts import due_alerts, next_alert_at
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.models import utc_now
from flowwatch.registry.models import RegistryEntry
from flowwatch.rules.incident_pack import IncidentRulePack, load_packs
from flowwatch.settings import INCIDENT_STATE_TABLE, DetectorSettings, Topics
from flowwatch.wire import HEADER_ERROR, HEADER_REASON, MAX_ERROR_BYTES
from flowwatch_detector import metrics
from flowwatch_detector.batched_state import SetLog, await_acks, until_applied
from flowwatch_detector.processing import event_id_of
from flowwatch_detector.registry_reader import RegistryReader

log = logging.getLogger("flowwatch.detector.incidents")

TICK_RESEND = 30.0
"""Seconds before the timer sends another tick for an incident whose first tick produced nothing yet."""


def register(app: faust.App, settings: DetectorSettings, topics: Topics) -> None:
    """Declare the incident tables, the incident agent and its deadline timer on ``app``."""
    packs: list[IncidentRulePack] = load_packs(settings.rule_packs_dir)
    by_id = {p.id: p for p in packs}
    raw: dict[str, Any] = {"key_serializer": "raw", "value_serializer": "raw", "partitions": topics.partitions}
    updates_topic = app.topic(topics.incident_updates, key_type=bytes, value_type=bytes, **raw)
    incidents_topic = app.topic(topics.incidents, **raw)
    alerts_topic = app.topic(topics.alerts, **raw)
    dlq_topic = app.topic(topics.dead_letters, **raw)
    json: faust.Schema = faust.Schema(key_serializer="json", value_serializer="json")
    log_table = app.Table(INCIDENT_STATE_TABLE, default=None, partitions=topics.partitions, schema=json)
    incident_log = SetLog(log_table, settings.hash_key.get_secret_value().encode())
    states, persons = incident_log.windows, incident_log.keys

    @log_table.on_recover
    async def _recovered() -> None:
        incident_log.invalidate()  # the table's partitions changed: rebuild the index from what is local now
    next_alert: dict[str, datetime | None] = {}
    ticked: dict[str, float] = {}
    # issue 14: the processor's profile (CII operator, central/state organ) sets the 1/2/4-hour report
    registry = RegistryReader(settings.kafka_bootstrap, topics.registry)

    @app.task
    async def start_incident_registry() -> None:
        """Follow the processor registry (profiles); until it has caught up, profiles are unknown."""
        registry.start()

    def profile_of(processor_id: str) -> ProcessorProfile | None:
        stored = registry.get(processor_id)
        try:
            return RegistryEntry.model_validate(stored).profile if stored else None
        except ValidationError as exc:
            log.warning("unreadable registry entry for %s ignored: %s", processor_id, exc)
            return None

    def schedule(key: str, state: IncidentState, now: datetime) -> None:
        record = build_record(state, packs, now, profile_of(state.processor_id))
        pack = by_id.get(record.pack_id or "")
        next_alert[key] = next_alert_at(state, record.obligations, pack) if pack else None
        ticked.pop(key, None)

    @app.agent(updates_topic)
    async def incident_agent(stream: faust.StreamT) -> None:
        """Apply each update (or tick), raise the alerts now due, emit the incident record."""
        async for event in stream.events():
            value = event.value or b""
            metrics.EVENTS_IN.labels(topic=topics.incident_updates).inc()
            try:
                doc = orjson.loads(value)
                update = None if "tick" in doc else IncidentUpdate.model_validate(doc)
                processor_id, incident_id = (
                    (doc["processor_id"], doc["tick"]) if update is None else (update.processor_id, update.incident_id)
                )
            except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError) as exc:
                log.warning("invalid incident update kept in the dead-letter topic: %s", exc,
                            extra={"event_id": event_id_of(value), "reason": "invalid_incident_update"})
                metrics.DEAD_LETTERS.labels(reason="invalid_incident_update").inc()
                headers = [(HEADER_REASON, b"invalid_incident_update"),
                           (HEADER_ERROR, str(exc).encode()[:MAX_ERROR_BYTES])]
                await (await dlq_topic.send(key=event.key, value=value, headers=headers, force=True))
                continue
            key = f"{processor_id}\x1f{incident_id}"
            await until_applied(functools.partial(apply, event, key, update, processor_id), incident_log.rollback,
                                f"incident update {event.message.partition}:{event.message.offset}")

    async def apply(event: Any, key: str, update: IncidentUpdate | None, processor_id: str) -> None:
        """Apply one update (or tick) to its incident, raise what is due, write one record, send the incident
        record; returns once the broker acknowledged all of it."""
        stored = states.get(key)
        if stored is not None:
            state = IncidentState.model_validate(stored)
        elif update is not None:
            state = IncidentState.new(update)
        else:
            return  # a tick for an incident this worker no longer owns
        changed = state.apply(update, persons) if update is not None else False
        now = utc_now()
        record = build_record(state, packs, now, profile_of(processor_id))
        pack = by_id.get(record.pack_id or "")
        alerts = due_alerts(state, record.obligations, pack, now) if pack else []
        acks = []
        for alert in alerts:
            log.info("alert %s %s", alert.type, alert.dedup_key, extra={"processor_id": processor_id})
            metrics.observe_alert(alert)
            acks.append(await alerts_topic.send(key=processor_id.encode(), value=alert.model_dump_json().encode(),
                                                force=True))
        if alerts:
            state.alerts_raised.extend(a.dedup_key for a in alerts)
            # the record changed: a newer version for the indexer (versioned by updated_at)
            state.updated_at = max(state.updated_at, now)
            record = build_record(state, packs, now, profile_of(processor_id))
        if changed or alerts or stored is None:
            # one record: the event's new persons and the incident's state after it (issue 18)
            states[key] = state.model_dump(mode="json")
            if (ack := await incident_log.flush(event.message.partition)) is not None:
                acks.append(ack)
            acks.append(await incidents_topic.send(key=processor_id.encode(),
                                                   value=record.model_dump_json().encode(), force=True))
        await await_acks(acks, "incident update")
        incident_log.settle()
        schedule(key, state, now)

    @app.timer(interval=settings.incident_tick)
    async def incident_deadlines() -> None:
        """Send a tick for every local incident whose next alert is due (the agent decides and records)."""
        now = utc_now()
        loop_now = asyncio.get_running_loop().time()
        for key, stored in list(states.items()):
            if key not in next_alert:
                schedule(key, IncidentState.model_validate(stored), now)
            due = next_alert.get(key)
            if due is None or due > now or loop_now - ticked.get(key, -TICK_RESEND) < TICK_RESEND:
                continue
            ticked[key] = loop_now
            processor_id, incident_id = key.split("\x1f", 1)
            tick = orjson.dumps({"tick": incident_id, "processor_id": processor_id, "at": now.isoformat()})
            await updates_topic.send(key=processor_id.encode(), value=tick)

