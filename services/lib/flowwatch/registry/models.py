"""The processor registry: profiles and filed transfer mechanisms, plus the recipient restriction list.

Written through the API to the compacted topic ``processor-registry`` (key: the processor id as a JSON
string, or ``RESTRICTIONS_KEY``; value: the JSON of a ``RegistryEntry`` / ``RestrictionList``), which every
detector worker reads as a Faust global table. The last record per key wins (compaction).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from flowwatch.exports.rules import FiledMechanism, ProcessorProfile

RESTRICTIONS_KEY = "__restriction_list__"
"""Registry key of the list of restricted recipients (PIPL Art. 42: recipients to which providing PI is restricted
or prohibited)."""


class RegistryEntry(BaseModel):
    """One processor's profile and the transfer mechanisms it has on file (2024 Provisions Arts. 7–9)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    processor_id: str
    profile: ProcessorProfile
    mechanisms: list[FiledMechanism] = Field(default_factory=list)
    updated_at: datetime
    updated_by: str | None = None


class RestrictedRecipient(BaseModel):
    """A recipient exports to which raise an alert (a restriction or blocking list; PIPL Art. 42)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    reason: str | None = None
    source: str | None = Field(default=None, description="Where the restriction comes from (list, notice).")


class RestrictionList(BaseModel):
    """The whole restriction list (one registry record)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    recipients: list[RestrictedRecipient] = Field(default_factory=list)
    updated_at: datetime
    updated_by: str | None = None
