"""Cross-border export evaluation: which mechanism the law requires, exemption claims, threshold crossings,
mechanisms on file, the GBA standard contract and the PIPL Art. 42 restriction list.

Pure functions over an :class:`~flowwatch.rules.export_pack.ExportRulePack` (the rules are data; see
``export_pack.py`` and ``export_packs/*.yaml``). No I/O, no clock: callers pass counts, dates and profiles.

Units: every count is **distinct natural persons (人)**, cumulative over the pack's counting window
(:func:`~flowwatch.rules.export_pack.window_start`), non-sensitive and sensitive PI counted separately
(2024 Provisions Arts. 7–8 "不含敏感个人信息"). 以上 includes the number, 不满 excludes it (the Chinese legislative
drafting convention; the texts do not restate it).
Sources: PIPL Art. 38 (mechanisms); 2024 Provisions Arts. 5(4), 7, 8 and Assessment Measures Art. 4
(thresholds); 2024 Provisions Arts. 3–6 (exemptions); 2024 Provisions Art. 9 and Assessment Measures Art. 14
(assessment validity); PIPL Art. 42 (restriction list); GBA Guideline Arts. 2 and 4, and the 2024 Mainland–Macau
guideline Art. 2 (Hong Kong, Macau, GBA).
docs/export-rules.md explains the packs, docs/regions.md what counts as cross-border.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable
from datetime import date, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from flowwatch.models import Activity, ExemptionClaim
from flowwatch.rules.export_pack import (
    MECHANISM_RANK,
    Citation,
    ExemptionRule,
    ExportRulePack,
    Mechanism,
    Metric,
    RenewalRule,
)
from flowwatch.workdays import is_working_day

__all__ = [
    "CONTRACT_CLAIM_DOUBTFUL_PERSONS",
    "EMERGENCY_CLAIM_DOUBTFUL_PERSONS",
    "GBA_GUIDELINE",
    "GBA_MAINLAND_CITIES",
    "HK",
    "HR_IMPLAUSIBLE_RECIPIENT_TYPES",
    "MO",
    "NON_PARTY_RECIPIENT_TYPES",
    "Crossing",
    "ExemptionDecision",
    "ExportCounts",
    "FileCheck",
    "FiledMechanism",
    "Mechanism",
    "ProcessorProfile",
    "Requirement",
    "add_years",
    "assessment_expiry",
    "canonical_gba_place",
    "crossings",
    "evaluate_exemption",
    "gba_check",
    "mechanism_on_file",
    "normalise_name",
    "renewal_window_opens",
    "required_mechanism",
    "restricted_recipient",
]

# ---------------------------------------------------------------------------------------------------
# Constants (judgement calls are named and documented here, not buried in the logic)
# ---------------------------------------------------------------------------------------------------

GBA_GUIDELINE = "粤港澳大湾区（内地、香港）个人信息跨境流动标准合同实施指引"
"""The GBA Guideline (CAC and HK ITIB Announcement 2023 No. 3)."""

GBA_MAINLAND_CITIES: dict[str, str] = {
    "Guangzhou": "广州",
    "Shenzhen": "深圳",
    "Zhuhai": "珠海",
    "Foshan": "佛山",
    "Huizhou": "惠州",
    "Dongguan": "东莞",
    "Zhongshan": "中山",
    "Jiangmen": "江门",
    "Zhaoqing": "肇庆",
}
"""The 9 mainland GBA cities eligible for the GBA standard contract (GBA Guideline Art. 2 para 2). The other
side is Hong Kong (``"HK"``, from 2023-12-10) or Macau (``"MO"``, from 2024-09-10, the Mainland–Macau
guideline); which partners apply on a date is pack data (``gba_standard_contract.partners``)."""

HK = "HK"
MO = "MO"

NON_PARTY_RECIPIENT_TYPES: frozenset[str] = frozenset({"analytics", "marketing", "advertising", "data_broker"})
"""Recipient types that are normally not a party to the individual's contract (2024 Provisions Art. 5(1)
"为订立、履行个人作为一方当事人的合同所必需"): a contract-necessity claim to them is doubtful."""

HR_IMPLAUSIBLE_RECIPIENT_TYPES: frozenset[str] = frozenset({"marketing", "advertising", "data_broker"})
"""Recipient types for which a cross-border HR-management claim (Art. 5(2)) is not plausible."""

CONTRACT_CLAIM_DOUBTFUL_PERSONS = 10_000
"""Persons in one flow from which an Art. 5(1) contract-necessity claim is doubtful when the recipient type is
in :data:`NON_PARTY_RECIPIENT_TYPES` or the purpose is none of the contract kinds Art. 5(1) lists. 10,000 is
the largest batch one flow event may carry (:data:`flowwatch.models.MAX_SUBJECT_KEYS`) and the sensitive-PI
assessment threshold of Art. 7(2): a full batch to a non-party is bulk provision, not performance of individual
contracts. Below it, both signals together (non-party recipient *and* unlisted purpose) still make the claim
doubtful, so that splitting a batch does not hide it. Not a legal number: a review threshold."""

EMERGENCY_CLAIM_DOUBTFUL_PERSONS = 1_000
"""Persons in one flow from which an Art. 5(3) emergency claim ("紧急情况下为保护自然人的生命健康和财产安全")
is doubtful: an emergency concerns identified natural persons, not a population. Not a legal number."""

Outcome = Literal["not_claimed", "honoured", "doubtful", "refused"]
FileStatus = Literal["ok", "missing", "expired", "in_renewal_window"]

_ASSESSMENT_ONLY = [Mechanism.SECURITY_ASSESSMENT]
_SC_BAND = [Mechanism.STANDARD_CONTRACT, Mechanism.CERTIFICATION, Mechanism.SECURITY_ASSESSMENT]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------------
# Names and places
# ---------------------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """Normalised organisation or person name for comparisons: Unicode NFKC (full-width → half-width),
    case-folded, every character that is not a letter or digit removed (spaces, punctuation, brackets,
    "·"). ``"ACME Corp."`` and ``"acme corp"`` compare equal; Chinese characters are kept."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


