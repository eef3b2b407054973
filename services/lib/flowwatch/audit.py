"""Audit log: who did what, when and why, to which object (issue 6). One record per action, in
``<prefix>-audit`` (document id ``audit_id``), queryable through ``GET /v1/audit``.

Written by the query service for every write it accepts (alert triage, obligation marks, registry and
restriction-list changes) and by ``flowwatch keys create/revoke``. A record is written after the action
took effect, with ``refresh=wait_for`` so a following query sees it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, Field

from flowwatch.es_indices import audit_index, ensure_templates

TargetType = Literal[
    "alert", "incident", "processor", "restrictions", "api_key", "detection_config", "dead_letter", "notification_route"
]


class Actor(BaseModel):
    """Who acted: the API key's public id (or ``oidc:<subject>`` for a bearer token, ``cli`` for the
    command line), its name and role."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: str
    name: str | None = None
    role: str


class AuditRecord(BaseModel):
    """One audited action. ``details`` holds action-specific values (new assignee, suppression end…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audit_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    actor: Actor
    action: str = Field(description="e.g. alert.acknowledge, incident.obligation.done, processor.put, api_key.create")
    target_type: TargetType
    target_id: str
    processor_id: str | None = Field(default=None, description="Tenant the target belongs to (null: none).")
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


def write_audit(es: Elasticsearch, prefix: str, record: AuditRecord, ensure: bool = False) -> None:
    """Store ``record`` (``refresh=wait_for``). ``ensure`` first applies the index templates (for callers
    that may run before any service, like the CLI). Raises elasticsearch errors."""
    if ensure:
        ensure_templates(es, prefix)
    es.index(index=audit_index(prefix), id=record.audit_id, document=record.model_dump(mode="json"),
             refresh="wait_for")
