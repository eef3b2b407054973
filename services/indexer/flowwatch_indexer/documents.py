"""Turn consumed Kafka messages into Elasticsearch bulk actions (index name, id, source[, version]).

Findings, dead letters and alerts are written with plain ``index`` (the same id always holds the same or
a newer document: replays overwrite). Incident records are the latest state of an incident, re-produced
on every change; a replayed or reordered older state must not overwrite a newer one, so they carry an
external version (``updated_at`` in microseconds since the epoch, ``version_type=external_gte``):
Elasticsearch accepts a version greater than or equal to the stored one and answers 409 otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from flowwatch.es_indices import alerts_index, dead_letters_index, findings_index, incidents_index

HEADER_DEAD_LETTER = "fw-dead-letter"


class BadRecord(ValueError):
    """A message on an output topic that the indexer cannot turn into a document."""


VERSION_TYPE = "external_gte"


@dataclass(frozen=True, slots=True)
class Action:
    """One bulk ``index`` action: where, the document as JSON bytes (passed through unchanged) and, for
    records that must not regress, an external version (``version_type=external_gte``)."""

    index: str
    id: str
    source: bytes
    version: int | None = None

    def ndjson(self) -> bytes:
        """The two NDJSON lines of this action in a bulk request body."""
        meta: dict[str, Any] = {"_index": self.index, "_id": self.id}
        if self.version is not None:
            meta["version"] = self.version
            meta["version_type"] = VERSION_TYPE
        return orjson.dumps({"index": meta}) + b"\n" + self.source + b"\n"

    def supersedes(self, other: Action) -> bool:
        """Whether this action should replace ``other`` (same index and id) in one batch: a versioned
        action wins when its version is not lower; otherwise the later action wins."""
        if self.version is None or other.version is None:
            return True
        return self.version >= other.version


def epoch_micros(value: str) -> int:
    """Microseconds since the Unix epoch of an ISO-8601 instant (naive = UTC), at least 0 (ES versions
    are non-negative). Raises ValueError for an unparsable value."""
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return max(0, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def finding_action(prefix: str, value: bytes) -> Action:
    """Bulk action for a finding message (value = Finding JSON). Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        occurred = datetime.fromisoformat(doc["occurred_at"])
        return Action(findings_index(prefix, occurred), doc["finding_id"], value)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"unreadable finding: {exc}") from exc


def dead_letter_action(prefix: str, headers: Any, partition: int, offset: int) -> Action:
    """Bulk action for a message of the dead-letter topic: the record travels in its headers; the
    message value (the original bytes) is not indexed. Raises BadRecord."""
    record = dict(headers or []).get(HEADER_DEAD_LETTER)
    if not isinstance(record, bytes | str):
        raise BadRecord("dead letter without the fw-dead-letter header")
    try:
        doc = orjson.loads(record)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"unreadable dead-letter header: {exc}") from exc
    doc["dlq_partition"] = partition
    doc["dlq_offset"] = offset
    return Action(dead_letters_index(prefix), doc["dead_letter_id"], orjson.dumps(doc))


def incident_action(prefix: str, value: bytes) -> Action:
    """Bulk action for an incident message (value = ``IncidentRecord`` JSON): id ``id``, external version
    ``updated_at`` in microseconds, so an older state never overwrites a newer one. Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        doc_id, version = doc["id"], epoch_micros(doc["updated_at"])
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("id is not a non-empty string")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"unreadable incident: {exc}") from exc
    return Action(incidents_index(prefix), doc_id, value, version)


def alert_action(prefix: str, value: bytes) -> Action:
    """Bulk action for an alert message (value = ``Alert`` JSON), by ``alert_id``. Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        doc_id = doc["alert_id"]
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("alert_id is not a non-empty string")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"unreadable alert: {exc}") from exc
    return Action(alerts_index(prefix), doc_id, value)
