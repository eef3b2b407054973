"""Cross-border export rule packs: the YAML schema (pydantic, strict), the loader, date-effective selection
and the counting window.

A pack file holds one :class:`ExportRulePack`: the thresholds, triggers, exemptions, assessment validity and
renewal rule of one legal regime, each citing its article (docs/export-rules.md). Packs are data: a
new regime is a new YAML file with its own ``effective_from``, not a code change (docs/law.md, docs/export-rules.md).
Packaged packs live in ``export_packs/`` — kept out of ``packs/``, which the incident loader reads whole.

Counting windows (where the two conflict, the 2024 Provisions prevail: Art. 13; docs/export-rules.md):

- 2024 Provisions (促进和规范数据跨境流动规定) Arts. 5(4), 7, 8 — "自当年1月1日起": calendar year to date.
  ``counting_window.years_back = 0``; the window resets every 1 January (00:00 Asia/Shanghai).
- 2022 Assessment Measures (数据出境安全评估办法) Art. 4(3) — "自上年1月1日起": from 1 January of the
  previous year to now, a 12–24-month look-back. ``years_back = 1``. The window also moves every 1 January,
  but it **overlaps two calendar years**: a person exported on 2025-06-01 still counts in the window of an
  export on 2026-02-01 (window 2025-01-01 → now) and drops out on 2027-01-01.

How a ledger keyed by ``(processor, window_id(pack, occurred_at))`` handles both: keep, per processor and
per category (non-sensitive / sensitive), the **last calendar year (local) in which each person was
exported** (or one distinct-person set per calendar year). The count for a window is the number of persons
whose last export year is ``>= window_start(pack, t).year``, i.e. whose last export year is in
:func:`years_in_window`. For the 2024 pack that is the current year only (a plain reset); for the 2022 pack
the new window ``"cn_export_2022:2025-2026"`` must be seeded with the persons exported in 2025, not started
empty. :func:`year_in_window` is the test to apply per person. The window start is a legal fact of the
text, not of the pack's effective date: on 2024-03-22 the 2024 window counts exports since 2024-01-01, and
on 2022-09-01 the 2022 window counts exports since 2021-01-01.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from enum import StrEnum
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowwatch.models import ExemptionClaim
from flowwatch.rules.incident_pack import Citation
from flowwatch.rules.pack_files import PackError, load_pack_dirs

__all__ = [
    "AssessmentRule",
    "Citation",
    "CountingWindow",
    "ExemptionRule",
    "ExportRulePack",
    "GbaRule",
    "Mechanism",
    "Metric",
    "PackError",
    "RenewalRule",
    "TriggerRule",
    "VolumeThreshold",
    "export_pack_for",
    "load_export_packs",
    "window_id",
    "window_start",
    "year_in_window",
    "years_in_window",
]


class Mechanism(StrEnum):
    """Export transfer mechanism (PIPL Art. 38 para 1; 2024 Provisions Arts. 7–8; GBA Guideline Art. 2).

    ``none``: no mechanism needed (out of scope or exempt). ``gba_standard_contract``: the Mainland–Hong Kong
    standard contract of the GBA Guideline (粤港澳大湾区（内地、香港）个人信息跨境流动标准合同实施指引).
    """

    NONE = "none"
    STANDARD_CONTRACT = "standard_contract"
    CERTIFICATION = "certification"
    SECURITY_ASSESSMENT = "security_assessment"
    GBA_STANDARD_CONTRACT = "gba_standard_contract"


MECHANISM_RANK: dict[Mechanism, int] = {
    Mechanism.NONE: 0,
    Mechanism.STANDARD_CONTRACT: 1,
    Mechanism.CERTIFICATION: 1,
    Mechanism.GBA_STANDARD_CONTRACT: 1,
    Mechanism.SECURITY_ASSESSMENT: 2,
}
"""Strictness of a mechanism: a requirement is the strictest mechanism any rule triggers."""

Metric = Literal["persons", "sensitive_persons", "all_persons"]
"""What a volume threshold counts, always in **persons (人)**, distinct, cumulative over the counting window:
``persons`` — persons whose non-sensitive PI was exported (2024 Provisions "不含敏感个人信息");
``sensitive_persons`` — persons whose sensitive PI (PIPL Art. 28; all minors under 14) was exported;
``all_persons`` — persons whose PI of any kind was exported (Assessment Measures Art. 4(3) "10万人个人信息")."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CountingWindow(_Strict):
    """Cumulative counting window: from 1 January of the year ``years_back`` years before the local year of
    the export (0 = "自当年1月1日起", 1 = "自上年1月1日起") up to the export."""

    years_back: int = Field(ge=0, le=5)
    legal_basis: Citation


