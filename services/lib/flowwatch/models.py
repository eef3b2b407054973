"""Pydantic models of the flow event (input contract v1) and of every output record.

The JSON Schemas in ``schemas/`` are generated from these models (``flowwatch schemas export``) and a
test checks the committed files equal the generated ones and that both accept and reject the same
documents. Field meanings are the field descriptions below (also in the schemas) and README, "The flow event
(v1)".
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1.0"
MAX_EVENT_BYTES = 1_000_000
"""Largest accepted flow event, in bytes (Kafka's default ``message.max.bytes``)."""
MAX_SUBJECT_KEYS = 10_000
"""Most subject keys in one event; a platform splits larger batches (README, "The flow event (v1)")."""

RegionCode = Annotated[
    str,
    Field(
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="ISO 3166-1 alpha-2 code, optionally with an ISO 3166-2 subdivision (CN-GD). "
        "For export purposes mainland China is CN; HK, MO, TW and every other code are outside it.",
    ),
]
Identifier = Annotated[str, Field(min_length=1, max_length=200)]


def _not_a_number(value: object) -> object:
    if isinstance(value, int | float):
        raise ValueError("expected an RFC 3339 date-time string, not a number")
    return value


TIMESTAMP_MIN = datetime(2000, 1, 1, tzinfo=UTC)
TIMESTAMP_MAX = datetime(2100, 1, 1, tzinfo=UTC)
"""Flow-event timestamps lie in [TIMESTAMP_MIN, TIMESTAMP_MAX): outside it a time is a platform's bug (a zero
value, a unit error), and near the ends of ``datetime``'s range converting it to another zone overflows. The
window is fixed, not relative to now, so a replay gets the same verdict years later."""


def _in_range(value: datetime) -> datetime:
    if not TIMESTAMP_MIN <= value < TIMESTAMP_MAX:  # aware comparison: no zone conversion, cannot overflow
        raise ValueError(f"out of range: must lie in [{TIMESTAMP_MIN:%Y-%m-%d}, {TIMESTAMP_MAX:%Y-%m-%d}) UTC")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_not_a_number), AfterValidator(_in_range)]
"""RFC 3339 date-time with an offset (a JSON string; epoch numbers, naive times and times outside
[TIMESTAMP_MIN, TIMESTAMP_MAX) are refused)."""
ScalarValue = str | int | float | bool | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventKind(StrEnum):
    """What a flow event reports."""

    TRANSFER = "transfer"
    INCIDENT = "incident"


class Activity(StrEnum):
    """Processing activity of the flow (PIPL Art. 4 para 2; Draft Regs Art. 73(2))."""

    PROVIDE = "provide"
    SHARE = "share"
    ENTRUST = "entrust"
    EXPORT = "export"
    REMOTE_ACCESS = "remote_access"
    STORE = "store"
    PUBLISH = "publish"
    DELETE = "delete"


class LegalBasis(StrEnum):
    """Lawful basis of processing: the grounds of PIPL Art. 13 para 1 (1)–(7)."""

    CONSENT = "consent"  # (1)
    CONTRACT_NECESSITY = "contract_necessity"  # (2), first half
    HR_MANAGEMENT = "hr_management"  # (2), second half
    LEGAL_DUTY = "legal_duty"  # (3)
    EMERGENCY = "emergency"  # (4)
    NEWS_REPORTING = "news_reporting"  # (5)
    DISCLOSED_INFORMATION = "disclosed_information"  # (6)
    OTHER_LEGAL_GROUND = "other_legal_ground"  # (7)


class ExemptionClaim(StrEnum):
    """Exemption from the export mechanisms claimed under the 2024 Provisions Arts. 3–6, or (from
    2025-01-01) Network Data Security Management Regulations (Decree 790) Art. 35(6): provision abroad needed
    to perform statutory duties or obligations."""

    ART3_TRADE_NO_PI = "art3_trade_no_pi"
    ART4_FOREIGN_ORIGIN_REEXPORT = "art4_foreign_origin_reexport"
    ART5_1_CONTRACT = "art5_1_contract"
    ART5_2_HR = "art5_2_hr"
    ART5_3_EMERGENCY = "art5_3_emergency"
    ART5_4_BELOW_100K = "art5_4_below_100k"
    ART6_FTZ_OUTSIDE_NEGATIVE_LIST = "art6_ftz_outside_negative_list"
    NDSR35_6_STATUTORY_DUTY = "ndsr35_6_statutory_duty"


