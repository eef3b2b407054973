"""Elasticsearch indices of Flowwatch: names, index templates and the routing of a document to its index.

Findings go to hourly (default) or daily indices by ``occurred_at`` (``<prefix>-findings-YYYY.MM.DD.HH`` or
``<prefix>-findings-YYYY.MM.DD``, UTC; ``FLOWWATCH_FINDINGS_PARTITION``) and alerts to
weekly indices by their first occurrence (``<prefix>-alerts-GGGG.wWW``, ISO week): a document always lands in the
same index, so writing by deterministic id stays idempotent, retention can drop whole partitions, and the
query service can answer a newest-first page from the newest partitions only (issue 6; docs/api.md).
Dead letters, API keys, incidents, the ledger, the registry and the audit log have one index each.

On a real Elasticsearch cluster, findings indices are daily (the Helm chart, compose and ``flowwatch up --external``
set ``day``). ``flowwatch.cluster`` binds them to an ILM policy that deletes an index once its newest record
has been kept for the legal minimum. Hourly indices are only for the embedded engine, which scans every document of
the indices a search names. On Elasticsearch they would only multiply shards (~720 a month). Rollover aliases and
data streams are not used: a replayed finding must land in the index that already holds its id, and after a
rollover the write alias points elsewhere (docs/deployment.md).

Incidents and alerts (issue 4) map the fields the API filters and sorts on; the big descriptive parts
(report, notice, timeline, citations, obligation texts) stay in ``_source`` but are not indexed.

Cross-border exports (issue 5): the export ledger (``<prefix>-ledger``, one document per processor and
counting window, external version ``updated_at``) and the processor registry (``<prefix>-registry``, one
document per key of the compacted ``processor-registry`` topic: a ``RegistryEntry`` per processor id and the
``RestrictionList`` under ``RESTRICTIONS_KEY``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import Elasticsearch

KW = {"type": "keyword"}
DATE = {"type": "date"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
LONG = {"type": "long"}
STORED = {"type": "object", "enabled": False}
"""An object kept in ``_source`` only: not parsed, not indexed, not searchable."""
STORED_TEXT = {"type": "keyword", "index": False, "doc_values": False}
"""A string (or list of strings) kept in ``_source`` only: neither indexed nor in doc values."""


def findings_pattern(prefix: str) -> str:
    """Index pattern that covers every findings index."""
    return f"{prefix}-findings-*"


FindingsPartition = Literal["hour", "day"]
"""Time span of one findings index (setting ``FLOWWATCH_FINDINGS_PARTITION``)."""
FINDINGS_PARTITION_FORMAT: dict[str, str] = {"hour": "%Y.%m.%d.%H", "day": "%Y.%m.%d"}


def findings_index(prefix: str, occurred_at: datetime, partition: FindingsPartition = "hour") -> str:
    """Findings index of an event that occurred at ``occurred_at``: ``<prefix>-findings-YYYY.MM.DD.HH`` (UTC
    hour, the default) or ``<prefix>-findings-YYYY.MM.DD`` (UTC day).

    Hourly is the default for the embedded engine, which scans every document of the indices a search
    names (docs/engines.md): at 1,000,000 findings over 90 days a day holds ~11,000 findings (~80–120 ms per
    scan), an hour ~460. On a real Elasticsearch cluster use ``day`` (the Helm chart does): hourly indices
    would mean ~720 shards a month. The query service reads both forms (``flowwatch_api.partitions``).
    """
    return f"{prefix}-findings-{occurred_at.astimezone(UTC).strftime(FINDINGS_PARTITION_FORMAT[partition])}"


def dead_letters_index(prefix: str) -> str:
    """Index of dead-letter records."""
    return f"{prefix}-deadletters"


def api_keys_index(prefix: str) -> str:
    """Index of API keys (hashes only)."""
    return f"{prefix}-apikeys"


def incidents_index(prefix: str) -> str:
    """Index of aggregated incident records (document id = ``IncidentRecord.id``)."""
    return f"{prefix}-incidents"


def alerts_pattern(prefix: str) -> str:
    """Index pattern that covers every alerts index."""
    return f"{prefix}-alerts-*"


def alerts_index(prefix: str, raised_at: datetime) -> str:
    """Weekly alerts index of an alert first raised at ``raised_at``: ``<prefix>-alerts-GGGG.wWW``, the ISO 8601
    year and week of the UTC date (document id = ``Alert.alert_id``; the first occurrence fixes the index,
    later ones fold into it). Weekly, not monthly: at 100,000 alerts a year a week holds ~2,000, which the
    embedded engine scans in ~20 ms for the alert queue (docs/api.md); 52 indices a year suit a cluster too."""
    iso = raised_at.astimezone(UTC).isocalendar()
    return f"{prefix}-alerts-{iso.year}.w{iso.week:02d}"


def audit_index(prefix: str) -> str:
    """Index of audit records (document id = ``AuditRecord.audit_id``)."""
    return f"{prefix}-audit"


def ledger_index(prefix: str) -> str:
    """Index of export ledger records (document id = ``LedgerRecord.id``)."""
    return f"{prefix}-ledger"


def registry_index(prefix: str) -> str:
    """Index of the processor registry (document id = the registry key: processor id or
    ``RESTRICTIONS_KEY``)."""
    return f"{prefix}-registry"


FINDING_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": KW,
        "finding_id": KW,
        "event_id": KW,
        "processor_id": KW,
        "processor_name": {"type": "text", "fields": {"raw": KW}},
        "kind": KW,
        "activity": KW,
        "occurred_at": DATE,
        "detected_at": DATE,
        "source_region": KW,
        "destination_region": KW,
        "entity_types": KW,
        "categories": KW,
        "sensitive": BOOL,
        # the per-entity detail, as JSON strings in _source only (flowwatch.stored_form): searches and
        # aggregations use entity_types / categories / sensitive. Indexed as objects it cost noida-db ~25 %
        # of its bulk throughput, as nested fields 1 + len(entities) documents per finding, and as disabled
        # objects 1.7x the memory and 1.6x the search time of strings (2026-11-21)
        "entity_counts_json": STORED_TEXT,
        "entities_json": STORED_TEXT,
        "distinct_subjects": INT,
        "subject_count_basis": KW,
        "record_count": INT,
        "text_chars": INT,
        "detector_version": KW,
    },
}

DEAD_LETTER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "schema_version": KW,
        "dead_letter_id": KW,
        "reason": KW,
        "error": {"type": "text"},
        "event_id": KW,
        "processor_id": KW,
        "size_bytes": INT,
        "source_topic": KW,
        "source_partition": INT,
        "source_offset": {"type": "long"},
        "dlq_topic": KW,
        "dlq_partition": INT,
        "dlq_offset": {"type": "long"},
        "received_at": DATE,
    },
}

API_KEY_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "key_hash": KW,
        "key_id": KW,
        "role": KW,
        "processor_id": KW,
        "name": KW,
        "created_at": DATE,
        "revoked_at": DATE,
    },
}


OBLIGATION_MAPPINGS: dict[str, Any] = {
    # nested: "an obligation that is pending and past due" must match within ONE obligation. Only what the
    # incident filters use is mapped; the rest of the obligation is one JSON string (stored_form.OBLIGATION)
    "type": "nested",
    "dynamic": "strict",
    "properties": {
        "id": KW,
        "status": KW,
        "due_at": DATE,
        "detail_json": STORED_TEXT,
    },
}

INCIDENT_MAPPINGS: dict[str, Any] = {
    # what the incident filters and sorts use, and the headline figures; the rest of the record (report,
    # notice, timeline, …) is one JSON string kept in _source only (stored_form.INCIDENT)
    "dynamic": "strict",
    "properties": {
        "id": KW,
        "incident_id": KW,
        "processor_id": KW,
        "processor_name": {"type": "text", "fields": {"raw": KW}},
        "type": KW,
        "status": KW,
        "occurred_at": DATE,
        "detected_at": DATE,
        "updated_at": DATE,
        "persons": LONG,
        "sensitive_persons": LONG,
        "important_data": BOOL,
        "obligations": OBLIGATION_MAPPINGS,
        "detail_json": STORED_TEXT,
    },
}

ALERT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "alert_id": KW,
        "dedup_key": KW,
        "type": KW,
        "severity": KW,
        "processor_id": KW,
        "incident_id": KW,
        "obligation": KW,
        "due_at": DATE,
        "rule_pack": KW,
        "legal_basis": STORED,
        # full-text search (``q``) runs over title and message
        "title": {"type": "text"},
        "message": {"type": "text"},
        "raised_at": DATE,
        "last_raised_at": DATE,
        "status": KW,
        "count": INT,
        "assignee": KW,
        "suppressed_until": DATE,
        "status_reason": STORED_TEXT,
        "updated_at": DATE,
        "history": STORED,
    },
}

AUDIT_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "audit_id": KW,
        "at": DATE,
        "actor": {"type": "object", "dynamic": "strict", "properties": {"key_id": KW, "name": KW, "role": KW}},
        "action": KW,
        "target_type": KW,
        "target_id": KW,
        "processor_id": KW,
        "reason": {"type": "text"},
        "details": STORED,
    },
}


THRESHOLD_MAPPINGS: dict[str, Any] = {
    # nested: "a threshold of this name that is reached" must match within ONE threshold
    "type": "nested",
    "dynamic": "strict",
    "properties": {
        "name": KW,
        "counter": KW,
        "threshold": LONG,
        "value": LONG,
        "reached": BOOL,
        "article": STORED_TEXT,
    },
}

LEDGER_MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": KW,
        "processor_id": KW,
        "processor_name": {"type": "text", "fields": {"raw": KW}},
        "pack_id": KW,
        "window_id": KW,
        "window_start": DATE,
        "persons": LONG,
        "sensitive_persons": LONG,
        "sensitive_basis": KW,
        "declared_sensitive_categories": KW,
        "flows": LONG,
        "required_mechanism": KW,
        "required_reasons": STORED_TEXT,
        "mechanisms_on_file": KW,
        "thresholds": THRESHOLD_MAPPINGS,
        "retention": STORED_TEXT,
        "updated_at": DATE,
    },
}

PROFILE_MAPPINGS: dict[str, Any] = {
    "type": "object",
    "dynamic": "strict",
    "properties": {
        "processor_id": KW,
        "ciio": BOOL,
        "central_state_organ": BOOL,
        "free_trade_zone": KW,
        "gba_city": KW,
        "processes_over_1m_persons": BOOL,
        "important_data_catalogue_refs": KW,
    },
}

FILED_MECHANISM_MAPPINGS: dict[str, Any] = {
    # nested: "a standard contract that expires before X" must match within ONE filing
    "type": "nested",
    "dynamic": "strict",
    "properties": {
        "id": KW,
        "type": KW,
        "scope_recipients": KW,
        "scope_regions": KW,
        "issued_on": DATE,
        "expires_on": DATE,
        "status": KW,
    },
}

REGISTRY_MAPPINGS: dict[str, Any] = {
    # one index for both record kinds of the registry topic: RegistryEntry (processor_id, profile,
    # mechanisms) and RestrictionList (recipients); updated_at / updated_by are common
    "dynamic": "strict",
    "properties": {
        "processor_id": KW,
        "profile": PROFILE_MAPPINGS,
        "mechanisms": FILED_MECHANISM_MAPPINGS,
        "recipients": STORED,
        "updated_at": DATE,
        "updated_by": KW,
    },
}


def templates(prefix: str) -> dict[str, dict[str, Any]]:
    """Index templates by name: ``{name: {"index_patterns": [...], "template": {...}, "priority": 100}}``,
    one shard each."""
    patterns_and_mappings: dict[str, tuple[str, dict[str, Any]]] = {
        "findings": (findings_pattern(prefix), FINDING_MAPPINGS),
        "deadletters": (dead_letters_index(prefix), DEAD_LETTER_MAPPINGS),
        "apikeys": (api_keys_index(prefix), API_KEY_MAPPINGS),
        "incidents": (incidents_index(prefix), INCIDENT_MAPPINGS),
        "alerts": (alerts_pattern(prefix), ALERT_MAPPINGS),
        "audit": (audit_index(prefix), AUDIT_MAPPINGS),
        "ledger": (ledger_index(prefix), LEDGER_MAPPINGS),
        "registry": (registry_index(prefix), REGISTRY_MAPPINGS),
    }
    return {
        f"{prefix}-{name}": {"index_patterns": [pattern],
                             "template": {"settings": {"number_of_shards": 1}, "mappings": mappings},
                             "priority": 100}
        for name, (pattern, mappings) in patterns_and_mappings.items()
    }


def ensure_templates(es: Elasticsearch, prefix: str) -> None:
    """Create or update every Flowwatch index template (idempotent). Raises elasticsearch errors."""
    for name, body in templates(prefix).items():
        es.indices.put_index_template(name=name, **body)
