"""Records of the incident pipeline, as served by ``/v1/incidents``
(README, "API"; docs/api.md).

- ``IncidentUpdate``: what the detector (from an incident event) or the API (marking an obligation done or
  waived) sends to the incident agent, on the ``incident-updates`` topic keyed by ``processor_id``. Persons
  appear only as keyed hashes (HMAC-SHA256 hex): raw PI never leaves the detector.
- ``IncidentRecord``: the aggregated state of one incident with its obligations, the regulator-report
  record and the notice to individuals; indexed by ``id``.

Alerts (deadline alerts of incidents, and the export agent's alerts) are ``flowwatch.alerts.Alert``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.models import IncidentStatus, IncidentType
from flowwatch.rules.incident_pack import Citation, ObligationId
from flowwatch.rules.obligations import Obligation

PersonKey = Annotated[str, Field(min_length=16, max_length=128)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IncidentUpdate(_Model):
    """One contribution to an incident. ``source``: ``event`` (an incident flow event, ``update_id`` = its
    ``event_id``) or ``api`` (an analyst marking an obligation, ``update_id`` unique per action).

    Every field is optional except the identity: updates arrive in any order and repeat (at-least-once), so
    the aggregate must be commutative and idempotent (see ``flowwatch.incidents.aggregate``).
    """

    processor_id: str
    processor_name: str | None = None
    incident_id: str
    update_id: str
    source: Literal["event", "api"]
    received_at: AwareDatetime
    occurred_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None
    type: IncidentType | None = None
    status: IncidentStatus | None = None
    harm_to_individuals: bool | None = None
    affected_subject_count: int | None = Field(default=None, ge=0, description="Declared by the platform.")
    record_count: int | None = Field(default=None, ge=0, description="Records in the event's dataset.")
    handling_completed_at: AwareDatetime | None = None
    cause: str | None = None
    measures_taken: str | None = None
    reported_at: AwareDatetime | None = None
    followup_reported_at: AwareDatetime | None = None
    notified_at: AwareDatetime | None = None
    supplementary_reported_at: AwareDatetime | None = None
    summary_reported_at: AwareDatetime | None = None
    vulnerability_reported_at: AwareDatetime | None = None
    security_defect: bool | None = Field(
        default=None, description="A defect or vulnerability endangering national security or the public "
        "interest (Decree 790 Art. 10), flagged by an analyst.")
    waivers: dict[ObligationId, str] = Field(default_factory=dict)
    regulator_required_notice: bool | None = None
    important_data: bool = False
    important_data_refs: list[str] = Field(default_factory=list)
    person_keys: list[PersonKey] = Field(default_factory=list, description="Keyed hashes of affected persons.")
    sensitive_person_keys: list[PersonKey] = Field(
        default_factory=list, description="Subset of person_keys whose sensitive PI (PIPL Art. 28) is involved."
    )
    entity_types: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    actor: str | None = Field(default=None, description="Who marked it (API key name) for source = api.")
    note: str | None = None


class TimelineEntry(_Model):
    """One thing that happened to an incident."""

    at: datetime
    what: str
    update_id: str | None = None
    actor: str | None = None


class RegulatorReport(_Model):
    """Contents of the report to the regulator (Draft Network Data Security Regs Art. 11 para 2(1): 涉及的数据
    数量、类型、可能的影响、已经或拟采取的处置措施) and of the follow-up report (para 2(2): 事件原因、危害后果、
    责任处理、改进措施). Fields the platform has not supplied are ``None`` and listed in ``missing``."""

    incident_id: str
    processor_id: str
    processor_name: str | None
    legal_basis: list[Citation]
    quantity_persons: int = Field(description="Distinct persons whose PI is involved (涉及的数据数量).")
    quantity_basis: Literal["counted", "declared"]
    quantity_records: int | None = Field(description="Records in the incident's datasets, when declared.")
    sensitive_persons: int
    data_types: list[str] = Field(description="PI entity types and PIPL categories involved (类型).")
    important_data: bool
    important_data_refs: list[str]
    possible_impact: str = Field(description="可能的影响, derived from the categories and counts.")
    measures: str | None = Field(description="已经或拟采取的处置措施 (measures_taken).")
    cause: str | None = Field(description="事件原因 (follow-up report).")
    consequences: str | None = Field(description="危害后果 (follow-up report).")
    accountability: str | None = Field(description="责任处理 (follow-up report): to be supplied by the processor.")
    improvements: str | None = Field(description="改进措施 (follow-up report): to be supplied by the processor.")
    missing: list[str]


class IndividualNotice(_Model):
    """Contents of the notice to individuals (PIPL Art. 57 para 1: 发生或者可能发生个人信息泄露、篡改、丢失
    的信息种类、原因和可能造成的危害；已采取的补救措施和个人可以采取的减轻危害的措施；个人信息处理者的联系方式)."""

    incident_id: str
    legal_basis: list[Citation]
    information_types: list[str]
    cause: str | None
    possible_harm: str
    remedial_measures: str | None
    what_individuals_can_do: list[str]
    processor_contact: str | None
    missing: list[str]


class AppliedPack(_Model):
    """A rule pack applied to an incident: ``kind`` law (binding) or policy, its source and why it applies."""

    id: str
    kind: Literal["law", "policy"]
    title: str
    source_document: str
    window: str
    reason: str


class IncidentRecord(_Model):
    """The aggregated incident (index ``<prefix>-incidents``, document id ``id``)."""

    id: str = Field(description="Deterministic: flowwatch.ids.incident_doc_id(processor_id, incident_id).")
    incident_id: str
    processor_id: str
    processor_name: str | None
    type: IncidentType | None
    status: IncidentStatus | None
    occurred_at: datetime | None
    detected_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime
    persons: int = Field(description="Distinct affected persons (counted), else declared.")
    persons_basis: Literal["counted", "declared"]
    persons_counted: int
    persons_declared: int | None
    sensitive_persons: int
    important_data: bool
    harm_to_individuals: bool
    entity_types: list[str]
    categories: list[str]
    updates: int = Field(description="Distinct updates aggregated (duplicates not counted).")
    pack_id: str | None = Field(description="The first applicable pack (law before policy); see pack_ids.")
    pack_ids: list[str] = Field(default_factory=list, description="Every pack applied: law first, then policy.")
    packs: list[AppliedPack] = Field(default_factory=list, description="Each applied pack, its kind and why.")
    grade: str | None = Field(default=None, description="Grade under the 2025 Reporting Measures' guide.")
    grade_reason: str | None = None
    obligations: list[Obligation]
    report: RegulatorReport | None
    notice: IndividualNotice | None
    timeline: list[TimelineEntry]
    alerts_raised: list[str] = Field(description="Dedup keys of the alerts already raised (each once).")
    retention: str | None = Field(default=None, description="How long the record is kept and why (Decree 790 "
                                  "Art. 12 and the longest related record).")