class VolumeThreshold(_Strict):
    """A cumulative-volume rule: ``metric >= at_least`` persons in the window requires ``requires``.

    ``at_least`` follows "N人以上" (以上 includes N: exactly N triggers); a band "不满 M" is expressed by the
    stricter rule at M, since the strictest triggered mechanism wins.
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    metric: Metric
    at_least: int = Field(ge=1)
    requires: Mechanism
    legal_basis: Citation

    @model_validator(mode="after")
    def _real_mechanism(self) -> VolumeThreshold:
        if self.requires in (Mechanism.NONE, Mechanism.GBA_STANDARD_CONTRACT):
            raise ValueError(f"a volume threshold cannot require '{self.requires}'")
        return self


class TriggerRule(_Strict):
    """A trigger independent of volume (important data, CIIO, processor size): the mechanism it requires."""

    requires: Mechanism
    legal_basis: Citation


class BelowThresholds(_Strict):
    """What PI export needs when no trigger and no volume threshold applies: ``none`` under the 2024
    Provisions Art. 5(4) (non-CIIO, <100,000 non-sensitive persons, no sensitive persons); a standard contract
    (or certification or assessment) under the 2022 regime (PIPL Art. 38 para 1)."""

    requires: Mechanism
    legal_basis: Citation


class ListedPurpose(_Strict):
    """A contract kind listed in 2024 Provisions Art. 5(1) (Chinese term) with matching words for purposes."""

    zh: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)


class ExemptionRule(_Strict):
    """One exemption the pack recognises (the ``ExemptionClaim`` code), with its conditions as data.

    ``important_data_excluded_by``: set → refused when the flow carries important data, citing this clause
    (Art. 5 para 2 "不包括重要数据"; Arts. 3 and 4 by their own wording).
    ``ciio_allowed``: whether a CIIO may rely on it (Art. 7 last para: Arts. 3, 4, 5(1)–(3), 6 — not 5(4)).
    ``below_persons``: only while cumulative non-sensitive persons stay below this number and no sensitive
    person was exported ("不满10万人", Art. 5(4)). ``listed_purposes``: the contract kinds of Art. 5(1).
    ``effective_from``: first local day the exemption exists (e.g. Decree 790 Art. 35(6): 2025-01-01);
    a claim for an earlier flow is refused.
    """

    code: ExemptionClaim
    legal_basis: Citation
    effective_from: date | None = None
    important_data_excluded_by: Citation | None = None
    ciio_allowed: bool = True
    below_persons: int | None = Field(default=None, ge=1)
    listed_purposes: list[ListedPurpose] = Field(default_factory=list)


class RenewalRule(_Strict):
    """Renewal of a security assessment, counted in PRC working days before expiry.

    ``mode``: ``reapply_before`` — re-apply no later than ``working_days`` before expiry (Assessment Measures
    Art. 14 para 2 "有效期届满60个工作日前"); ``extend_within`` — an extension may be applied for within the
    ``working_days`` before expiry (2024 Provisions Art. 9 "在有效期届满前60个工作日内").
    """

    working_days: int = Field(ge=1)
    mode: Literal["reapply_before", "extend_within"]
    legal_basis: Citation


class AssessmentRule(_Strict):
    """Validity of a security-assessment result, in years from the day it is issued; renewal rule."""

    validity_years: int = Field(ge=1)
    extension_years: int | None = Field(default=None, ge=1)
    legal_basis: Citation
    renewal: RenewalRule


class GbaPartner(_Strict):
    """One side of the GBA standard contract besides the 9 mainland cities: ``region`` (``HK`` or ``MO``),
    from when its guideline applies (local date, inclusive) and that guideline's citation."""

    region: Literal["HK", "MO"]
    effective_from: date
    legal_basis: Citation


