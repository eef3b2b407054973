"""Alerts: one model for every rule alert, the incident agent's deadline alerts and the egress agent's
cross-border alerts alike, as served by ``/v1/alerts`` and folded by the indexer.

``Alert`` is indexed by ``alert_id`` (deterministic, the hash of ``dedup_key``: replays and restarts overwrite,
never duplicate); each carries its rule pack and its legal basis (the article, ``Citation``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from flowwatch.rules.incident_pack import Citation, ObligationId


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(StrEnum):
    """Alert severity."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


AlertStatus = Literal["open", "acknowledged", "resolved", "suppressed"]
TriageAction = Literal["acknowledge", "assign", "resolve", "suppress", "reopen", "reopened_by_occurrence"]


class TriageEntry(_Model):
    """One change of an alert's triage state: who (``actor``, ``role``), when (``at``), what (``action``)
    and why (``reason``), with the assignee / suppression end it set."""

    at: datetime
    actor: str
    role: str
    action: TriageAction
    reason: str | None = None
    assignee: str | None = None
    suppressed_until: datetime | None = None


class Alert(_Model):
    """A rule alert: one document per ``dedup_key`` (index ``<prefix>-alerts-GGGG.wWW``, ISO week of ``raised_at``,
    document id ``alert_id`` = hash of ``dedup_key``).

    Repeated occurrences fold into it: ``count`` (occurrences, ≥ 1), ``raised_at`` (the first),
    ``last_raised_at`` (the latest), ``title``/``message`` (of the latest). Triage (issue 6) sets ``status``,
    ``assignee``, ``suppressed_until``, ``status_reason``, ``updated_at`` and appends to ``history``.
    """

    alert_id: str
    dedup_key: str
    type: str = Field(description="e.g. obligation_due_soon, obligation_overdue, obligation_late_at_detection.")
    severity: Severity
    processor_id: str
    incident_id: str | None = None
    obligation: ObligationId | None = None
    due_at: datetime | None = None
    rule_pack: str
    legal_basis: Citation
    title: str
    message: str
    raised_at: datetime
    last_raised_at: datetime | None = Field(default=None, description="Latest occurrence (null: only one).")
    status: AlertStatus = "open"
    count: int = Field(default=1, ge=1, description="Occurrences folded into this alert.")
    assignee: str | None = None
    suppressed_until: datetime | None = Field(
        default=None, description="A suppression ends here (null: until lifted); after it the alert is open.")
    status_reason: str | None = None
    updated_at: datetime | None = None
    history: list[TriageEntry] = Field(default_factory=list, description="Latest triage entries, oldest first.")
