"""The incident agent: aggregates incident updates per incident in changelogged Faust tables, evaluates the
obligations of every applicable rule pack (law and policy) and raises deadline alerts, once each.

- ``incident-updates`` (key ``processor_id``) carries ``IncidentUpdate``s from the pii agent (incident
  events) and from the API (obligations marked done or waived), and ``tick`` messages from the timer.
- Table ``incident-state``: a log of batch records (``batched_state.SetLog``), one changelog message per
  micro-batch and source partition (more when a batch adds more than ``RECORD_KEYS`` members), holding the
  batch's new persons of its incidents (64-bit keyed hashes, for exact distinct counts: the collision bound
  is in ``flowwatch.person_sets``), the ``IncidentState`` of every incident it changed (JSON,
  ``processor\x1fincident``; including the applied update ids and the dedup keys of the alerts already
  raised) and the source offset after its last update (``"o"``). Persons and states land together or not at
  all, so a restarted worker recovers both, counts each person once and raises nothing twice. A
  10,000-person event is part of one message, not 10,000 (issue 18).
- Out: ``incidents`` (the ``IncidentRecord``, latest state) and ``alerts`` (``Alert``), key ``processor_id``.

Micro-batches (``batch_agent.run_batches``: ``FLOWWATCH_BATCH_SIZE`` / ``_WITHIN``, per source partition, input
the Faust consumer skipped read from the broker and applied first): every update is applied in order
(``IncidentState.apply``; an ``update_id`` applied before changes nothing, so replays after a crash are
idempotent); then, per incident the batch touched, the alerts now due are sent and their acknowledgement
awaited, one record holds the persons and the states, and one incident record (its latest state) is sent.
The batch is acknowledged after the broker acknowledged all of it (``batched_state.durable_write``).
Alerts land before the record that says they were raised: a crash in between sends an alert twice (same
``alert_id``: the indexer keeps one, the notifier notifies once), never not at all.

Faust tables can only be written while a stream event is being processed (the changelog partition is the
event's), so the timer does not write: it sends a ``tick`` for each incident whose next alert is due, and the
agent, processing the tick on the incident's own partition, decides and records. "Now" is the wall clock,
read once per batch and partition.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import faust
import orjson
from pydantic import ValidationError

from flowwatch.exports.rules import ProcessorProfile
from flowwatch.incidents.aggregate import IncidentState
from flowwatch.incidents.alerts import due_alerts, next_alert_at
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.models import utc_now
from flowwatch.registry.models import RegistryEntry
from flowwatch.rules.incident_pack import IncidentRulePack, load_packs
from flowwatch.settings import INCIDENT_STATE_TABLE, DetectorSettings, Topics
from flowwatch_detector import metrics
from flowwatch_detector.batch_agent import dead_letter, declare_log, run_batches
from flowwatch_detector.batched_state import RECORD_KEYS, SetLog, await_acks
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
    incident_log = declare_log(app, INCIDENT_STATE_TABLE, settings, topics)
    states = incident_log.windows
    next_alert: dict[str, datetime | None] = {}
    ticked: dict[str, float] = {}
    # issue 14: the processor's profile (CII operator, central/state organ) sets the 1/2/4-hour report
    registry = RegistryReader(settings, topics.registry)  # with the deployment's Kafka security settings

    @app.task
    async def start_incident_registry() -> None:
        """Follow the processor registry (profiles); until it has caught up, profiles are unknown."""
        registry.start()

    def profile_of(processor_id: str) -> ProcessorProfile | None:
        entry = registry.validated(processor_id, RegistryEntry)
        return entry.profile if entry else None

    def schedule(key: str, state: IncidentState, now: datetime) -> None:
        record = build_record(state, packs, now, profile_of(state.processor_id))
        pack = by_id.get(record.pack_id or "")
        next_alert[key] = next_alert_at(state, record.obligations, pack) if pack else None
        ticked.pop(key, None)

    @app.agent(updates_topic)
    async def incident_agent(stream: faust.StreamT) -> None:
        """Apply the updates (and ticks) of each micro-batch, raise the alerts now due, emit the records."""
        await run_batches(app, stream, settings, topics.incident_updates, incident_log, apply_partition,
                          "incident batch")

    async def apply_partition(partition: int, events: list[Any]) -> list[Any]:
        """Fold one source partition's updates and ticks (skipped input already first), raise what is due,
        write the record(s), send one incident record per changed incident. Returns the broker
        acknowledgements still to await (the alerts' were awaited before the last record was written)."""
        acks: list[Any] = []
        parsed: list[tuple[int, str, IncidentUpdate | None]] = []
        for event in events:
            try:
                parsed.append((event.message.offset, *parse_update(event.value or b"")))
            except (orjson.JSONDecodeError, ValidationError, KeyError, TypeError) as exc:
                acks.append(await dead_letter(dlq_topic, event, "invalid_incident_update", exc, "incident update"))
        folded, flushed = await fold_updates(incident_log, partition, parsed)
        acks += flushed
        now = utc_now()
        alert_acks: list[Any] = []
        records: list[IncidentRecord] = []
        for key, incident in folded.items():
            state = incident.state
            profile = profile_of(state.processor_id)
            record = build_record(state, packs, now, profile)
            pack = by_id.get(record.pack_id or "")
            alerts = due_alerts(state, record.obligations, pack, now) if pack else []
            for alert in alerts:
                log.info("alert %s %s", alert.type, alert.dedup_key, extra={"processor_id": state.processor_id})
                metrics.observe_alert(alert)
                alert_acks.append(await alerts_topic.send(key=state.processor_id.encode(),
                                                          value=alert.model_dump_json().encode(), force=True))
            if alerts:
                state.alerts_raised.extend(a.dedup_key for a in alerts)
                # the record changed: a newer version for the indexer (versioned by updated_at)
                state.updated_at = max(state.updated_at, now)
                record = build_record(state, packs, now, profile)
            if incident.changed or alerts or incident.new:
                states[key] = state.model_dump(mode="json")
                records.append(record)
        await await_acks(alert_acks, "incident alerts")  # before the record that says they were raised
        if (ack := await incident_log.flush(partition, events[-1].message.offset + 1)) is not None:
            acks.append(ack)
        for record in records:  # the latest state of each incident the batch changed
            acks.append(await incidents_topic.send(key=record.processor_id.encode(),
                                                   value=record.model_dump_json().encode(), force=True))
        for key, incident in folded.items():
            schedule(key, incident.state, now)
        return acks

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



@dataclass
class Folded:
    """An incident a batch touched: its state after the batch's updates; ``new``: no state was stored for
    it; ``changed``: an update of the batch changed it (not a replay, not only a tick)."""

    state: IncidentState
    new: bool
    changed: bool = False


def parse_update(value: bytes) -> tuple[str, IncidentUpdate | None]:
    """``(processor\x1fincident key, update)`` of an ``incident-updates`` value; the update is None for a
    tick (``{"tick": <incident id>, "processor_id": …}``). Raises ``orjson.JSONDecodeError``,
    ``pydantic.ValidationError``, ``KeyError`` or ``TypeError`` for a value that is neither."""
    doc = orjson.loads(value)
    if "tick" in doc:
        return f"{doc['processor_id']}\x1f{doc['tick']}", None
    update = IncidentUpdate.model_validate(doc)
    return f"{update.processor_id}\x1f{update.incident_id}", update


def members_of(update: IncidentUpdate) -> int:
    """At most how many set members applying ``update`` adds (a person, and again when sensitive)."""
    return len(update.person_keys) + 2 * len(update.sensitive_person_keys)


async def fold_updates(incident_log: SetLog, partition: int,
                       updates: list[tuple[int, str, IncidentUpdate | None]]) -> tuple[dict[str, Folded], list[Any]]:
    """Apply ``updates`` — ``(source offset, incident key, update or None for a tick)`` of one source
    ``partition``, in offset order — to the incident states of ``incident_log``. Returns the incidents
    touched (key → ``Folded``; a tick of an incident with no stored state is ignored: this worker does not own
    it) and the acknowledgements of records already written.

    Nothing is written unless the batch's new members would pass ``RECORD_KEYS``: then, before the update
    that would pass it, one record is flushed holding the members so far, the states of every incident
    changed so far and the offset of that update as the next one (``SetLog.flush``). So every record's states
    count exactly the persons in the records up to it, and a crash after it replays from that update. The
    caller writes the changed states of the rest and flushes the last record."""
    states = incident_log.windows
    folded: dict[str, Folded] = {}
    acks: list[Any] = []
    for offset, key, update in updates:
        await asyncio.sleep(0)  # a batch of 10,000-person updates takes seconds: let the loop's other tasks run
        incident = folded.get(key)
        if incident is None:
            stored = states.get(key)
            if stored is not None:
                incident = Folded(IncidentState.model_validate(stored), new=False)
            elif update is not None:
                incident = Folded(IncidentState.new(update), new=True)
            else:
                continue  # a tick for an incident this worker no longer owns
            folded[key] = incident
        if update is None or update.update_id in incident.state.update_ids:
            continue  # a tick (evaluated by the caller), or a replay
        if incident_log.pending_keys + members_of(update) > RECORD_KEYS:
            for changed_key, changed in folded.items():
                if changed.changed or changed.new:
                    states[changed_key] = changed.state.model_dump(mode="json")
            if (ack := await incident_log.flush(partition, offset)) is not None:
                acks.append(ack)
        incident.changed = incident.state.apply(update, incident_log.keys) or incident.changed
    return folded, acks