class IncidentType(StrEnum):
    """Incident types of PIPL Art. 57, CSL Art. 42, DSL Art. 21 and the 2021 draft Regs Art. 11."""

    LEAK = "leak"
    TAMPER = "tamper"
    DESTROY = "destroy"
    LOSS = "loss"
    THEFT = "theft"
    ILLEGAL_USE = "illegal_use"
    UNAUTHORIZED_TRANSFER = "unauthorized_transfer"


class IncidentStatus(StrEnum):
    """PIPL Art. 57: an incident that 发生或者可能发生 (occurred or possible)."""

    OCCURRED = "occurred"
    POSSIBLE = "possible"


class Processor(_Strict):
    """The PI handler (个人信息处理者) that emits the event; the tenant."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
    name: str | None = Field(default=None, max_length=300)


class Source(_Strict):
    """Where the data comes from."""

    system: str | None = Field(default=None, max_length=300)
    region: RegionCode
    city: str | None = Field(default=None, max_length=100)


class Destination(_Strict):
    """Where the data goes. ``region`` absent: resolved offline from ``ip`` or ``host``."""

    recipient: str | None = Field(default=None, max_length=300)
    recipient_type: str | None = Field(default=None, max_length=100)
    region: RegionCode | None = None
    city: str | None = Field(default=None, max_length=100)
    host: str | None = Field(default=None, max_length=253)
    ip: str | None = Field(default=None, max_length=45)
    onward_regions: list[RegionCode] | None = None


class ImportantData(_Strict):
    """Reference to the important-data catalogue entry (2024 Provisions Art. 2)."""

    catalogue_ref: Identifier


class Dataset(_Strict):
    """The batch of data the flow carries. ``record_count`` in records (rows), not persons."""

    id: str | None = Field(default=None, max_length=200)
    record_count: Annotated[int, Field(ge=0)]
    important_data: ImportantData | None = None
    declared_pi_types: list[str] | None = None


class Subjects(_Strict):
    """Keyed hashes (HMAC-SHA256, hex) of the data subjects in this batch, for distinct-person counts."""

    keys: Annotated[list[Annotated[str, Field(min_length=16, max_length=128)]], Field(max_length=10_000)]
    scheme: Literal["hmac-sha256"]


class Incident(_Strict):
    """Incident details (when ``kind = incident``); see Draft Regs Art. 11 and PIPL Art. 57."""

    incident_id: Identifier
    type: IncidentType
    status: IncidentStatus
    detected_at: Timestamp
    harm_to_individuals: bool
    affected_subject_count: Annotated[int, Field(ge=0)] | None = None
    handling_completed_at: Timestamp | None = None
    cause: str | None = Field(default=None, max_length=5000)
    measures_taken: str | None = Field(default=None, max_length=5000)
    reported_at: Timestamp | None = Field(
        default=None, description="When the report to the regulator was made (Draft Regs Art. 11 para 2(1))."
    )
    followup_reported_at: Timestamp | None = Field(
        default=None, description="When the follow-up report was made (Draft Regs Art. 11 para 2(2))."
    )
    notified_at: Timestamp | None = Field(
        default=None, description="When affected individuals were notified (Draft Regs Art. 11 para 1; PIPL Art. 57)."
    )
    waivers: dict[Literal["notify_individuals"], Annotated[str, Field(min_length=1, max_length=2000)]] | None = Field(
        default=None,
        description="Obligation → reason it is not performed: notice may be skipped when measures effectively "
        "avoid harm (PIPL Art. 57 para 2).",
    )
    regulator_required_notice: bool | None = Field(
        default=None, description="The PI protection department required notice despite a waiver (PIPL Art. 57 para 2)."
    )
    security_defect: bool | None = Field(
        default=None,
        description="The incident stems from a defect or vulnerability of a network product or service that "
        "endangers national security or the public interest: report within 24 hours (Network Data Security "
        "Management Regulations, Decree 790, Art. 10). A judgement of the platform or an analyst.",
    )


class FlowEvent(_Strict):
    """One data-flow event (schema v1). Key on Kafka: ``processor.id``. At most 1 MB serialised.

    Raises ``pydantic.ValidationError`` when the document breaks the contract; ``kind = incident``
    requires the ``incident`` object.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "$id": "https://flowwatch.dev/schemas/flow-event.v1.json",
            "allOf": [
                {
                    "if": {"properties": {"kind": {"const": "incident"}}, "required": ["kind"]},
                    "then": {"required": ["incident"], "properties": {"incident": {"type": "object"}}},
                }
            ],
        },
    )

    schema_version: Literal["1.0"]
    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    kind: EventKind
    occurred_at: Timestamp
    emitted_at: Timestamp | None = None
    processor: Processor
    source: Source | None = None
    destination: Destination | None = None
    activity: Activity | None = None
    purpose: str | None = Field(default=None, max_length=1000)
    legal_basis: LegalBasis | None = None
    exemption_claim: ExemptionClaim | None = None
    dataset: Dataset | None = None
    subjects: Subjects | None = None
    records: list[dict[str, ScalarValue]] | None = None
    text: str | None = None
    incident: Incident | None = None
    attributes: dict[str, str] | None = Field(
        default=None, description="Free-form platform metadata (not scanned, not interpreted)."
    )

    @model_validator(mode="after")
    def _incident_required(self) -> FlowEvent:
        if self.kind is EventKind.INCIDENT and self.incident is None:
            raise ValueError("kind 'incident' requires the 'incident' object")
        return self