_GBA_ALIASES: dict[str, str] = {}
for _en, _zh in GBA_MAINLAND_CITIES.items():
    for _alias in (_en, _zh, _zh + "市", _en + " city", _en + " shi"):
        _GBA_ALIASES[normalise_name(_alias)] = _en
for _alias in ("HK", "Hong Kong", "HKSAR", "香港", "香港特别行政区", "Hong Kong SAR", "CN-HK", "HK-HK"):
    _GBA_ALIASES[normalise_name(_alias)] = HK
for _alias in ("MO", "Macau", "Macao", "澳门", "澳門", "澳门特别行政区", "Macau SAR", "Macao SAR", "CN-MO", "MO-MO"):
    _GBA_ALIASES[normalise_name(_alias)] = MO


def canonical_gba_place(value: str | None) -> str | None:
    """The canonical GBA place of a city or region name (``"Shenzhen"``, ``"深圳市"`` → ``"Shenzhen"``;
    ``"Hong Kong"``, ``"香港"`` → ``"HK"``; ``"Macau"``, ``"澳门"`` → ``"MO"``), or ``None`` when it is not one of
    the 9 mainland GBA cities, Hong Kong or Macau (GBA Guidelines Art. 2 para 2; whether Macau is covered on a
    date is pack data)."""
    if value is None:
        return None
    return _GBA_ALIASES.get(normalise_name(value))


def _recipient_type(value: str | None) -> str | None:
    if value is None:
        return None
    return re.sub(r"[\s\-]+", "_", value.strip().casefold())


# ---------------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------------


class ProcessorProfile(_Strict):
    """Registry profile of a data handler (``PUT /v1/processors``; README "API").

    ``ciio``: critical information infrastructure operator (CSL Art. 31; 2024 Provisions Art. 7(1); 2025
    Reporting Measures Art. 4 para 2: incident report within 1 hour). ``central_state_organ``: one of the
    central and state organs or their directly affiliated units (中央和国家机关各部门及其直属单位; 2025 Reporting
    Measures Art. 4 para 3: within 2 hours).
    ``free_trade_zone``: the pilot FTZ the processor is in (Art. 6), ``None`` if none.
    ``gba_city``: place of registration when it is one of the 9 mainland GBA cities, ``"HK"`` or ``"MO"`` (GBA
    Guidelines Art. 2; stored canonically, e.g. ``"Shenzhen"``); ``None`` otherwise. Any other value is rejected.
    ``processes_over_1m_persons``: processes PI of 1,000,000 persons or more (Assessment Measures Art. 4(2);
    not a trigger under the 2024 Provisions). ``important_data_catalogue_refs``: catalogue entries notified or
    published to the processor as important data (2024 Provisions Art. 2).
    """

    processor_id: str = Field(min_length=1)
    ciio: bool = False
    central_state_organ: bool = False
    free_trade_zone: str | None = None
    gba_city: str | None = None
    processes_over_1m_persons: bool = False
    important_data_catalogue_refs: list[str] = Field(default_factory=list)

    @field_validator("gba_city")
    @classmethod
    def _gba_place(cls, value: str | None) -> str | None:
        if value is None:
            return None
        place = canonical_gba_place(value)
        if place is None:
            raise ValueError(
                f"gba_city must be one of the 9 mainland GBA cities ({', '.join(GBA_MAINLAND_CITIES)}), 'HK' or 'MO', "
                f"got {value!r} (GBA Guidelines Art. 2)"
            )
        return place


class FiledMechanism(_Strict):
    """A transfer mechanism the processor has on file (PIPL Art. 38; ``PUT /v1/processors``).

    ``scope_recipients`` / ``scope_regions``: recipients (names, compared with :func:`normalise_name`) and
    destination regions (ISO 3166 codes; ``"US"`` covers ``"US-CA"``) it covers; empty = any.
    ``issued_on``: day the assessment result was issued, the contract took effect or the certificate was
    granted. ``expires_on``: **last day of validity (inclusive)**; ``None`` = no stated expiry (for a
    security assessment the expiry is then derived from ``issued_on`` and the pack's validity years).
    """

    id: str = Field(min_length=1)
    type: Mechanism
    scope_recipients: list[str] = Field(default_factory=list)
    scope_regions: list[str] = Field(default_factory=list)
    issued_on: date
    expires_on: date | None = None
    status: Literal["active", "withdrawn"] = "active"

    @model_validator(mode="after")
    def _consistent(self) -> FiledMechanism:
        if self.type is Mechanism.NONE:
            raise ValueError("a filed mechanism cannot be of type 'none'")
        if self.expires_on is not None and self.expires_on < self.issued_on:
            raise ValueError("expires_on is before issued_on")
        return self


