"""Validation and PI scanning of a batch of raw flow events — pure, CPU-bound, process-pool safe.

``process_batch`` runs in a worker process of a ``ProcessPoolExecutor`` so that scanning never blocks
the Faust event loop (heartbeats, timers). It returns serialised outputs only; raw PI stays here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import orjson

from flowwatch.detection.custom import LiveSettings, follow, live_settings
from flowwatch.detection.scanner import default_scanner
from flowwatch.detection.settings_topic import SETTINGS_KEY, SETTINGS_TOPIC, ensure_topic
from flowwatch.exports.from_event import update_from_event as export_update_from_event
from flowwatch.findings import scan_event
from flowwatch.ids import dead_letter_id
from flowwatch.incidents.from_event import update_from_event
from flowwatch.models import DeadLetter, utc_now
from flowwatch.validation import Rejected, parse_event
from flowwatch_detector.registry_reader import RegistryReader

log = logging.getLogger("flowwatch.detector")


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One consumed message: where it came from, its key and its original bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one raw event: a finding (JSON bytes) or a dead letter (reason + record); an incident
    event also yields an incident update (JSON bytes, keyed hashes only) for the incident agent."""

    key: bytes
    finding: bytes | None = None
    incident_update: bytes | None = None
    export_update: bytes | None = None
    dead_letter: bytes | None = None
    reason: str | None = None
    error: str | None = None
    event_id: str | None = None
    processor_id: str | None = None


_hash_key = b""
MAX_ID_CHARS = 200
"""Longest event_id / processor.id of the v1 contract (characters)."""


_detection_settings: RegistryReader | None = None
SETTINGS_CATCH_UP_SECONDS = 15.0


def init_worker(hash_key: bytes, bootstrap: str | None = None) -> None:
    """Process-pool initializer: set the HMAC key, warm the scanner (compiles its patterns) and, given a
    ``bootstrap``, follow the hot-reloaded detection settings topic (``flowwatch.detection.settings_topic``)."""
    global _hash_key, _detection_settings
    _hash_key = hash_key
    default_scanner()
    live_settings()  # FLOWWATCH_DETECTION_CONFIG: an invalid file stops the worker here, loudly
    if bootstrap and _detection_settings is None:
        ensure_topic(bootstrap)
        _detection_settings = RegistryReader(bootstrap, SETTINGS_TOPIC)
        _detection_settings.start()
        _detection_settings.ready.wait(SETTINGS_CATCH_UP_SECONDS)  # scan the first batch with the settings in force


def process_batch(batch: list[RawEvent], dlq_topic: str) -> list[Outcome]:
    """Validate and scan every event of ``batch``; one Outcome per event, in order. Never raises for one
    event's content: an event that breaks the scan itself becomes a ``processing_error`` dead letter, so a
    poison message cannot stop the batch (and the agent) it arrived in."""
    now = utc_now()
    live = follow(_detection_settings.get(SETTINGS_KEY) if _detection_settings else None)
    out = []
    for raw in batch:
        try:
            out.append(_process_one(raw, dlq_topic, now, live))
        except Exception as exc:  # a defect of ours, shown by this event: dead-letter it, keep the worker
            log.exception("processing error at %s[%d]@%d", raw.topic, raw.partition, raw.offset)
            out.append(_dead(raw, dlq_topic, now, "processing_error", f"{type(exc).__name__}: {exc}"[:2000]))
    return out


def _process_one(raw: RawEvent, dlq_topic: str, now: datetime, live: LiveSettings) -> Outcome:
    value = raw.value or b""
    try:
        event = parse_event(value)
    except Rejected as exc:
        return _dead(raw, dlq_topic, now, exc.reason, exc.error)
    key = raw.key or event.processor.id.encode()
    if raw.key and raw.key.decode(errors="replace") != event.processor.id:
        return _dead(raw, dlq_topic, now, "key_mismatch",
                     f"message key {raw.key!r} differs from processor.id {event.processor.id!r}")
    finding, keys = scan_event(event, live.scanner(event.processor.id), _hash_key, now, live.table())
    update = update_from_event(event, finding, keys)
    export = export_update_from_event(event, finding, keys)
    return Outcome(
        key=key,
        finding=orjson.dumps(finding.model_dump(mode="json")),
        incident_update=update.model_dump_json().encode() if update else None,
        export_update=export.model_dump_json().encode() if export else None,
        event_id=event.event_id,
        processor_id=event.processor.id,
    )


def _dead(raw: RawEvent, dlq_topic: str, now: datetime, reason: str, error: str) -> Outcome:
    value = raw.value or b""
    event_id, processor_id = _best_effort_ids(value)
    processor_id = processor_id or (raw.key.decode(errors="replace") if raw.key else None)
    record = DeadLetter(
        dead_letter_id=dead_letter_id(value),
        reason=reason,
        error=error[:2000],
        # ids longer than the contract allows are not ids (a poison event's "1 MB" event_id): dropped, so
        # the record (the fw-dead-letter header) stays small beside the original bytes on the DLQ
        event_id=_id_or_none(event_id),
        processor_id=_id_or_none(processor_id),
        size_bytes=len(value),
        source_topic=raw.topic,
        source_partition=raw.partition,
        source_offset=raw.offset,
        dlq_topic=dlq_topic,
        received_at=now,
    )
    return Outcome(key=raw.key or b"", dead_letter=orjson.dumps(record.model_dump(mode="json")),
                   reason=reason, error=record.error, event_id=record.event_id, processor_id=record.processor_id)


def _id_or_none(value: str | None) -> str | None:
    """``value`` when it is a plausible identifier (1..MAX_ID_CHARS characters), else None."""
    return value if value and len(value) <= MAX_ID_CHARS else None


def _best_effort_ids(value: bytes) -> tuple[str | None, str | None]:
    """event_id and processor.id of a document that failed validation, when they can be read."""
    try:
        doc = orjson.loads(value)
    except (orjson.JSONDecodeError, RecursionError):
        return None, None
    if not isinstance(doc, dict):
        return None, None
    event_id = doc.get("event_id") if isinstance(doc.get("event_id"), str) else None
    proc = doc.get("processor")
    processor_id = proc.get("id") if isinstance(proc, dict) and isinstance(proc.get("id"), str) else None
    return event_id, processor_id


def event_id_of(value: bytes) -> str | None:
    """The ``event_id`` of a raw record, when it can be read (log correlation of unreadable records)."""
    return _best_effort_ids(value)[0]
