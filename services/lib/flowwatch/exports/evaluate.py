"""Alerts of one export flow against the ledger, the registry and the export rule pack (issue 5 item 4).

Each alert cites its article and has a dedup key, so it is raised once (per window, recipient or filing as
the key says) even when flows repeat or are replayed:

- ``export_unknown_destination`` — PI to a destination whose region could not be resolved (PIPL Art. 38:
  providing PI abroad needs a mechanism; nobody can tell whether this flow does).
- ``export_threshold_crossed`` — 100,000 / 1,000,000 persons or 10,000 sensitive persons (and the first
  sensitive person) crossed by this flow, once per window, with the counts (2024 Provisions Arts. 5(4), 7, 8).
- ``export_exemption_doubtful`` — an exemption claim that is legally possible but implausible (Arts. 3–6).
- ``export_mechanism_missing`` / ``export_assessment_expired`` / ``export_assessment_renewal`` — the flow
  needs a mechanism the processor does not have on file, or whose assessment expired or is inside its
  renewal window (60 working days; 2024 Provisions Art. 9).
- ``export_important_data_without_assessment`` — important data exported without a valid security
  assessment (2024 Provisions Art. 7).
- ``export_restricted_recipient`` — the recipient is on the restriction list (PIPL Art. 42).
- ``export_gba_outside_scope`` — a flow under the GBA standard contract leaving its scope (GBA Guideline
  Arts. 2, 4).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flowwatch.alerts import Alert, Severity
from flowwatch.exports.models import ExportUpdate
from flowwatch.exports.rules import (
    HK,
    MO,
    ExemptionDecision,
    ExportCounts,
    FileCheck,
    ProcessorProfile,
    Requirement,
    crossings,
    evaluate_exemption,
    gba_check,
    mechanism_on_file,
    required_mechanism,
    restricted_recipient,
)
from flowwatch.ids import alert_id
from flowwatch.registry.models import RegistryEntry, RestrictionList
from flowwatch.rules.export_pack import ExportRulePack, Mechanism
from flowwatch.rules.incident_pack import Citation
from flowwatch.wire import CHINA

PIPL_38 = Citation(
    document="中华人民共和国个人信息保护法",
    article="Art. 38",
    quote="个人信息处理者因业务等需要，确需向中华人民共和国境外提供个人信息的，应当具备下列条件之一",
)
RESTRICTION = Citation(
    document="中华人民共和国个人信息保护法",
    article="Art. 42",
    quote="国家网信部门可以将其列入限制或者禁止个人信息提供清单",
)


@dataclass(frozen=True)
class FlowVerdict:
    """What one export flow means: the exemption decision, the requirement, the filing check and the
    alerts (not yet filtered by the ledger's ``alerts_raised``)."""

    exemption: ExemptionDecision
    requirement: Requirement
    file_check: FileCheck | None
    alerts: list[Alert]


def default_profile(processor_id: str) -> ProcessorProfile:
    """The profile assumed for a processor that has not registered one (non-CIIO, outside FTZ/GBA)."""
    return ProcessorProfile(processor_id=processor_id)


def evaluate_flow(
    update: ExportUpdate,
    pack: ExportRulePack,
    window_id: str,
    before: ExportCounts,
    after: ExportCounts,
    entry: RegistryEntry | None,
    restrictions: RestrictionList | None,
    now: datetime,
) -> FlowVerdict:
    """Judge one export flow: ``before``/``after`` are the window's counts without/with it (persons)."""
    profile = entry.profile if entry else default_profile(update.processor_id)
    filed = entry.mechanisms if entry else []
    on = update.occurred_at.astimezone(CHINA).date()
    alerts: list[Alert] = []

    def raise_(kind: str, key_tail: str, severity: Severity, title: str, message: str, basis: Citation) -> None:
        key = f"{update.processor_id}|export|{kind}|{key_tail}"
        alerts.append(Alert(
            alert_id=alert_id(key), dedup_key=key, type=kind, severity=severity, processor_id=update.processor_id,
            rule_pack=pack.id, legal_basis=basis, title=title, message=message, raised_at=now,
        ))  # fmt: skip

    who = update.recipient or "an unnamed recipient"
    where = update.destination_region or "an unknown region"
    if update.is_export is None and update.has_pi:
        raise_("export_unknown_destination", f"{window_id}|{update.recipient or '-'}", Severity.HIGH,
               "PI sent to an unknown destination",
               f"Event {update.event_id}: PI of {update.persons_in_flow:,} persons went to {who} whose region "
               f"could not be resolved ({update.export_reason}); whether it left the country is unknown.",
               PIPL_38)  # fmt: skip
    exemption = evaluate_exemption(
        update.exemption_claim, pack=pack, has_pi=update.has_pi, important_data=update.important_data,
        activity=update.activity, recipient_type=update.recipient_type, purpose=update.purpose,
        persons_in_flow=update.persons_in_flow, profile=profile, domestic_pi=True,
        sensitive_persons_in_flow=len(update.sensitive_person_keys), counts_after=after, on=on,
    )  # fmt: skip
    requirement = required_mechanism(pack, after, profile, update.important_data, update.has_pi, on=on)
    if update.is_export is not True:
        return FlowVerdict(exemption, requirement, None, alerts)

    for c in crossings(pack, before, after):
        raise_("export_threshold_crossed", f"{window_id}|{c.threshold_id}",
               Severity.HIGH if c.requires == Mechanism.SECURITY_ASSESSMENT else Severity.MEDIUM,
               f"Export threshold crossed: {c.threshold:,} {c.metric.replace('_', ' ')}",
               f"{update.processor_id} has exported PI of {c.after:,} {c.metric.replace('_', ' ')} in window "
               f"{window_id} (was {c.before:,}; threshold {c.threshold:,}): from now on it needs "
               f"{c.requires.value.replace('_', ' ')}. Event {update.event_id}.", c.citation)  # fmt: skip
    if exemption.outcome == "doubtful":
        raise_("export_exemption_doubtful", f"{window_id}|{update.exemption_claim}|{update.recipient or '-'}",
               Severity.MEDIUM, f"Doubtful exemption claim: {update.exemption_claim}",
               f"Event {update.event_id} to {who} ({where}): {exemption.reason}", exemption.citation or PIPL_38)
    if restrictions and restricted_recipient(update.recipient, [r.name for r in restrictions.recipients]):
        raise_("export_restricted_recipient", f"{update.recipient}", Severity.CRITICAL,
               f"Export to a restricted recipient: {who}",
               f"Event {update.event_id}: PI of {update.persons_in_flow:,} persons sent to {who} ({where}), "
               "which is on the restriction list.", RESTRICTION)  # fmt: skip

    exempt = exemption.outcome == "honoured"
    check = None if exempt else mechanism_on_file(requirement, filed, on, update.recipient, update.destination_region)
    if check is not None and check.status != "ok":
        needed = requirement.required.value.replace("_", " ")
        basis = check.citation or (requirement.citations[0] if requirement.citations else PIPL_38)
        if check.status == "missing":
            severity = Severity.CRITICAL if requirement.required == Mechanism.SECURITY_ASSESSMENT else Severity.HIGH
            raise_("export_mechanism_missing", f"{window_id}|{requirement.required.value}|{update.recipient or '-'}",
                   severity, f"Export needs a {needed} that is not on file",
                   f"Event {update.event_id} to {who} ({where}) needs a {needed} ({'; '.join(requirement.reasons)}); "
                   f"none on file covers it. {check.reason}", basis)  # fmt: skip
        elif check.status == "expired":
            raise_("export_assessment_expired", f"{check.mechanism_id}", Severity.CRITICAL,
                   f"Mechanism {check.mechanism_id} expired", f"{check.reason} Event {update.event_id} to {who}.",
                   basis)  # fmt: skip
        elif check.status == "in_renewal_window":
            raise_("export_assessment_renewal", f"{check.mechanism_id}|{check.expires_on}", Severity.MEDIUM,
                   f"Security assessment {check.mechanism_id} is inside its renewal window",
                   f"{check.reason} (window opened {check.renewal_window_opens}).", basis)  # fmt: skip
    if update.important_data and (check is None or check.status not in ("ok", "in_renewal_window")
                                  or check.mechanism_type != Mechanism.SECURITY_ASSESSMENT):  # fmt: skip
        raise_("export_important_data_without_assessment", f"{update.event_id}", Severity.CRITICAL,
               "Important data exported without a security assessment",
               f"Event {update.event_id}: important data ({', '.join(update.important_data_refs) or 'catalogued'}) "
               f"sent to {who} ({where}) with no valid security assessment on file.",
               requirement.citations[0] if requirement.citations else PIPL_38)  # fmt: skip
    if check is not None and check.mechanism_type == Mechanism.GBA_STANDARD_CONTRACT:
        gba = pack.gba_standard_contract
        reason = gba_check(profile, update.destination_region, update.destination_city, update.onward_regions,
                           Mechanism.GBA_STANDARD_CONTRACT, important_data=update.important_data,
                           partners=gba.partner_regions(on) if gba else {HK})
        if reason:
            raise_("export_gba_outside_scope", f"{window_id}|{update.recipient or '-'}|{where}", Severity.HIGH,
                   "GBA standard-contract flow outside its scope", f"Event {update.event_id} to {who}: {reason}",
                   gba.citation_for(MO) if gba and _is_mo(update.destination_region, profile.gba_city) else
                   Citation(document="粤港澳大湾区（内地、香港）个人信息跨境流动标准合同实施指引", article="Arts. 2, 4",
                            quote="不得向大湾区以外的组织或个人提供"))  # fmt: skip
    return FlowVerdict(exemption, requirement, check, alerts)


def _is_mo(region: str | None, origin: str | None) -> bool:
    """Whether a GBA flow is on the Mainland–Macau side (destination or origin Macau)."""
    return (region or "").upper().startswith("MO") or origin == MO
