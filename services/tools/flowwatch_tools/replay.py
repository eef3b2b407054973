"""Produce flow events from a JSONL file and account for every one of them in Elasticsearch.

An event is accounted for when its finding (deterministic id from processor id and event id) or its
dead letter (id = SHA-256 of its bytes) is indexed. Used by ``flowwatch replay`` / ``demo``, the
integration tests and the bench.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from elasticsearch import Elasticsearch

from flowwatch.es_indices import FINDINGS_PARTITION_FORMAT, dead_letters_index, findings_index, findings_pattern
from flowwatch.ids import dead_letter_id, finding_id
from flowwatch.kafka_client import confluent_config, kafka_settings
from flowwatch.models import TIMESTAMP_MAX, TIMESTAMP_MIN
from flowwatch.settings import KafkaSettings
from flowwatch.stored_form import FINDING, unpack

CHUNK = 1000
ACCOUNT_WINDOW = 2000
"""Pending events looked up per window of an accounting round (``account``)."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What one produced message should become: its finding id (if it can have one) and dead-letter id."""

    key: bytes | None
    finding_id: str | None
    dead_letter_id: str
    occurred_at: datetime | None = None
    """The event's ``occurred_at`` when readable: it names the findings index (looked up by id, not searched)."""


def expectation(raw: bytes) -> Expected:
    """Expected ids of a raw message; the key is ``processor.id`` when it can be read."""
    fid = key = occurred = None
    try:
        doc = orjson.loads(raw)
        proc = doc.get("processor") if isinstance(doc, dict) else None
        pid = proc.get("id") if isinstance(proc, dict) else None
        eid = doc.get("event_id") if isinstance(doc, dict) else None
        if isinstance(pid, str):
            key = pid.encode()
            if isinstance(eid, str):
                fid = finding_id(pid, eid)
        at = doc.get("occurred_at") if isinstance(doc, dict) else None
        if isinstance(at, str):
            occurred = datetime.fromisoformat(at)
            if occurred.tzinfo is None or not TIMESTAMP_MIN <= occurred < TIMESTAMP_MAX:
                occurred = None  # not RFC 3339, or out of range: it can only be a dead letter (and year 9999
                # at -12:00 would overflow when naming its findings index)
    except (orjson.JSONDecodeError, ValueError):
        pass
    return Expected(key, fid, dead_letter_id(raw), occurred)


def read_jsonl(path: Path) -> Iterator[bytes]:
    """Non-empty lines of a JSONL file, as bytes without the newline."""
    with path.open("rb") as fh:
        for line in fh:
            line = line.rstrip(b"\r\n")
            if line:
                yield line


