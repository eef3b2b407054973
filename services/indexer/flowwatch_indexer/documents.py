"""Turn consumed Kafka messages into Elasticsearch bulk actions (index name, id, source[, version]).

Findings and dead letters are written with plain ``index`` (the same id always holds the same document:
replays overwrite). Alerts fold (issue 6): one document per dedup key in the weekly index of its first
occurrence; an occurrence is an ``update`` whose script raises ``count`` to the message's count (never
lowers it: a replayed or reordered older occurrence is a no-op), takes the latest ``last_raised_at``,
title and message, reopens a ``resolved`` alert, and keeps every triage field; the first occurrence is the
upsert. Incident records are the latest state of an incident, re-produced
on every change; a replayed or reordered older state must not overwrite a newer one, so they carry an
external version (``updated_at`` in microseconds since the epoch, ``version_type=external_gte``):
Elasticsearch accepts a version greater than or equal to the stored one and answers 409 otherwise.
Export ledger records (issue 5) are versioned the same way.

The processor registry is a compacted topic whose key is the document id (a JSON string: the processor id
or ``RESTRICTIONS_KEY``): the last record per key wins, as in the detector's global table, so registry
documents are plain ``index`` actions by that key, and a tombstone (null value) deletes the document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from flowwatch.es_indices import (
    FindingsPartition,
    alerts_index,
    dead_letters_index,
    findings_index,
    incidents_index,
    ledger_index,
    registry_index,
)
from flowwatch.registry.models import RESTRICTIONS_KEY
from flowwatch.stored_form import FINDING, INCIDENT, PackSpec, pack
from flowwatch.wire import HEADER_DEAD_LETTER, HISTORY_KEPT


class BadRecord(ValueError):
    """A message on an output topic that the indexer cannot turn into a document."""


VERSION_TYPE = "external_gte"
FOLD_RETRIES = 5
"""Retries of an alert fold when a triage write changed the document meanwhile."""
FOLD_SCRIPT = f"""
if (params.count <= ctx._source.count) {{ ctx.op = 'noop'; }} else {{
  ctx._source.count = params.count;
  ctx._source.last_raised_at = params.last_raised_at;
  ctx._source.title = params.title;
  ctx._source.message = params.message;
  ctx._source.severity = params.severity;
  if (!ctx._source.containsKey('history') || ctx._source.history == null) {{ ctx._source.history = []; }}
  if (ctx._source.status == 'resolved') {{
    ctx._source.status = 'open';
    ctx._source.status_reason = params.entry.reason;
    ctx._source.updated_at = params.last_raised_at;
    ctx._source.history.add(params.entry);
  }}
  while (ctx._source.history.size() > {HISTORY_KEPT}) {{ ctx._source.history.remove(0); }}
}}
"""
"""Painless script folding an alert occurrence into the stored alert (see the module doc)."""


@dataclass(frozen=True, slots=True)
class Action:
    """One bulk action: ``index`` (the document as JSON bytes, and, for records
    that must not regress, an external version with ``version_type=external_gte``) or ``delete``."""

    index: str
    id: str
    source: bytes
    version: int | None = None
    op: Literal["index", "delete", "fold"] = "index"

    def ndjson(self) -> bytes:
        """The NDJSON lines of this action in a bulk request body (two for ``index`` and ``fold``, one for
        ``delete``). For ``fold`` the version is the alert's occurrence count (not sent: see FOLD_SCRIPT)."""
        meta: dict[str, Any] = {"_index": self.index, "_id": self.id}
        if self.op == "fold":
            meta["retry_on_conflict"] = FOLD_RETRIES
            return orjson.dumps({"update": meta}) + b"\n" + self.source + b"\n"
        if self.version is not None:
            meta["version"] = self.version
            meta["version_type"] = VERSION_TYPE
        if self.op == "delete":
            return orjson.dumps({"delete": meta}) + b"\n"
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


