"""Deterministic ids of derived records: a hash of the rule, the processor id and the source event id
(README, "Architecture").

Replays after a crash or a rebalance produce the same ids, so the indexer's writes are idempotent.
"""

from __future__ import annotations

import hashlib


def derived_id(rule: str, processor_id: str, event_id: str) -> str:
    """Return a 32-hex-character id for the record derived by ``rule`` from one event of one processor."""
    digest = hashlib.sha256(f"{rule}\x1f{processor_id}\x1f{event_id}".encode()).hexdigest()
    return digest[:32]


def finding_id(processor_id: str, event_id: str) -> str:
    """Id of the PI finding of a flow event."""
    return derived_id("pii-finding/v1", processor_id, event_id)


def dead_letter_id(raw: bytes) -> str:
    """Id of a dead letter: SHA-256 (hex) of the original message bytes."""
    return hashlib.sha256(raw).hexdigest()


def incident_doc_id(processor_id: str, incident_id: str) -> str:
    """Id of the aggregated incident record of one processor's ``incident_id``."""
    return derived_id("incident/v1", processor_id, incident_id)


def alert_id(dedup_key: str) -> str:
    """Id of an alert: hash of its dedup key (raised once; a replay overwrites the same document)."""
    return hashlib.sha256(f"alert/v1\x1f{dedup_key}".encode()).hexdigest()[:32]