class GbaRule(_Strict):
    """Whether and from when the GBA standard contract is available under this pack: Mainland–Hong Kong from
    ``effective_from`` (2023-12-10) and each of ``partners`` from its own date (Mainland–Macau from
    2024-09-10). Without ``partners``, Hong Kong only."""

    effective_from: date
    legal_basis: Citation
    partners: list[GbaPartner] = Field(default_factory=list)

    def partner_regions(self, on: date | None) -> set[str]:
        """The partner regions (``HK``, ``MO``) whose guideline applies on local date ``on`` (``None``: all)."""
        partners = self.partners or [GbaPartner(region="HK", effective_from=self.effective_from,
                                                legal_basis=self.legal_basis)]
        return {p.region for p in partners if on is None or on >= p.effective_from}

    def citation_for(self, region: str) -> Citation:
        """The guideline of the partner ``region`` (falls back to the pack's GBA citation)."""
        return next((p.legal_basis for p in self.partners if p.region == region), self.legal_basis)


class CertificationRule(_Strict):
    """Personal-information export certification (个人信息出境认证办法, CAC and SAMR, in force 2026-01-01):
    from ``effective_from`` a certificate counts only for a non-CIIO processor in the standard-contract band
    with no important data (Art. 3 conditions; splitting volumes to avoid an assessment is forbidden), and is
    valid ``validity_years`` from issue (a certificate filed without an expiry gets that one)."""

    effective_from: date
    validity_years: int = Field(ge=1)
    legal_basis: Citation
    conditions: list[str] = Field(default_factory=list)


class ExportRulePack(_Strict):
    """A date-effective cross-border export rule pack. ``effective_until`` is the last day (inclusive) it
    applies; dates are local dates in ``timezone``.

    ``exempted_flows_count_toward_totals`` (an open question the texts do not answer; docs/export-rules.md,
    "Decisions taken where the law is silent or unclear"):
    whether persons exported under an honoured exemption (Arts. 4, 5(1)–(3), 6) are added to the cumulative
    totals of Arts. 7 and 8. Default ``false``: an exempt flow is outside the mechanisms, so its persons are
    not counted. Set ``true`` for the conservative reading. Art. 5(4) flows always count (that exemption is
    itself defined by the totals).
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str = Field(min_length=1)
    source_document: str = Field(min_length=1)
    effective_from: date
    effective_until: date | None = None
    timezone: str = "Asia/Shanghai"
    counting_window: CountingWindow
    exempted_flows_count_toward_totals: bool = False
    scope: Citation
    important_data: TriggerRule
    ciio_any_pi: TriggerRule
    processor_over_1m_persons: TriggerRule | None = None
    volume_thresholds: list[VolumeThreshold] = Field(min_length=1)
    below_thresholds: BelowThresholds
    exemptions: list[ExemptionRule] = Field(default_factory=list)
    assessment: AssessmentRule
    gba_standard_contract: GbaRule | None = None
    certification: CertificationRule | None = None
    always: list[Citation] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ExportRulePack:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
        ids = [t.id for t in self.volume_thresholds]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate volume threshold ids in {ids}")
        codes = [e.code for e in self.exemptions]
        if len(codes) != len(set(codes)):
            raise ValueError(f"duplicate exemption codes in {codes}")
        if self.below_thresholds.requires is Mechanism.GBA_STANDARD_CONTRACT:
            raise ValueError("below_thresholds cannot require gba_standard_contract")
        ZoneInfo(self.timezone)  # raises for an unknown zone
        return self

    def applies_on(self, day: date) -> bool:
        """Whether ``day`` (a local date) lies in ``[effective_from, effective_until]``."""
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)

    def exemption(self, code: ExemptionClaim) -> ExemptionRule | None:
        """The pack's rule for an exemption code, or ``None`` when the pack does not recognise it."""
        return next((e for e in self.exemptions if e.code == code), None)

    def local_date(self, instant: datetime) -> date:
        """Local date of an aware instant in the pack's timezone. Raises ``ValueError`` for a naive one."""
        _require_aware(instant, "instant")
        return instant.astimezone(ZoneInfo(self.timezone)).date()


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _builtin_dir() -> Traversable:
    return resources.files("flowwatch.rules") / "export_packs"