def finding_action(prefix: str, value: bytes, partition: FindingsPartition = "hour") -> Action:
    """Bulk action for a finding message (value = Finding JSON) into its hourly or daily index, stored as
    ``stored_form.FINDING`` says. Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        occurred = datetime.fromisoformat(doc["occurred_at"])
        return Action(findings_index(prefix, occurred, partition), doc["finding_id"], orjson.dumps(pack(doc, FINDING)))
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


def _versioned_action(index: str, value: bytes, what: str, spec: PackSpec | None = None) -> Action:
    """Index action by the record's ``id``, external version ``updated_at`` in microseconds; the document is
    stored as ``spec`` says (``stored_form``), else as it came. Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        doc_id, version = doc["id"], epoch_micros(doc["updated_at"])
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("id is not a non-empty string")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"unreadable {what}: {exc}") from exc
    return Action(index, doc_id, value if spec is None else orjson.dumps(pack(doc, spec)), version)


def incident_action(prefix: str, value: bytes) -> Action:
    """Bulk action for an incident message (value = ``IncidentRecord`` JSON): id ``id``, external version
    ``updated_at`` in microseconds, so an older state never overwrites a newer one; stored as
    ``stored_form.INCIDENT`` says. Raises BadRecord."""
    return _versioned_action(incidents_index(prefix), value, "incident", INCIDENT)


def ledger_action(prefix: str, value: bytes) -> Action:
    """Bulk action for an export ledger message (value = ``LedgerRecord`` JSON): id ``id``, external
    version ``updated_at`` in microseconds (a replayed older count never overwrites a newer one). Raises
    BadRecord."""
    return _versioned_action(ledger_index(prefix), value, "ledger record")


def registry_key(key: bytes | None) -> str:
    """The registry key of a ``processor-registry`` message key (a JSON string, e.g. ``b'"p-bank"'``).
    Raises BadRecord."""
    try:
        decoded = orjson.loads(key or b"")
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"registry key is not JSON: {key!r}") from exc
    if not isinstance(decoded, str) or not decoded:
        raise BadRecord(f"registry key is not a non-empty JSON string: {key!r}")
    return decoded


def registry_action(prefix: str, key: bytes | None, value: bytes | None) -> Action:
    """Bulk action for a ``processor-registry`` message: document id = the decoded key; a tombstone (no
    value) deletes it. A ``RegistryEntry`` must name the processor of its key (else another tenant could
    read it); the restriction list must not name one. Raises BadRecord."""
    doc_id = registry_key(key)
    if value is None:
        return Action(registry_index(prefix), doc_id, b"", op="delete")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"unreadable registry record {doc_id!r}: {exc}") from exc
    if not isinstance(doc, dict):
        raise BadRecord(f"registry record {doc_id!r} is not a JSON object")
    expected = None if doc_id == RESTRICTIONS_KEY else doc_id
    if doc.get("processor_id") != expected:
        raise BadRecord(f"registry record under key {doc_id!r} names processor {doc.get('processor_id')!r}")
    return Action(registry_index(prefix), doc_id, value)


def alert_action(prefix: str, value: bytes) -> Action:
    """Bulk ``fold`` action for an alert occurrence (value = ``Alert`` JSON with ``count`` = the agent's
    occurrence count and ``raised_at`` = the first occurrence), by ``alert_id`` in the weekly index of
    ``raised_at``. Raises BadRecord."""
    try:
        doc = orjson.loads(value)
        doc_id = doc["alert_id"]
        if not isinstance(doc_id, str) or not doc_id:
            raise ValueError("alert_id is not a non-empty string")
        first = datetime.fromisoformat(doc["raised_at"])
        if first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        count = int(doc.get("count") or 1)
        last = doc.get("last_raised_at") or doc["raised_at"]
        params = {
            "count": count, "last_raised_at": last, "title": doc["title"], "message": doc["message"],
            "severity": doc["severity"],
            "entry": {"at": last, "actor": "flowwatch", "role": "system", "action": "reopened_by_occurrence",
                      "reason": f"occurred again (occurrence {count})"},
        }  # fmt: skip
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadRecord(f"unreadable alert: {exc}") from exc
    body = {"script": {"source": FOLD_SCRIPT, "lang": "painless", "params": params}, "upsert": doc}
    return Action(alerts_index(prefix, first), doc_id, orjson.dumps(body), version=count, op="fold")
