"""Aggregation of incident updates per incident: commutative and idempotent, so updates may arrive in any
order and any number of times (at-least-once delivery, replays after a crash).

Distinct persons are counted exactly with a ``PersonStore`` (a Faust table in the detector, a set in tests)
holding keyed hashes only. A person counts as sensitive when any update flagged their sensitive PI
(PIPL Art. 28). Declared counts (``affected_subject_count``) are kept apart and used only as a flagged
fallback when no person could be counted: the thresholds of the incident packs count persons (人), not records
(docs/law.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from flowwatch.incidents.models import IncidentUpdate, TimelineEntry
from flowwatch.models import IncidentStatus, IncidentType
from flowwatch.rules.incident_pack import ObligationId
from flowwatch.rules.obligations import IncidentFacts

MAX_TIMELINE = 200
"""Timeline entries kept per incident (the oldest are kept: they tell how it started)."""


class ProcessorFlags(Protocol):
    """What the incident obligations read from a processor's registry profile (``ProcessorProfile``)."""

    @property
    def ciio(self) -> bool:
        """Critical information infrastructure operator."""
        ...

    @property
    def central_state_organ(self) -> bool:
        """Central or state organ, or one of its directly affiliated units."""
        ...


class PersonStore(Protocol):
    """Set of keyed person hashes per incident. ``add`` returns True when the key was new."""

    def add(self, key: str) -> bool:
        """Add ``key`` (already namespaced by processor and incident); True when it was not there."""
        ...


def add_all(persons: PersonStore, keys: list[str]) -> list[bool]:
    """``persons.add`` for each of ``keys``, in one call when the store has ``add_many`` (the detector's
    batched store does); for each key, True when it was new."""
    add_many = getattr(persons, "add_many", None)
    if add_many is not None:
        return list(add_many(keys))
    return [persons.add(key) for key in keys]