class ExportCounts(_Strict):
    """Cumulative distinct persons exported by one processor in one counting window (units: persons).

    ``persons``: persons whose non-sensitive PI was exported ("不含敏感个人信息", 2024 Provisions Arts. 5(4),
    7(2), 8). ``sensitive_persons``: persons whose sensitive PI was exported (PIPL Art. 28; all minors under
    14). A person whose PI of both kinds left is in both. ``all_persons``: persons whose PI of any kind left
    (the union), needed by the Assessment Measures Art. 4(3) "10万人个人信息"; when ``None`` the union is
    bounded above by ``persons + sensitive_persons``, which is then used (conservative; flagged).
    """

    persons: int = Field(ge=0)
    sensitive_persons: int = Field(ge=0)
    all_persons: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _union_bounds(self) -> ExportCounts:
        if self.all_persons is not None and not (
            max(self.persons, self.sensitive_persons) <= self.all_persons <= self.persons + self.sensitive_persons
        ):
            raise ValueError("all_persons must lie between max(persons, sensitive_persons) and their sum")
        return self

    def value(self, metric: Metric) -> tuple[int, bool]:
        """``(count, exact)`` for a pack metric; ``exact`` is ``False`` for the ``all_persons`` upper bound."""
        if metric == "persons":
            return self.persons, True
        if metric == "sensitive_persons":
            return self.sensitive_persons, True
        if self.all_persons is not None:
            return self.all_persons, True
        return self.persons + self.sensitive_persons, False


class Requirement(_Strict):
    """The mechanism the law requires for a processor's export now, and what satisfies it.

    ``required``: the strictest mechanism any rule triggers (``none`` = no mechanism needed).
    ``satisfied_by``: mechanisms that meet it — ``[none]`` when nothing is needed; the standard-contract band
    is met by a standard contract, certification or an assessment (PIPL Art. 38; 2024 Provisions Art. 8);
    ``gba_standard_contract`` is listed where the processor is GBA-eligible, and then only covers flows that
    pass :func:`gba_check`. ``reasons`` / ``citations``: the triggering rules, strictest first.
    ``always``: duties that apply to any PI export whatever the mechanism (notice, separate consent, PIA).
    ``assessment_validity_years`` / ``renewal``: the pack's assessment rules, used by :func:`mechanism_on_file`.
    """

    model_config = ConfigDict(frozen=True)

    pack_id: str
    required: Mechanism
    satisfied_by: list[Mechanism]
    reasons: list[str]
    citations: list[Citation]
    always: list[Citation] = Field(default_factory=list)
    assessment_validity_years: int
    renewal: RenewalRule
    certification_validity_years: int | None = None
    certification_from: date | None = None
    notes: list[str] = Field(default_factory=list)


class ExemptionDecision(_Strict):
    """Verdict on an exemption claim (2024 Provisions Arts. 3–6).

    ``outcome``: ``honoured`` (plausible; the flow needs no mechanism), ``doubtful`` (legally possible but
    implausible on the facts: review it; until then treat the flow as not exempt), ``refused`` (the claim's
    conditions are not met), ``not_claimed``. ``counts_toward_totals``: whether the flow's persons go into the
    cumulative totals — ``True`` unless honoured, then the pack flag ``exempted_flows_count_toward_totals``
    (always ``True`` for Art. 5(4), which is defined by the totals).
    """

    pack_id: str
    claim: ExemptionClaim | None
    outcome: Outcome
    reason: str
    citation: Citation | None = None
    counts_toward_totals: bool = True
    notes: list[str] = Field(default_factory=list)


class Crossing(_Strict):
    """A volume threshold crossed by one ledger update: ``before < threshold <= after`` (以上 includes the
    number). ``before`` / ``after`` in persons of ``metric``; ``exact`` is ``False`` when an ``all_persons``
    count was bounded by the sum of the two categories."""

    pack_id: str
    threshold_id: str
    metric: Metric
    threshold: int
    before: int
    after: int
    exact: bool = True
    requires: Mechanism
    citation: Citation


class FileCheck(_Strict):
    """Whether a mechanism on file meets a requirement for one flow.

    ``status``: ``ok`` (a valid mechanism covers it, or none is required), ``in_renewal_window`` (valid, but a
    security assessment within the renewal working days before ``expires_on``), ``expired`` (only expired
    mechanisms cover it), ``missing`` (none of the right type covers the recipient and region).
    ``renewal_window_opens``: first day of the renewal window (the ``working_days``-th PRC working day before
    ``expires_on``, ``expires_on`` not counted). ``calendar_known``: ``False`` when that count used the
    Monday–Friday fallback for a year the PRC holiday calendar does not cover (see ``notes``).
    """

    status: FileStatus
    mechanism_id: str | None = None
    mechanism_type: Mechanism | None = None
    expires_on: date | None = None
    renewal_window_opens: date | None = None
    calendar_known: bool = True
    reason: str
    citation: Citation | None = None
    notes: list[str] = Field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Required mechanism
# ---------------------------------------------------------------------------------------------------


def _gba_available(pack: ExportRulePack, profile: ProcessorProfile, important_data: bool, on: date | None) -> bool:
    rule = pack.gba_standard_contract
    if rule is None or profile.gba_city is None or important_data or profile.ciio:
        return False
    partners = rule.partner_regions(on)
    if profile.gba_city in (HK, MO):
        return profile.gba_city in partners
    return bool(partners)


def _certification_ok(pack: ExportRulePack, profile: ProcessorProfile, important_data: bool, on: date | None) -> bool:
    """Whether certification may meet the requirement: always before the 认证办法 (PIPL Art. 38 para 1(2));
    from its effective date only for a non-CIIO processor without important data."""
    rule = pack.certification
    if rule is None or (on is not None and on < rule.effective_from):
        return True
    return not profile.ciio and not important_data


