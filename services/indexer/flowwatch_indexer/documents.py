"""Turn consumed Kafka messages into Elasticsearch bulk actions (index name, id, source)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from flowwatch.es_indices import dead_letters_index, findings_index

HEADER_DEAD_LETTER = "fw-dead-letter"


class BadRecord(ValueError):
    """A message on an output topic that the indexer cannot turn into a document."""


@dataclass(frozen=True, slots=True)
class Action:
    """One bulk ``index`` action: where, and the document as JSON bytes (passed through unchanged)."""

    index: str
    id: str
    source: bytes

    def ndjson(self) -> bytes:
        """The two NDJSON lines of this action in a bulk request body."""
        return orjson.dumps({"index": {"_index": self.index, "_id": self.id}}) + b"\n" + self.source + b"\n"


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