class SetPersonStore:
    """In-memory ``PersonStore`` (tests, tools)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def add(self, key: str) -> bool:
        """Add ``key``; True when new."""
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


class IncidentState(BaseModel):
    """Aggregated facts of one incident (the Faust table value, JSON-serialisable).

    Merge rules (each commutative): instants of occurrence/detection/fulfilment take the earliest value
    (the conservative clock start; the first fulfilment); ``handling_completed_at`` the latest; flags are
    OR-ed; texts and type take the value of the latest update by ``received_at`` (ties: larger update id);
    declared counts take the maximum; sets are unions. Each ``update_id`` is applied once.
    """

    model_config = ConfigDict(extra="forbid")

    processor_id: str
    incident_id: str
    processor_name: str | None = None
    first_seen_at: datetime
    updated_at: datetime
    occurred_at: datetime | None = None
    detected_at: datetime | None = None
    type: IncidentType | None = None
    type_from: tuple[datetime, str] | None = None
    status: IncidentStatus | None = None
    harm_to_individuals: bool = False
    persons_counted: int = 0
    sensitive_persons: int = 0
    persons_declared: int | None = None
    records_declared: int = 0
    handling_completed_at: datetime | None = None
    cause: str | None = None
    cause_from: tuple[datetime, str] | None = None
    measures_taken: str | None = None
    measures_from: tuple[datetime, str] | None = None
    reported_at: datetime | None = None
    followup_reported_at: datetime | None = None
    notified_at: datetime | None = None
    supplementary_reported_at: datetime | None = None
    summary_reported_at: datetime | None = None
    vulnerability_reported_at: datetime | None = None
    cause_first_at: datetime | None = None
    measures_first_at: datetime | None = None
    security_defect: bool = False
    waivers: dict[ObligationId, str] = Field(default_factory=dict)
    regulator_required_notice: bool = False
    important_data: bool = False
    important_data_refs: list[str] = Field(default_factory=list)
    entity_types: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    update_ids: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    alerts_raised: list[str] = Field(default_factory=list)

    @classmethod
    def new(cls, update: IncidentUpdate) -> IncidentState:
        """An empty state for the incident of ``update``."""
        return cls(
            processor_id=update.processor_id,
            incident_id=update.incident_id,
            first_seen_at=update.received_at,
            updated_at=update.received_at,
        )

    @property
    def persons(self) -> int:
        """Distinct persons: counted when any could be counted, else the declared count (flagged)."""
        return self.persons_counted if self.persons_counted or self.persons_declared is None else self.persons_declared

    @property
    def persons_basis(self) -> Literal["counted", "declared"]:
        """``counted`` (de-duplicated by Flowwatch) or ``declared`` (the platform's number, a fallback)."""
        return "declared" if not self.persons_counted and self.persons_declared is not None else "counted"

    def apply(self, update: IncidentUpdate, persons: PersonStore) -> bool:
        """Merge ``update`` into the state; False (and nothing changes) when it was applied before.

        Raises ValueError when the update belongs to another incident.
        """
        if (update.processor_id, update.incident_id) != (self.processor_id, self.incident_id):
            raise ValueError("update of another incident")
        if update.update_id in self.update_ids:
            return False
        self.update_ids.append(update.update_id)
        self.processor_name = update.processor_name or self.processor_name
        self.first_seen_at = min(self.first_seen_at, update.received_at)
        self.updated_at = max(self.updated_at, update.received_at)
        self.occurred_at = _earliest(self.occurred_at, update.occurred_at)
        self.detected_at = _earliest(self.detected_at, update.detected_at)
        self.handling_completed_at = _latest(self.handling_completed_at, update.handling_completed_at)
        self.reported_at = _earliest(self.reported_at, update.reported_at)
        self.followup_reported_at = _earliest(self.followup_reported_at, update.followup_reported_at)
        self.notified_at = _earliest(self.notified_at, update.notified_at)
        for name in ("supplementary_reported_at", "summary_reported_at", "vulnerability_reported_at"):
            setattr(self, name, _earliest(getattr(self, name), getattr(update, name)))
        if update.cause:
            self.cause_first_at = _earliest(self.cause_first_at, update.received_at)
        if update.measures_taken:
            self.measures_first_at = _earliest(self.measures_first_at, update.received_at)
        self.security_defect = self.security_defect or bool(update.security_defect)
        stamp = (update.received_at, update.update_id)
        if update.type is not None and (self.type_from is None or stamp > self.type_from):
            self.type, self.type_from = update.type, stamp
        if update.cause and (self.cause_from is None or stamp > self.cause_from):
            self.cause, self.cause_from = update.cause, stamp
        if update.measures_taken and (self.measures_from is None or stamp > self.measures_from):
            self.measures_taken, self.measures_from = update.measures_taken, stamp
        if update.status is IncidentStatus.OCCURRED or (update.status and self.status is None):
            self.status = update.status
        self.harm_to_individuals = self.harm_to_individuals or bool(update.harm_to_individuals)
        self.regulator_required_notice = self.regulator_required_notice or bool(update.regulator_required_notice)
        self.important_data = self.important_data or update.important_data
        if update.affected_subject_count is not None:
            self.persons_declared = max(self.persons_declared or 0, update.affected_subject_count)
        if update.source == "event" and update.record_count:
            self.records_declared += update.record_count
        for obligation, reason in update.waivers.items():
            self.waivers[obligation] = reason
        self.important_data_refs = sorted({*self.important_data_refs, *update.important_data_refs})
        self.entity_types = sorted({*self.entity_types, *update.entity_types})
        self.categories = sorted({*self.categories, *update.categories})
        prefix = f"{self.processor_id}\x1f{self.incident_id}\x1f"
        sensitive = set(update.sensitive_person_keys)
        everyone = list(dict.fromkeys([*update.person_keys, *update.sensitive_person_keys]))
        self.persons_counted += sum(add_all(persons, [prefix + "p\x1f" + key for key in everyone]))
        self.sensitive_persons += sum(add_all(persons, [prefix + "s\x1f" + k for k in everyone if k in sensitive]))
        self._log(update)
        return True

    def _log(self, update: IncidentUpdate) -> None:
        what = _describe(update)
        entry = TimelineEntry(at=update.received_at, what=what, update_id=update.update_id, actor=update.actor)
        self.timeline = sorted([*self.timeline, entry], key=lambda e: (e.at, e.update_id or ""))[:MAX_TIMELINE]

    @property
    def report_incomplete(self) -> bool:
        """The report to the regulator was made before the cause or the measures taken were known to
        Flowwatch (2025 Reporting Measures Art. 7 para 2: those items are then supplemented). Order-independent:
        compares ``reported_at`` with the first instant each item arrived."""
        if self.reported_at is None:
            return False
        return any(first is None or first > self.reported_at for first in (self.cause_first_at, self.measures_first_at))

    def facts(self, profile: ProcessorFlags | None = None) -> IncidentFacts | None:
        """The facts the obligations are evaluated on, or None while occurrence or detection is unknown
        (only API marks arrived so far). ``profile``: the processor's registry flags (CII operator, central
        or state organ); ``None`` when the processor has no profile."""
        if self.occurred_at is None:
            return None
        return IncidentFacts(
            type=str(self.type) if self.type else None,
            supplementary_reported_at=self.supplementary_reported_at,
            summary_reported_at=self.summary_reported_at,
            vulnerability_reported_at=self.vulnerability_reported_at,
            report_incomplete=self.report_incomplete,
            security_defect=self.security_defect,
            cii_operator=profile.ciio if profile else None,
            central_state_organ=profile.central_state_organ if profile else None,
            incident_id=self.incident_id,
            occurred_at=self.occurred_at,
            detected_at=self.detected_at or self.first_seen_at,
            persons=self.persons,
            persons_basis=self.persons_basis,
            important_data=self.important_data,
            harm_to_individuals=self.harm_to_individuals,
            handling_completed_at=self.handling_completed_at,
            reported_at=self.reported_at,
            followup_reported_at=self.followup_reported_at,
            notified_at=self.notified_at,
            waivers=self.waivers,
            regulator_required_notice=self.regulator_required_notice,
        )


def _describe(update: IncidentUpdate) -> str:
    """One timeline line for an update (counts and marks, never PI)."""
    if update.source == "api":
        parts = [f"{field} set" for field in ("reported_at", "followup_reported_at", "notified_at",
                                              "supplementary_reported_at", "summary_reported_at",
                                              "vulnerability_reported_at")
                 if getattr(update, field) is not None]
        if update.security_defect:
            parts.append("flagged as a defect endangering national security or the public interest")
        parts += [f"{ob} waived: {reason}" for ob, reason in update.waivers.items()]
        return "; ".join(parts) or "marked"
    persons = len(set(update.person_keys) | set(update.sensitive_person_keys))
    text = f"incident event: {persons} person keys"
    if update.handling_completed_at:
        text += ", handling completed"
    return text