@dataclass
class ReplayReport:
    """Outcome of a replay: counts, timing (seconds) and throughput (events per second)."""

    events: int = 0
    findings: int = 0
    dead_letters: int = 0
    missing: int = 0
    produce_seconds: float = 0.0
    total_seconds: float = 0.0
    entity_events: Counter[str] = field(default_factory=Counter)
    entity_occurrences: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    processors: Counter[str] = field(default_factory=Counter)

    @property
    def throughput(self) -> float:
        """Events per second from the first produce to the last event accounted for."""
        return self.events / self.total_seconds if self.total_seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary."""
        return {
            "events": self.events, "findings": self.findings, "dead_letters": self.dead_letters,
            "missing": self.missing, "produce_seconds": round(self.produce_seconds, 3),
            "total_seconds": round(self.total_seconds, 3), "throughput_events_per_s": round(self.throughput, 1),
            "findings_by_entity_type": dict(self.entity_events.most_common()),
            "entity_occurrences": dict(self.entity_occurrences.most_common()),
            "dead_letter_reasons": dict(self.dead_letter_reasons.most_common()),
            "findings_by_processor": dict(self.processors.most_common()),
        }


def produce(bootstrap: str | KafkaSettings, topic: str, messages: Iterable[bytes]) -> list[Expected]:
    """Produce every message (key = processor.id when readable) and wait for the broker's acks.

    Raises RuntimeError when any message could not be delivered.
    """
    producer = Producer(confluent_config(kafka_settings(bootstrap), **{
        "linger.ms": 10, "acks": "all", "compression.type": "none",
        "message.max.bytes": 1_048_576, "queue.buffering.max.messages": 200_000,
    }))
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    expected = []
    for raw in messages:
        exp = expectation(raw)
        expected.append(exp)
        while True:
            try:
                producer.produce(topic, value=raw, key=exp.key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(60) or errors:
        raise RuntimeError(f"could not deliver every event: {errors[:3] or 'flush timed out'}")
    return expected


def read_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 60.0) -> list[tuple[int, int, bytes]]:
    """Every record of ``topic`` now, as (partition, offset, value): each of its ``partitions`` read from its
    low to its high watermark, outside any consumer group (reading back what a broker holds). Raises
    RuntimeError on a broker error or when a partition is not read within ``timeout`` seconds."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "flowwatch-read-back",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    records: list[tuple[int, int, bytes]] = []
    try:
        for partition in range(partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            deadline = time.monotonic() + timeout
            while True:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{topic}[{partition}] not read to offset {high} in {timeout:.0f} s")
                msg = consumer.poll(1.0)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        break
                    raise RuntimeError(f"{topic}[{partition}]: {error}")
                offset = msg.offset() or 0
                records.append((partition, offset, msg.value() or b""))
                if offset + 1 >= high:
                    break
    finally:
        consumer.close()
    return records


def account(
    es: Elasticsearch,
    prefix: str,
    expected: list[Expected],
    timeout: float,
    on_progress: Callable[[int, int], None] | None = None,
    poll: float = 0.25,
) -> tuple[set[str], set[str], list[Expected]]:
    """Wait until every expected event has a finding or a dead letter, or ``timeout`` seconds pass.

    Returns (finding ids seen, dead-letter ids seen, events still missing).
    """
    findings: set[str] = set()
    dead: set[str] = set()
    pending = list(expected)
    deadline = time.monotonic() + timeout
    while pending:
        # events are mostly accounted for in the order they were produced: look at the oldest pending ones a
        # window at a time, and end the round at a window where nothing turned up — except in the last round
        # (the deadline passed), which looks at every one, so what it calls missing is missing
        last_round = time.monotonic() > deadline
        still: list[Expected] = []
        for start in range(0, len(pending), ACCOUNT_WINDOW):
            window = pending[start : start + ACCOUNT_WINDOW]
            findings, dead = _account_window(es, prefix, window, findings, dead)
            left = [e for e in window if e.finding_id not in findings and e.dead_letter_id not in dead]
            still.extend(left)
            if len(left) == len(window) and not last_round:
                still.extend(pending[start + ACCOUNT_WINDOW :])
                break
        pending = still
        if on_progress:
            on_progress(len(expected) - len(pending), len(expected))
        if not pending or last_round:
            break
        time.sleep(poll)
    return findings, dead, pending


def _account_window(
    es: Elasticsearch, prefix: str, window: list[Expected], findings: set[str], dead: set[str]
) -> tuple[set[str], set[str]]:
    """Add the finding and dead-letter ids of ``window`` that Elasticsearch holds to the two sets."""
    placed = [(index, e.finding_id) for e in window if e.finding_id and e.occurred_at
              for index in _finding_indices(prefix, e.occurred_at)]  # fmt: skip
    findings |= _found_by_id(es, placed)
    findings |= _existing_ids(es, findings_pattern(prefix),
                              [e.finding_id for e in window if e.finding_id and not e.occurred_at])
    dead |= _found_by_id(es, [(dead_letters_index(prefix), e.dead_letter_id) for e in window
                              if e.finding_id not in findings])
    return findings, dead


def _finding_indices(prefix: str, occurred_at: datetime) -> list[str]:
    """The findings indices a finding of ``occurred_at`` can be in (hourly or daily partitions)."""
    return [findings_index(prefix, occurred_at, p) for p in FINDINGS_PARTITION_FORMAT]  # type: ignore[arg-type]


def _found_by_id(es: Elasticsearch, docs: list[tuple[str, str]]) -> set[str]:
    """Ids of the (index, id) pairs that exist, by multi-get: a get by id costs the same whatever the
    index holds, where a search on the embedded engine scans every document (docs/engines.md)."""
    found: set[str] = set()
    for i in range(0, len(docs), CHUNK * 5):
        chunk = docs[i : i + CHUNK * 5]
        resp = es.mget(docs=[{"_index": index, "_id": doc_id, "_source": False} for index, doc_id in chunk])
        found.update(d["_id"] for d in resp["docs"] if d.get("found"))
    return found


def summarise(es: Elasticsearch, prefix: str, report: ReplayReport, findings: set[str], dead: set[str]) -> None:
    """Fill the report's per-entity, per-processor and dead-letter-reason counts from Elasticsearch."""
    ids = sorted(findings)
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        resp = es.search(index=findings_pattern(prefix), query={"ids": {"values": chunk}}, size=len(chunk),
                         source_includes=["entity_counts_json", "entity_counts", "processor_id"])
        for hit in resp["hits"]["hits"]:
            src = hit["_source"]
            report.processors[src["processor_id"]] += 1
            for entity, n in unpack(src, FINDING).get("entity_counts", {}).items():
                report.entity_events[entity] += 1
                report.entity_occurrences[entity] += n
    dids = sorted(dead)
    for i in range(0, len(dids), CHUNK):
        chunk = dids[i : i + CHUNK]
        resp = es.search(index=dead_letters_index(prefix), query={"ids": {"values": chunk}}, size=len(chunk),
                         source_includes=["reason"])
        for hit in resp["hits"]["hits"]:
            report.dead_letter_reasons[hit["_source"]["reason"]] += 1


def _existing_ids(es: Elasticsearch, index: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), CHUNK * 5):
        chunk = ids[i : i + CHUNK * 5]
        resp = es.search(index=index, query={"ids": {"values": chunk}}, size=len(chunk), source=False,
                         ignore_unavailable=True, allow_no_indices=True)
        found.update(h["_id"] for h in resp["hits"]["hits"])
    return found


def replay(
    bootstrap: str | KafkaSettings,
    topic: str,
    es: Elasticsearch,
    prefix: str,
    messages: Iterable[bytes],
    wait: bool = True,
    timeout: float = 600.0,
    on_progress: Callable[[int, int], None] | None = None,
) -> ReplayReport:
    """Produce ``messages``; with ``wait``, account for each of them and fill in the report."""
    report = ReplayReport()
    t0 = time.monotonic()
    expected = produce(bootstrap, topic, messages)
    report.events = len(expected)
    report.produce_seconds = time.monotonic() - t0
    if not wait:
        return report
    findings, dead, missing = account(es, prefix, expected, timeout, on_progress)
    report.total_seconds = time.monotonic() - t0
    report.findings, report.dead_letters, report.missing = len(findings), len(dead), len(missing)
    # accounting gets documents by id (real time); the summary searches, which sees them only after a refresh
    es.indices.refresh(index=f"{findings_pattern(prefix)},{dead_letters_index(prefix)}", ignore_unavailable=True,
                       allow_no_indices=True)
    summarise(es, prefix, report, findings, dead)
    return report