def required_mechanism(
    pack: ExportRulePack,
    counts_after: ExportCounts,
    profile: ProcessorProfile,
    important_data: bool,
    has_pi: bool,
    *,
    on: date | None = None,
) -> Requirement:
    """The mechanism a processor needs for its exports, given the window's cumulative counts **including**
    the current flow (``counts_after``, persons), in this order (2024 Provisions Arts. 3–8; for the 2022 pack
    the Assessment Measures Art. 4):

    1. no PI and no important data → ``none`` (2024 Provisions Art. 3; Assessment Measures Art. 2 scope);
    2. important data (notified or published, Art. 2) → security assessment (2024 Art. 7(1)–(2); 2022 Art. 4(1));
    3. CIIO exporting any PI → security assessment, no volume floor (2024 Art. 7(1); 2022 Art. 4(2));
    4. 2022 only: a processor processing ≥ 1,000,000 persons' PI → security assessment (Art. 4(2));
    5. volume thresholds of the pack (2024: ≥ 1,000,000 non-sensitive or ≥ 10,000 sensitive persons →
       assessment, Art. 7(2); ≥ 100,000 non-sensitive or ≥ 1 sensitive person → standard contract or
       certification, Art. 8; 2022: ≥ 100,000 persons or ≥ 10,000 sensitive → assessment, Art. 4(3));
    6. otherwise the pack's floor: 2024 ``none`` (Art. 5(4), non-CIIO < 100,000 non-sensitive and no
       sensitive persons); 2022 standard contract or certification (PIPL Art. 38 para 1).

    The strictest triggered mechanism wins. Exemption claims (Arts. 3–6) are judged separately by
    :func:`evaluate_exemption`; an honoured claim makes the flow need no mechanism whatever this returns.
    The GBA standard contract is added to ``satisfied_by`` when the processor is registered in a GBA place,
    the flow has no important data (GBA Guideline Art. 2), the processor is not a CIIO (decision: CSL Art. 37
    keeps CIIO exports on the assessment route; the Guideline does not say it displaces that) and — when ``on``
    (local date of the export) is given — the Guideline was in force (2023-12-10).
    """
    hits: list[tuple[Mechanism, str, Citation]] = []
    notes: list[str] = []
    if not has_pi and not important_data:
        return Requirement(
            pack_id=pack.id,
            required=Mechanism.NONE,
            satisfied_by=[Mechanism.NONE],
            reasons=["no personal information and no important data in the flow"],
            citations=[pack.scope],
            assessment_validity_years=pack.assessment.validity_years,
            renewal=pack.assessment.renewal,
        )
    if important_data:
        rule = pack.important_data
        hits.append((rule.requires, f"important data exported → {rule.requires}", rule.legal_basis))
    if has_pi and profile.ciio:
        rule = pack.ciio_any_pi
        hits.append((rule.requires, f"CIIO exporting personal information → {rule.requires}", rule.legal_basis))
    if has_pi and profile.processes_over_1m_persons and pack.processor_over_1m_persons is not None:
        rule = pack.processor_over_1m_persons
        hits.append(
            (rule.requires, f"processor processes PI of ≥ 1,000,000 persons → {rule.requires}", rule.legal_basis)
        )
    if has_pi:
        for t in pack.volume_thresholds:
            n, exact = counts_after.value(t.metric)
            if n >= t.at_least:
                bound = "" if exact else " (upper bound: persons + sensitive_persons)"
                hits.append(
                    (
                        t.requires,
                        f"{t.metric} {n:,}{bound} ≥ {t.at_least:,} in the window → {t.requires}",
                        t.legal_basis,
                    )
                )
            if not exact:
                notes.append("all_persons not supplied; persons + sensitive_persons used as an upper bound")
        if not hits:
            floor = pack.below_thresholds
            hits.append(
                (
                    floor.requires,
                    f"below every volume threshold ({counts_after.persons:,} non-sensitive, "
                    f"{counts_after.sensitive_persons:,} sensitive persons in the window) → {floor.requires}",
                    floor.legal_basis,
                )
            )
    hits.sort(key=lambda h: MECHANISM_RANK[h[0]], reverse=True)
    required = hits[0][0]
    top = [h for h in hits if MECHANISM_RANK[h[0]] == MECHANISM_RANK[required]]
    if required is Mechanism.NONE:
        satisfied = [Mechanism.NONE]
    elif required is Mechanism.SECURITY_ASSESSMENT:
        satisfied = list(_ASSESSMENT_ONLY)
    else:
        satisfied = list(_SC_BAND)
    if Mechanism.CERTIFICATION in satisfied and pack.certification is not None:
        if not _certification_ok(pack, profile, important_data, on):
            satisfied.remove(Mechanism.CERTIFICATION)
        elif on is None or on >= pack.certification.effective_from:
            notes.append(f"certification under {pack.certification.legal_basis.document}: "
                         + "; ".join(pack.certification.conditions))
    if required is not Mechanism.NONE and _gba_available(pack, profile, important_data, on):
        satisfied.append(Mechanism.GBA_STANDARD_CONTRACT)
        notes.append("GBA standard contract accepted only for flows that pass gba_check (GBA Guideline Arts. 2, 4)")
    return Requirement(
        pack_id=pack.id,
        required=required,
        satisfied_by=satisfied,
        reasons=[h[1] for h in top],
        citations=[h[2] for h in top],
        always=list(pack.always) if has_pi else [],
        assessment_validity_years=pack.assessment.validity_years,
        renewal=pack.assessment.renewal,
        certification_validity_years=pack.certification.validity_years if pack.certification else None,
        certification_from=pack.certification.effective_from if pack.certification else None,
        notes=sorted(set(notes)),
    )