def load_export_packs(
    directory: str | Path | Iterable[str | Path] | None = None, *, include_builtin: bool = True
) -> list[ExportRulePack]:
    """Load export rule packs, sorted by ``effective_from``.

    ``directory``: extra folder(s) of ``*.yaml`` packs, loaded in addition to the packaged ``export_packs/``
    folder (unless ``include_builtin=False``). Raises :class:`PackError` for an unreadable or invalid file
    (the message names the file and field), a missing directory, or two packs with the same ``id``.
    """
    return load_pack_dirs(_builtin_dir(), directory, include_builtin, ExportRulePack, "export rule pack")


def export_pack_for(occurred_at: datetime, packs: Iterable[ExportRulePack]) -> ExportRulePack:
    """The pack governing an export: among packs whose effective window contains the local date of
    ``occurred_at`` (in the pack's timezone, Asia/Shanghai by default), the one with the latest
    ``effective_from``. E.g. 2024-03-21 → Assessment Measures pack; 2024-03-22 → 2024 Provisions pack
    (2024 Provisions Art. 13: where earlier rules conflict, the Provisions apply).

    Raises ``ValueError`` for a naive ``occurred_at`` and :class:`LookupError` when no pack applies.
    """
    _require_aware(occurred_at, "occurred_at")
    candidates = [p for p in packs if p.applies_on(p.local_date(occurred_at))]
    if not candidates:
        raise LookupError(f"no export rule pack is effective for an export that occurred at {occurred_at}")
    return max(candidates, key=lambda p: (p.effective_from, p.id))


def window_start(pack: ExportRulePack, occurred_at: datetime) -> datetime:
    """Start of the cumulative counting window of an export at ``occurred_at``: 00:00 local time (aware, the
    pack's timezone) of 1 January of the local year minus ``counting_window.years_back``.

    2024 Provisions Arts. 5(4), 7, 8 "自当年1月1日起" → 1 January of the current year; Assessment Measures
    Art. 4(3) "自上年1月1日起" → 1 January of the previous year. Raises ``ValueError`` for a naive instant.
    """
    year = pack.local_date(occurred_at).year - pack.counting_window.years_back
    return datetime.combine(date(year, 1, 1), time(0, 0), tzinfo=ZoneInfo(pack.timezone))


def years_in_window(pack: ExportRulePack, occurred_at: datetime) -> tuple[int, ...]:
    """Calendar years (local) the counting window of ``occurred_at`` covers, oldest first: ``(2026,)`` under
    the 2024 Provisions, ``(2025, 2026)`` under the 2022 Assessment Measures for an export in 2026.

    A ledger counts a person in the window iff the last local year in which that person was exported is in
    this tuple (see the module docstring)."""
    end = pack.local_date(occurred_at).year
    return tuple(range(end - pack.counting_window.years_back, end + 1))


def year_in_window(pack: ExportRulePack, occurred_at: datetime, last_export_year: int) -> bool:
    """Whether a person last exported in local calendar year ``last_export_year`` still counts in the
    window of an export at ``occurred_at`` (``last_export_year >= window_start(...).year``; a year after the
    export's own year is not in the window)."""
    years = years_in_window(pack, occurred_at)
    return years[0] <= last_export_year <= years[-1]


def window_id(pack: ExportRulePack, occurred_at: datetime) -> str:
    """Stable id of the counting window of ``occurred_at``; it changes exactly when the window moves (every
    1 January, local time) and when the governing pack changes.

    ``"cn_export_2024:2026"`` (calendar year) or ``"cn_export_2022:2025-2026"`` (from 1 January of the
    previous year). Key a ledger by ``(processor_id, window_id)``; for a multi-year window seed the new
    window with the persons whose last export year is still inside it (module docstring).
    """
    years = years_in_window(pack, occurred_at)
    span = str(years[0]) if len(years) == 1 else f"{years[0]}-{years[-1]}"
    return f"{pack.id}:{span}"