# ---------------------------------------------------------------------------------------------------
# Output records
# ---------------------------------------------------------------------------------------------------


class EntitySummary(_Strict):
    """What one entity type looks like in one event: counts, where, masked samples only."""

    type: str = Field(description="Canonical entity name (docs/detection.md, Entities), e.g. CN_RESIDENT_ID.")
    category: str = Field(description="PIPL category: general or a sensitive sub-type (PIPL Art. 28).")
    sensitive: bool
    count: Annotated[int, Field(ge=1, description="Occurrences in the event (records and text).")]
    fields: list[str] = Field(default_factory=list, description="Record fields holding it ('text' = free text).")
    masked_samples: list[str] = Field(default_factory=list, max_length=5)


class SubjectCountBasis(StrEnum):
    """Where ``distinct_subjects`` comes from: subject keys, identifiers in the records or the declared record count."""

    SUBJECT_KEYS = "subject_keys"
    IDENTIFIERS = "identifiers"
    DECLARED = "declared"  # dataset.record_count: declared, not de-duplicated
    NONE = "none"


class Finding(_Strict):
    """The PI finding of one flow event. Deterministic ``finding_id`` (see ``flowwatch.ids``).

    Holds masked values and keyed hashes only: raw PI never leaves the detector.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "https://flowwatch.dev/schemas/finding.v1.json"}
    )

    schema_version: Literal["1.0"] = "1.0"
    finding_id: str
    event_id: str
    processor_id: str
    processor_name: str | None = None
    kind: EventKind
    activity: Activity | None = None
    occurred_at: AwareDatetime
    detected_at: AwareDatetime
    source_region: str | None = None
    destination_region: str | None = None
    entity_types: list[str] = Field(description="Sorted distinct entity types found.")
    categories: list[str] = Field(description="Sorted distinct PIPL categories found.")
    sensitive: bool = Field(description="True when any sensitive PI (PIPL Art. 28) was found.")
    entity_counts: dict[str, int]
    entities: list[EntitySummary]
    distinct_subjects: Annotated[int, Field(ge=0, description="Distinct persons (see basis).")]
    subject_count_basis: SubjectCountBasis
    record_count: Annotated[int, Field(ge=0)]
    text_chars: Annotated[int, Field(ge=0, description="Characters of free text scanned.")]
    detector_version: str


class DeadLetter(_Strict):
    """An input that could not be processed. The original bytes stay on the dead-letter topic
    (``flow-events-dlq``, value = original bytes, reason in headers); this record points at them.

    ``dead_letter_id`` = SHA-256 of the original bytes, so a replay of the same bytes yields the same id.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"$id": "https://flowwatch.dev/schemas/dead-letter.v1.json"}
    )

    schema_version: Literal["1.0"] = "1.0"
    dead_letter_id: str
    reason: str = Field(description="Short machine-readable reason, e.g. invalid_json, schema_violation.")
    error: str = Field(description="Human-readable detail (first errors, truncated).")
    event_id: str | None = None
    processor_id: str | None = None
    size_bytes: Annotated[int, Field(ge=0)]
    source_topic: str
    source_partition: int
    source_offset: int
    dlq_topic: str
    dlq_partition: int | None = None
    dlq_offset: int | None = None
    received_at: AwareDatetime


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "finding.v1.json": Finding,
    "dead-letter.v1.json": DeadLetter,
}
INPUT_MODELS: dict[str, type[BaseModel]] = {"flow-event.v1.json": FlowEvent}


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``model`` as committed under ``schemas/``."""
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def utc_now() -> datetime:
    """Current time, timezone-aware UTC."""
    return datetime.now(UTC)