# ---------------------------------------------------------------------------------------------------
# Exemptions
# ---------------------------------------------------------------------------------------------------


def _listed_purpose(purpose: str | None, rule: ExemptionRule) -> str | None:
    """The Art. 5(1) contract kind a free-text purpose names, or ``None``. ASCII aliases match whole words."""
    if not purpose:
        return None
    text = unicodedata.normalize("NFKC", purpose).casefold()
    for kind in rule.listed_purposes:
        for word in (kind.zh, *kind.aliases):
            w = word.casefold()
            if w.isascii():
                if re.search(rf"(?<![a-z0-9]){re.escape(w)}(?![a-z0-9])", text):
                    return kind.zh
            elif w in text:
                return kind.zh
    return None


def evaluate_exemption(
    claim: ExemptionClaim | None,
    *,
    pack: ExportRulePack,
    has_pi: bool,
    important_data: bool,
    activity: Activity | None,
    recipient_type: str | None,
    purpose: str | None,
    persons_in_flow: int,
    profile: ProcessorProfile,
    domestic_pi: bool,
    sensitive_persons_in_flow: int = 0,
    counts_after: ExportCounts | None = None,
    on: date | None = None,
) -> ExemptionDecision:
    """Judge an exemption claim of a flow (2024 Provisions Arts. 3–6).

    Refused: a code the pack does not recognise (the 2022 Assessment Measures have no exemptions);
    important data with Arts. 3, 4, 5 (Art. 5 para 2 "不包括重要数据"); a CIIO claiming Art. 5(4) (Art. 7 last
    para lets CIIOs use Arts. 3, 4, 5(1)–(3), 6 only); Art. 3 with PI; Art. 4 when domestic PI was mixed in
    (``domestic_pi``); Art. 5(4) once the window holds ≥ 100,000 non-sensitive or any sensitive persons
    (``counts_after``, persons, including this flow); Art. 6 without a ``profile.free_trade_zone``.

    Doubtful (plausibility; thresholds are the module constants): Art. 5(1) with ≥
    :data:`CONTRACT_CLAIM_DOUBTFUL_PERSONS` persons in the flow to a recipient type in
    :data:`NON_PARTY_RECIPIENT_TYPES` or for a purpose that is none of the listed contract kinds (跨境购物、
    跨境寄递、跨境汇款、跨境支付、跨境开户、机票酒店预订、签证办理、考试服务; the list ends in 等, so an
    unlisted purpose alone is not refused), or with both signals at any size; Art. 5(2) to a recipient type in
    :data:`HR_IMPLAUSIBLE_RECIPIENT_TYPES`; Art. 5(3) with ≥ :data:`EMERGENCY_CLAIM_DOUBTFUL_PERSONS` persons or
    to such a recipient; Arts. 5(1)–(3) when the activity is ``publish``; Art. 5(4) without ``counts_after``;
    Art. 6 with important data (the FTZ negative list is not checked here). Decree 790 Art. 35(6) (statutory
    duties or obligations): refused for a flow before 2025-01-01 (``on``, the flow's local date) or with
    important data; doubtful to a recipient type in :data:`NON_PARTY_RECIPIENT_TYPES`; else honoured with a
    note that the duty itself is not verified. Otherwise honoured.
    """
    base: dict[str, Any] = {"pack_id": pack.id, "claim": claim}
    if claim is None:
        return ExemptionDecision(**base, outcome="not_claimed", reason="no exemption claimed")
    rule = pack.exemption(claim)
    if rule is None:
        why = " (the pack recognises no exemptions)" if not pack.exemptions else ""
        return ExemptionDecision(
            **base,
            outcome="refused",
            reason=f"{pack.source_document} ({pack.id}) has no exemption '{claim}'{why}",
            citation=pack.scope,
        )

    def decide(
        outcome: Outcome, reason: str, citation: Citation | None = None, notes: list[str] | None = None
    ) -> ExemptionDecision:
        counts = True
        if outcome == "honoured":
            counts = claim is ExemptionClaim.ART5_4_BELOW_100K or pack.exempted_flows_count_toward_totals
        return ExemptionDecision(
            **base,
            outcome=outcome,
            reason=reason,
            citation=citation or rule.legal_basis,
            counts_toward_totals=counts,
            notes=notes or [],
        )

    if rule.effective_from is not None and on is not None and on < rule.effective_from:
        return decide("refused", f"{claim} exists only from {rule.effective_from} (flow on {on})")
    if important_data and rule.important_data_excluded_by is not None:
        return decide(
            "refused",
            f"{claim} does not cover important data",
            rule.important_data_excluded_by,
        )
    if profile.ciio and not rule.ciio_allowed:
        return decide("refused", f"{claim} is not available to a CIIO (only to 关键信息基础设施运营者以外的数据处理者)")

    rtype = _recipient_type(recipient_type)
    published = activity is Activity.PUBLISH

    if claim is ExemptionClaim.ART3_TRADE_NO_PI:
        if has_pi:
            return decide("refused", "Art. 3 covers only data without personal information; the flow carries PI")
        return decide("honoured", "no personal information and no important data")

    if claim is ExemptionClaim.ART4_FOREIGN_ORIGIN_REEXPORT:
        if domestic_pi:
            return decide("refused", "domestic PI was introduced into the foreign-origin data before re-export")
        return decide("honoured", "PI collected abroad and re-exported with no domestic PI or important data")

    if claim is ExemptionClaim.ART5_1_CONTRACT:
        kind = _listed_purpose(purpose, rule)
        non_party = rtype in NON_PARTY_RECIPIENT_TYPES
        large = persons_in_flow >= CONTRACT_CLAIM_DOUBTFUL_PERSONS
        signals = []
        if non_party:
            signals.append(f"recipient type '{rtype}' is normally not a party to the individuals' contracts")
        if kind is None:
            signals.append(f"purpose {purpose!r} is none of the contract kinds listed in Art. 5(1)")
        if published:
            signals.append("publishing data is not needed to perform an individual's contract")
        if published or (signals and large) or (non_party and kind is None):
            size = f"{persons_in_flow:,} persons in one flow; "
            return decide("doubtful", size + "; ".join(signals))
        reason = (
            f"contract necessity: {kind}" if kind else "contract necessity (unlisted kind; Art. 5(1) list ends in 等)"
        )
        return decide("honoured", reason)

    if claim is ExemptionClaim.ART5_2_HR:
        if rtype in HR_IMPLAUSIBLE_RECIPIENT_TYPES or published:
            what = "publication" if published else f"recipient type '{rtype}'"
            return decide("doubtful", f"cross-border HR management is implausible for {what}")
        return decide("honoured", "cross-border HR management of employees' PI")

    if claim is ExemptionClaim.ART5_3_EMERGENCY:
        if persons_in_flow >= EMERGENCY_CLAIM_DOUBTFUL_PERSONS or rtype in HR_IMPLAUSIBLE_RECIPIENT_TYPES or published:
            return decide(
                "doubtful",
                f"emergency protection of life, health or property is implausible for {persons_in_flow:,} persons "
                f"(recipient type {rtype!r}, activity {activity})",
            )
        return decide("honoured", "emergency protection of a natural person's life, health or property")

    if claim is ExemptionClaim.ART5_4_BELOW_100K:
        limit = rule.below_persons or 100_000
        ns = counts_after.persons if counts_after is not None else persons_in_flow
        s = counts_after.sensitive_persons if counts_after is not None else sensitive_persons_in_flow
        if s > 0:
            return decide(
                "refused",
                f"{s:,} sensitive persons exported in the window; Art. 5(4) covers only "
                "non-sensitive PI (Art. 8: any sensitive PI needs SC or certification)",
            )
        if ns >= limit:
            return decide("refused", f"{ns:,} non-sensitive persons in the window ≥ {limit:,}")
        if counts_after is None:
            return decide("doubtful", f"cumulative counts not supplied; {persons_in_flow:,} persons in this flow only")
        return decide("honoured", f"{ns:,} non-sensitive persons in the window < {limit:,}, no sensitive persons")

    if claim is ExemptionClaim.ART6_FTZ_OUTSIDE_NEGATIVE_LIST:
        if profile.free_trade_zone is None:
            return decide("refused", "the processor is not registered in a pilot free trade zone")
        if important_data:
            return decide(
                "doubtful",
                f"important data in an FTZ ({profile.free_trade_zone}) claim: check the zone's negative list",
            )
        return decide(
            "honoured",
            f"processor in FTZ {profile.free_trade_zone}",
            notes=["the FTZ negative list is not checked by Flowwatch"],
        )

    if claim is ExemptionClaim.NDSR35_6_STATUTORY_DUTY:
        if rtype in NON_PARTY_RECIPIENT_TYPES:
            return decide("doubtful", f"a statutory duty is implausible for recipient type '{rtype}'")
        return decide("honoured", "provision abroad needed to perform a statutory duty or obligation",
                      notes=["the statutory duty or obligation itself is not verified by Flowwatch"])

    return decide("refused", f"no evaluation for exemption '{claim}'")  # pragma: no cover - enum is exhaustive


