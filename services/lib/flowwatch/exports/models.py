"""What the detector tells the egress agent about one flow that leaves mainland China (or might)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.incidents.models import PersonKey
from flowwatch.models import Activity, ExemptionClaim


class ExportUpdate(BaseModel):
    """One export flow (topic ``export-updates``, key ``processor_id``); persons as keyed hashes only.

    ``is_export``: True when the destination is outside mainland China (HK, MO, TW included) or a remote
    access comes from outside; None when the destination is unknown (its own alert when PI is involved).
    ``persons_in_flow``: distinct persons of this flow (keys, else declared records), for exemption checks.
    ``sensitive_declared``: sensitive PIPL categories the platform declares for the dataset
    (``dataset.declared_pi_types``); when set, every person of the flow is in ``sensitive_person_keys``
    (counted as sensitive on the platform's declaration, even where the sample records show none).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    processor_id: str
    processor_name: str | None = None
    event_id: str
    occurred_at: AwareDatetime
    activity: Activity | None = None
    recipient: str | None = None
    recipient_type: str | None = None
    purpose: str | None = None
    destination_region: str | None = None
    destination_city: str | None = None
    resolution_basis: str = Field(description="declared | ip | host | unknown")
    is_export: bool | None
    export_reason: str
    onward_regions: list[str] = Field(default_factory=list)
    exemption_claim: ExemptionClaim | None = None
    important_data: bool = False
    important_data_refs: list[str] = Field(default_factory=list)
    has_pi: bool
    persons_in_flow: int = Field(ge=0)
    person_keys: list[PersonKey] = Field(default_factory=list)
    sensitive_person_keys: list[PersonKey] = Field(default_factory=list)
    sensitive_declared: list[str] = Field(default_factory=list)
    entity_types: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)


class ThresholdProgress(BaseModel):
    """Progress of a counter towards one threshold of the pack (units: persons)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="e.g. standard_contract_persons, assessment_persons, assessment_sensitive_persons")
    counter: str = Field(description="persons | sensitive_persons")
    threshold: int
    value: int
    reached: bool
    article: str


class LedgerRecord(BaseModel):
    """The export ledger of one processor in one counting window (topic ``export-ledger``, index
    ``<prefix>-ledger``, document id ``id``): counts, the mechanism the law requires now and what is on file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    processor_id: str
    processor_name: str | None = None
    pack_id: str
    window_id: str
    window_start: AwareDatetime
    persons: int = Field(description="Distinct persons whose PI left in the window.")
    sensitive_persons: int = Field(description="Distinct persons whose sensitive PI left in the window.")
    sensitive_basis: str = Field(default="counted", description="counted (found by the scan) | declared (some "
                                 "persons counted as sensitive because the platform declares a sensitive category)")
    declared_sensitive_categories: list[str] = Field(default_factory=list)
    flows: int
    required_mechanism: str
    required_reasons: list[str]
    mechanisms_on_file: list[str]
    thresholds: list[ThresholdProgress]
    retention: str | None = Field(default=None, description="How long the record is kept and why (Decree 790 "
                                  "Art. 12: records of provision kept >= 3 years).")
    updated_at: AwareDatetime
