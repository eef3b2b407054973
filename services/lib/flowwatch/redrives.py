"""Redrive of dead letters: re-produce their kept originals to the source topic, idempotently.

The operation behind ``flowwatch dead-letters redrive`` (``flowwatch_tools.cli.dead_letters``) and the API's
dead-letter views (``GET /v1/dead-letters`` shows each one's redrive state).

A dead letter (``flowwatch.models.DeadLetter``, index ``<prefix>-deadletters``) points at the original bytes
kept on the dead-letter topic (``dlq_topic``/``dlq_partition``/``dlq_offset``). ``redrive`` re-produces
those originals, unchanged (same key, same value), to the topic they first came from (``source_topic``,
normally ``flow-events``), after a fix — a corrected schema, a raised size limit, a processor's key fixed on
the platform side. The detector then processes them as any event; one that is still invalid is dead-lettered
again, at a new DLQ offset.

Idempotent: each kept original is redriven once. Before producing, the command claims the original with a
redrive record (``<prefix>-redrives``, document id ``<dead_letter_id>@<dlq_partition>:<dlq_offset>``, created
with ``op_type=create``, so two concurrent runs cannot both claim it), and marks the record ``done`` with the
new offset once the broker acknowledged. A run that died between the claim and the acknowledgement leaves a
``producing`` claim: the next run takes it over after ``STALE_CLAIM`` (a second copy on the topic is harmless:
findings are written by deterministic id). A dead letter re-dead-lettered after a redrive points at its new
offset and can be redriven again after the next fix. The value read back is checked against
``dead_letter_id`` (SHA-256 of the original bytes) before anything is produced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from pydantic import BaseModel, ConfigDict

from flowwatch.es_indices import dead_letters_index
from flowwatch.kafka_client import confluent_config, kafka_settings
from flowwatch.models import DeadLetter
from flowwatch.wire import HEADER_REDRIVE_OF

STALE_CLAIM = timedelta(minutes=5)
"""A ``producing`` claim older than this is taken over by the next run."""
READ_TIMEOUT = 10.0
"""Seconds to wait for one original on the dead-letter topic."""

RedriveState = Literal["producing", "done"]
Outcome = Literal["redriven", "already_redriven", "claimed_elsewhere", "original_missing", "original_mismatch",
                  "no_pointer", "dry_run"]


class RedriveRecord(BaseModel):
    """That (and when, by whom) a kept original was re-produced; document of ``<prefix>-redrives``."""

    model_config = ConfigDict(extra="forbid")

    redrive_id: str
    dead_letter_id: str
    processor_id: str | None = None
    reason: str
    dlq_topic: str
    dlq_partition: int
    dlq_offset: int
    target_topic: str
    state: RedriveState
    claimed_at: datetime
    done_at: datetime | None = None
    target_partition: int | None = None
    target_offset: int | None = None
    actor: str


def redrives_index(prefix: str) -> str:
    """Index of redrive records (document id ``redrive_id``)."""
    return f"{prefix}-redrives"


def redrive_id(dead_letter: DeadLetter) -> str | None:
    """``<dead_letter_id>@<dlq_partition>:<dlq_offset>``, or None when the record has no DLQ pointer."""
    if dead_letter.dlq_partition is None or dead_letter.dlq_offset is None:
        return None
    return f"{dead_letter.dead_letter_id}@{dead_letter.dlq_partition}:{dead_letter.dlq_offset}"


def redrive_states(es: Elasticsearch, prefix: str, ids: list[str]) -> dict[str, RedriveRecord]:
    """Redrive records of ``ids`` that exist (multi-get; a missing index reads as none)."""
    if not ids:
        return {}
    try:
        resp = es.mget(index=redrives_index(prefix), ids=ids)
    except NotFoundError:
        return {}
    return {d["_id"]: RedriveRecord.model_validate(d["_source"]) for d in resp["docs"] if d.get("found")}


def dead_letter_query(processor_id: list[str] | None = None, reason: list[str] | None = None,
                      ids: list[str] | None = None, since: datetime | None = None) -> dict[str, Any]:
    """ES query of the dead letters to redrive (every given filter ANDed)."""
    filters: list[dict[str, Any]] = []
    if processor_id:
        filters.append({"terms": {"processor_id": processor_id}})
    if reason:
        filters.append({"terms": {"reason": reason}})
    if ids:
        filters.append({"terms": {"dead_letter_id": ids}})
    if since is not None:
        filters.append({"range": {"received_at": {"gte": since.astimezone(UTC).isoformat()}}})
    return {"bool": {"filter": filters}}


def iter_dead_letters(es: Elasticsearch, prefix: str, query: dict[str, Any], page: int = 500) -> Iterator[DeadLetter]:
    """Every dead letter matching ``query``, oldest first (search_after paging)."""
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {"query": query, "size": page,
                                "sort": [{"received_at": "asc"}, {"dead_letter_id": "asc"}]}
        if after is not None:
            body["search_after"] = after
        try:
            hits = es.search(index=dead_letters_index(prefix), ignore_unavailable=True, **body)["hits"]["hits"]
        except NotFoundError:
            return
        for hit in hits:
            yield DeadLetter.model_validate(hit["_source"])
        if len(hits) < page:
            return
        after = hits[-1]["sort"]


@dataclass
class RedriveReport:
    """What a redrive run did: counts per outcome and one line per dead letter."""

    counts: dict[str, int] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, dl: DeadLetter, outcome: Outcome, **extra: Any) -> None:
        """Record ``outcome`` for ``dl``."""
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        self.items.append({"dead_letter_id": dl.dead_letter_id, "reason": dl.reason, "outcome": outcome, **extra})


def read_original(consumer: Consumer, topic: str, partition: int, offset: int,
                  timeout: float = READ_TIMEOUT) -> tuple[bytes | None, bytes] | None:
    """``(key, value)`` of the message at ``topic/partition/offset``, or None when it is gone (retention,
    compaction) or not readable within ``timeout`` seconds."""
    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = datetime.now(UTC) + timedelta(seconds=timeout)
    while datetime.now(UTC) < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:  # nothing at or after the offset
                return None
            continue
        at = msg.offset() or 0
        if at == offset:
            value = msg.value()
            return (msg.key(), value if value is not None else b"")
        if at > offset:  # the original is no longer there
            return None
    return None


def _claim(es: Elasticsearch, prefix: str, record: RedriveRecord, now: datetime) -> RedriveRecord | None:
    """Create the claim; on conflict take over a stale ``producing`` claim. None: claimed or done elsewhere
    (the existing record is returned through ``existing``)."""
    index = redrives_index(prefix)
    try:
        es.create(index=index, id=record.redrive_id, document=record.model_dump(mode="json"), refresh="wait_for")
        return record
    except ConflictError:
        got = es.get(index=index, id=record.redrive_id)
        existing = RedriveRecord.model_validate(got["_source"])
        if existing.state == "producing" and now - existing.claimed_at > STALE_CLAIM:
            es.index(index=index, id=record.redrive_id, document=record.model_dump(mode="json"),
                     if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"], refresh="wait_for")
            return record
        return None


def _collect(into: list[tuple[Any, Any]]) -> Any:
    def on_delivery(err: Any, msg: Any) -> None:
        into.append((err, msg))

    return on_delivery


def redrive(es: Elasticsearch, prefix: str, bootstrap: str, query: dict[str, Any], actor: str,
            dry_run: bool = False, read_timeout: float = READ_TIMEOUT) -> RedriveReport:
    """Re-produce the kept originals of the dead letters matching ``query`` to their source topics, each
    at most once (see module doc). Raises KafkaException when the broker does not acknowledge (the claims
    of the unacknowledged messages stay ``producing`` and are retried by a later run after ``STALE_CLAIM``)."""
    report = RedriveReport()
    kafka = kafka_settings(bootstrap)
    consumer = Consumer(confluent_config(kafka, **{"group.id": "flowwatch-redrive", "enable.auto.commit": False,
                                                   "enable.partition.eof": True, "auto.offset.reset": "error"}))
    producer = Producer(confluent_config(kafka, **{"acks": "all", "enable.idempotence": True}))
    try:
        for dl in iter_dead_letters(es, prefix, query):
            rid = redrive_id(dl)
            if rid is None or dl.dlq_partition is None or dl.dlq_offset is None:
                report.add(dl, "no_pointer")
                continue
            done = redrive_states(es, prefix, [rid]).get(rid)
            if done is not None and done.state == "done":
                report.add(dl, "already_redriven", redriven_at=done.done_at.isoformat() if done.done_at else None)
                continue
            original = read_original(consumer, dl.dlq_topic, dl.dlq_partition, dl.dlq_offset, read_timeout)
            if original is None:
                report.add(dl, "original_missing")
                continue
            key, value = original
            if hashlib.sha256(value).hexdigest() != dl.dead_letter_id:
                report.add(dl, "original_mismatch")
                continue
            if dry_run:
                report.add(dl, "dry_run", target_topic=dl.source_topic)
                continue
            now = datetime.now(UTC)
            claim = _claim(es, prefix, RedriveRecord(
                redrive_id=rid, dead_letter_id=dl.dead_letter_id, processor_id=dl.processor_id, reason=dl.reason,
                dlq_topic=dl.dlq_topic, dlq_partition=dl.dlq_partition, dlq_offset=dl.dlq_offset,
                target_topic=dl.source_topic, state="producing", claimed_at=now, actor=actor), now)
            if claim is None:
                report.add(dl, "claimed_elsewhere")
                continue
            delivered: list[tuple[Any, Any]] = []
            producer.produce(dl.source_topic, key=key, value=value, headers=[(HEADER_REDRIVE_OF, rid.encode())],
                             on_delivery=_collect(delivered))
            producer.flush(30)
            if not delivered or delivered[0][0] is not None:
                raise KafkaException(delivered[0][0] if delivered else "no delivery report within 30 s")
            msg = delivered[0][1]
            finished = claim.model_copy(update={"state": "done", "done_at": datetime.now(UTC),
                                                "target_partition": msg.partition(), "target_offset": msg.offset()})
            es.index(index=redrives_index(prefix), id=rid, document=finished.model_dump(mode="json"),
                     refresh="wait_for")
            report.add(dl, "redriven", target_topic=dl.source_topic, target_partition=msg.partition(),
                       target_offset=msg.offset())
    finally:
        consumer.close()
    return report