# ---------------------------------------------------------------------------------------------------
# Threshold crossings
# ---------------------------------------------------------------------------------------------------


def crossings(pack: ExportRulePack, before: ExportCounts, after: ExportCounts) -> list[Crossing]:
    """Volume thresholds of ``pack`` crossed by one ledger update, in pack order: each threshold ``T`` with
    ``before < T <= after`` (persons; exactly ``T`` counts as crossed, 以上). 2024 Provisions: 100,000 and
    1,000,000 non-sensitive persons (Arts. 8, 7(2)), 1 and 10,000 sensitive persons (Arts. 8, 7(2));
    Assessment Measures: 100,000 persons and 10,000 sensitive persons (Art. 4(3))."""
    out: list[Crossing] = []
    for t in pack.volume_thresholds:
        b, b_exact = before.value(t.metric)
        a, a_exact = after.value(t.metric)
        if b < t.at_least <= a:
            out.append(
                Crossing(
                    pack_id=pack.id,
                    threshold_id=t.id,
                    metric=t.metric,
                    threshold=t.at_least,
                    before=b,
                    after=a,
                    exact=b_exact and a_exact,
                    requires=t.requires,
                    citation=t.legal_basis,
                )
            )
    return out


# ---------------------------------------------------------------------------------------------------
# Mechanisms on file, validity and renewal
# ---------------------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """``day`` plus ``years`` years: the corresponding day, or the month's last day when there is none
    (29 February → 28 February; PRC Civil Code Art. 202)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def assessment_expiry(pack: ExportRulePack, issued_on: date) -> date:
    """Last day of validity of a security-assessment result issued on ``issued_on``: 2 years (Assessment
    Measures Art. 14) or 3 years (2024 Provisions Art. 9) "自评估结果出具之日起计算"; the issue day is not
    counted, so the period ends on the corresponding day (PRC Civil Code Arts. 201–202)."""
    return add_years(issued_on, pack.assessment.validity_years)


def renewal_window_opens(expires_on: date, working_days: int) -> tuple[date, bool]:
    """First day of the renewal window: the ``working_days``-th PRC working day before ``expires_on``
    (``expires_on`` itself not counted, statutory holidays skipped, make-up working days counted).

    2024 Provisions Art. 9 "在有效期届满前60个工作日内": an extension may be applied for from this day;
    Assessment Measures Art. 14 para 2 "有效期届满60个工作日前": re-application was due before this day.
    Returns ``(day, calendar_known)``; ``calendar_known`` is ``False`` when a day counted fell in a year the
    PRC holiday calendar does not cover (Monday–Friday assumed, :mod:`flowwatch.workdays`).
    """
    if working_days < 1:
        raise ValueError(f"working_days must be >= 1, got {working_days}")
    day, counted, known = expires_on, 0, True
    while counted < working_days:
        day -= timedelta(days=1)
        working, day_known = is_working_day(day)
        known = known and day_known
        if working:
            counted += 1
    return day, known


def _covers(mech: FiledMechanism, recipient: str | None, region: str | None) -> bool:
    if mech.scope_recipients:
        if recipient is None:
            return False
        if normalise_name(recipient) not in {normalise_name(r) for r in mech.scope_recipients}:
            return False
    if mech.scope_regions:
        if region is None:
            return False
        reg = region.upper()
        if not any(reg == s.upper() or reg.startswith(s.upper() + "-") for s in mech.scope_regions):
            return False
    return True


def mechanism_on_file(
    requirement: Requirement,
    filed: Iterable[FiledMechanism],
    at: date,
    recipient: str | None,
    region: str | None,
) -> FileCheck:
    """Whether a filed mechanism meets ``requirement`` for a flow on local date ``at`` to ``recipient`` in
    destination ``region`` (ISO 3166 code).

    A filing matches when it is active, issued on or before ``at``, of a type in ``requirement.satisfied_by``
    and its scope covers the recipient and region (empty scope = any). Its expiry is ``expires_on`` or, for a
    security assessment without one, :func:`assessment_expiry` under the requirement's pack (2 or 3 years).
    Best match wins: valid (``ok``) over ``in_renewal_window`` (a security assessment on or after
    :func:`renewal_window_opens` — 60 PRC working days before expiry, Assessment Measures Art. 14 para 2 /
    2024 Provisions Art. 9) over ``expired`` (``at`` after the last day of validity). No match → ``missing``.
    When nothing is required the result is ``ok`` with no mechanism id.
    """
    if requirement.required is Mechanism.NONE:
        return FileCheck(
            status="ok", reason="no transfer mechanism required", citation=next(iter(requirement.citations), None)
        )
    renewal = requirement.renewal
    ranked: list[tuple[int, date, FileCheck]] = []
    skipped: list[str] = []
    for mech in filed:
        if mech.type not in requirement.satisfied_by:
            continue
        if mech.status != "active":
            skipped.append(f"{mech.id} withdrawn")
            continue
        if mech.issued_on > at:
            skipped.append(f"{mech.id} issued only on {mech.issued_on}")
            continue
        if not _covers(mech, recipient, region):
            skipped.append(f"{mech.id} does not cover recipient {recipient!r} / region {region!r}")
            continue
        expiry = mech.expires_on
        notes: list[str] = []
        if expiry is None and mech.type is Mechanism.SECURITY_ASSESSMENT:
            expiry = add_years(mech.issued_on, requirement.assessment_validity_years)
            notes.append(f"expiry derived: {requirement.assessment_validity_years} years from issue")
        cert_from, cert_years = requirement.certification_from, requirement.certification_validity_years
        if (expiry is None and mech.type is Mechanism.CERTIFICATION and cert_years is not None
                and cert_from is not None and mech.issued_on >= cert_from):
            expiry = add_years(mech.issued_on, cert_years)
            notes.append(f"expiry derived: certificate valid {cert_years} years from issue (个人信息出境认证办法)")
        common: dict[str, Any] = {"mechanism_id": mech.id, "mechanism_type": mech.type, "expires_on": expiry}
        if expiry is not None and at > expiry:
            check = FileCheck(
                status="expired", reason=f"{mech.type} {mech.id} expired after {expiry}", notes=notes, **common
            )
            ranked.append((0, expiry, check))
            continue
        if expiry is not None and mech.type is Mechanism.SECURITY_ASSESSMENT:
            opens, known = renewal_window_opens(expiry, renewal.working_days)
            if not known:
                years = sorted({y for y in range(opens.year, expiry.year + 1) if not is_working_day(date(y, 1, 1))[1]})
                notes.extend(f"PRC holiday calendar unknown for {y}; Monday–Friday assumed" for y in years)
            if at >= opens:
                what = (
                    f"re-application was due before {opens}"
                    if renewal.mode == "reapply_before"
                    else f"extension may be applied for from {opens}"
                )
                check = FileCheck(
                    status="in_renewal_window",
                    reason=f"{mech.id} expires on {expiry}; {what} ({renewal.working_days} working days)",
                    renewal_window_opens=opens,
                    calendar_known=known,
                    citation=renewal.legal_basis,
                    notes=notes,
                    **common,
                )
                ranked.append((1, expiry, check))
                continue
            check = FileCheck(
                status="ok",
                reason=f"{mech.type} {mech.id} valid until {expiry}",
                renewal_window_opens=opens,
                calendar_known=known,
                notes=notes,
                **common,
            )
            ranked.append((2, expiry, check))
            continue
        until = f" until {expiry}" if expiry else ""
        ranked.append(
            (
                2,
                expiry or date.max,
                FileCheck(status="ok", reason=f"{mech.type} {mech.id} valid{until}", notes=notes, **common),
            )
        )
    if ranked:
        return max(ranked, key=lambda r: (r[0], r[1]))[2]
    return FileCheck(
        status="missing",
        reason=f"no {requirement.required} on file covering recipient {recipient!r} / region {region!r} "
        f"(accepted: {', '.join(requirement.satisfied_by)})",
        citation=next(iter(requirement.citations), None),
        notes=skipped,
    )


# ---------------------------------------------------------------------------------------------------
# GBA standard contract and the restriction list
# ---------------------------------------------------------------------------------------------------


def _gba_citation(article: str) -> str:
    return f"{GBA_GUIDELINE} {article}"


def _onward_in_gba(place: str, partners: Collection[str] = (HK,)) -> bool:
    """An onward region inside the GBA: one of the 9 mainland cities, a partner region of the contract, or
    ``CN-GD`` (a region code carries no city; Guangdong is accepted as possibly inside the GBA — a documented
    limitation)."""
    canon = canonical_gba_place(place)
    if canon in (HK, MO):
        return canon in partners
    return canon is not None or place.strip().upper() == "CN-GD"


def gba_check(
    profile: ProcessorProfile,
    destination_region: str | None,
    destination_city: str | None,
    recipient_region_onward: list[str],
    mechanism: Mechanism,
    *,
    important_data: bool = False,
    partners: Collection[str] = (HK,),
) -> str | None:
    """Why a flow may not rely on the GBA standard contract, or ``None`` when it may (or when ``mechanism``
    is not the GBA standard contract: nothing to check).

    ``partners``: the partner regions whose guideline applies on the flow's date
    (``GbaRule.partner_regions``): ``HK`` (Mainland–Hong Kong guideline, from 2023-12-10) and ``MO``
    (Mainland–Macau guideline, from 2024-09-10); default Hong Kong only. Valid only (GBA Guidelines Arts. 2,
    4): from a processor registered in one of the 9 mainland GBA cities to a recipient in a partner region,
    or from a processor in a partner region to a recipient in one of the 9 cities (region ``CN``/``CN-GD``
    and ``destination_city``); never Hong Kong ↔ Macau; never with data notified or published as important
    data (Art. 2); never with onward transfer outside the GBA (Art. 4(2)).
    """
    if mechanism is not Mechanism.GBA_STANDARD_CONTRACT:
        return None
    if important_data:
        return f"important data cannot leave under the GBA standard contract ({_gba_citation('Art. 2')})"
    origin = profile.gba_city
    if origin is None:
        return (
            "processor is not registered in one of the 9 mainland GBA cities, Hong Kong or Macau "
            f"({_gba_citation('Art. 2 para 2')})"
        )
    dest = (destination_region or "").strip().upper()
    if dest == "MO" or dest.startswith("MO-") or _is_macau(destination_city):
        dest = MO
    elif dest.startswith("HK-"):
        dest = HK
    if origin in (HK, MO):
        if origin not in partners:
            return (f"{origin} is not a GBA standard-contract partner on this date "
                    f"({_gba_citation('Art. 2')}; Macau from 2024-09-10)")
        if not (dest == "CN" or dest.startswith("CN-")):
            return (
                f"from {origin} the GBA standard contract covers only recipients in the 9 mainland GBA cities, "
                f"not region {dest or '?'} ({_gba_citation('Art. 2 para 2')})"
            )
        city = canonical_gba_place(destination_city)
        if city is None or city in (HK, MO):
            return (
                f"recipient city {destination_city!r} is not one of the 9 mainland GBA cities "
                f"({_gba_citation('Art. 2 para 2')})"
            )
    elif dest not in (HK, MO):
        return (
            f"from {origin} the GBA standard contract covers only recipients in Hong Kong or Macau, not region "
            f"{dest or '?'} ({_gba_citation('Art. 2 para 2')})"
        )
    elif dest not in partners:
        return (
            "Macau is not covered by the GBA standard contract on this date (the Mainland–Macau guideline "
            "applies from 2024-09-10)" if dest == MO else f"{dest} is not a GBA standard-contract partner on this date"
        )
    outside = [r for r in recipient_region_onward if not _onward_in_gba(r, partners)]
    if outside:
        return (
            f"onward transfer to {', '.join(outside)} outside the GBA is not allowed under the GBA standard contract "
            f"({_gba_citation('Art. 4(2)')})"
        )
    return None


def _is_macau(city: str | None) -> bool:
    return city is not None and normalise_name(city) in {"macau", "macao", "澳门", "澳門", "澳门特别行政区", "mo"}


def restricted_recipient(recipient: str | None, restriction_list: Iterable[str]) -> bool:
    """Whether ``recipient`` is on the CAC restriction or prohibition list (限制或者禁止个人信息提供清单,
    PIPL Art. 42), comparing :func:`normalise_name` forms (case-insensitive, full-width folded, spaces and
    punctuation ignored). Exact normalised match only: no fuzzy matching. ``None`` → ``False``."""
    if recipient is None:
        return False
    target = normalise_name(recipient)
    return bool(target) and any(normalise_name(name) == target for name in restriction_list)
