"""Cross-border updates (issue 14 point 5): the GBA standard contract covers Macau from 2024-09-10; export
certification under the 个人信息出境认证办法 (2026-01-01: conditions, 3-year validity); Decree 790 Art. 35(6)
(statutory duties) as an exemption code from 2025-01-01; a platform's declared sensitive category counts the
flow's persons as sensitive in the ledger, recorded as declared."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flowwatch.detection.scanner import default_scanner
from flowwatch.exports.from_event import update_from_event
from flowwatch.exports.models import ExportUpdate
from flowwatch.exports.rules import (
    ExportCounts,
    FiledMechanism,
    Mechanism,
    ProcessorProfile,
    evaluate_exemption,
    gba_check,
    mechanism_on_file,
    required_mechanism,
)
from flowwatch.exports.step import process_update
from flowwatch.findings import scan_event
from flowwatch.models import Activity, ExemptionClaim, FlowEvent
from flowwatch.registry.models import RegistryEntry
from flowwatch.rules.export_pack import export_pack_for, load_export_packs

SH = ZoneInfo("Asia/Shanghai")
PACKS = load_export_packs()
P2024 = export_pack_for(datetime(2025, 6, 1, tzinfo=SH), PACKS)
SZ = ProcessorProfile(processor_id="sz-shop", gba_city="珠海市")
MOP = ProcessorProfile(processor_id="mo-bank", gba_city="澳门")
GBA = Mechanism.GBA_STANDARD_CONTRACT
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def counts(persons: int = 0, sensitive: int = 0) -> ExportCounts:
    return ExportCounts(persons=persons, sensitive_persons=sensitive, all_persons=persons)


# --- GBA: Macau from 2024-09-10 -------------------------------------------------------------------------------


def test_macau_partner_from_2024_09_10() -> None:
    gba = P2024.gba_standard_contract
    assert gba is not None
    assert gba.partner_regions(date(2024, 9, 9)) == {"HK"}
    assert gba.partner_regions(date(2024, 9, 10)) == {"HK", "MO"}
    assert gba.citation_for("MO").document == "粤港澳大湾区（内地、澳门）个人信息跨境流动标准合同实施指引"


def test_mainland_city_to_macau_refused_before_and_accepted_from_2024_09_10() -> None:
    before = gba_check(SZ, "MO", "澳门", [], GBA, partners=P2024.gba_standard_contract.partner_regions(  # type: ignore[union-attr]
        date(2024, 9, 9)))
    assert before is not None and "2024-09-10" in before
    after = gba_check(SZ, "MO", "澳门", [], GBA, partners={"HK", "MO"})
    assert after is None
    # Macau → a mainland GBA city; Macau → Hong Kong is not covered; onward outside the GBA refused
    assert gba_check(MOP, "CN", "珠海", [], GBA, partners={"HK", "MO"}) is None
    assert gba_check(MOP, "HK", None, [], GBA, partners={"HK", "MO"}) is not None
    onward = gba_check(SZ, "MO", None, ["SG"], GBA, partners={"HK", "MO"})
    assert onward is not None and "SG" in onward
    assert gba_check(SZ, "MO", None, [], GBA, partners={"HK", "MO"}, important_data=True) is not None


def test_macau_processor_gets_the_gba_contract_only_from_2024_09_10() -> None:
    def has_gba(on: date) -> bool:
        return GBA in required_mechanism(P2024, counts(200_000), MOP, False, True, on=on).satisfied_by
    assert not has_gba(date(2024, 9, 9)) and has_gba(date(2024, 9, 10))


def test_macau_flow_through_the_ledger_is_not_alerted_as_outside_scope() -> None:
    mech = FiledMechanism(id="gba-mo-1", type=GBA, issued_on=date(2025, 1, 1))
    entry = RegistryEntry(processor_id="sz-shop", profile=SZ, mechanisms=[mech], updated_at=NOW)
    keys = [hashlib.sha256(f"p{i}".encode()).hexdigest() for i in range(3)]
    update = ExportUpdate(processor_id="sz-shop", event_id="e-mo", occurred_at=datetime(2026, 5, 1, 10, tzinfo=SH),
                          activity=Activity.EXPORT, recipient="澳门银行", destination_region="MO",
                          resolution_basis="declared", is_export=True, export_reason="Macau", has_pi=True,
                          persons_in_flow=3, person_keys=keys, sensitive_person_keys=keys[:1])
    result = process_update(update, PACKS, {}, {}, entry, None, NOW)
    assert result.verdict.file_check is not None and result.verdict.file_check.status == "ok"
    assert "export_gba_outside_scope" not in [a.type for a in result.alerts]


# --- certification (个人信息出境认证办法, in force 2026-01-01) -------------------------------------------------------


def test_certification_conditions_from_2026() -> None:
    plain = ProcessorProfile(processor_id="acme")
    ciio = ProcessorProfile(processor_id="grid", ciio=True)
    band = required_mechanism(P2024, counts(200_000), plain, False, True, on=date(2026, 1, 1))
    assert Mechanism.CERTIFICATION in band.satisfied_by
    assert any("个人信息出境认证办法" in n for n in band.notes)
    # a CIIO or important data never reaches the certification band (assessment), before or after
    assert Mechanism.CERTIFICATION not in required_mechanism(P2024, counts(10), ciio, False, True,
                                                             on=date(2026, 1, 1)).satisfied_by  # fmt: skip
    assert Mechanism.CERTIFICATION not in required_mechanism(P2024, counts(10), plain, True, True,
                                                             on=date(2026, 1, 1)).satisfied_by  # fmt: skip
    assert P2024.certification is not None and P2024.certification.validity_years == 3


def test_certificate_valid_3_years_from_issue_when_issued_under_the_measures() -> None:
    req = required_mechanism(P2024, counts(200_000), ProcessorProfile(processor_id="acme"), False, True,
                             on=date(2026, 3, 1))  # fmt: skip
    cert = FiledMechanism(id="cert-1", type=Mechanism.CERTIFICATION, issued_on=date(2026, 2, 1))
    last_day = mechanism_on_file(req, [cert], date(2029, 2, 1), None, "US")
    assert last_day.status == "ok" and last_day.expires_on == date(2029, 2, 1)
    assert mechanism_on_file(req, [cert], date(2029, 2, 2), None, "US").status == "expired"
    old = FiledMechanism(id="cert-0", type=Mechanism.CERTIFICATION, issued_on=date(2024, 6, 1))
    assert mechanism_on_file(req, [old], date(2030, 1, 1), None, "US").expires_on is None  # no stated expiry


# --- Decree 790 Art. 35(6): statutory duties ---------------------------------------------------------------------


def _claim(on: date, **over: Any) -> Any:
    base: dict[str, Any] = {"pack": P2024, "has_pi": True, "important_data": False, "activity": Activity.EXPORT,
                            "recipient_type": "court", "purpose": "协助境外司法程序", "persons_in_flow": 3,
                            "profile": ProcessorProfile(processor_id="acme"), "domestic_pi": True, "on": on}
    base.update(over)
    return evaluate_exemption(ExemptionClaim.NDSR35_6_STATUTORY_DUTY, **base)


def test_statutory_duty_exemption_from_2025_01_01() -> None:
    assert _claim(date(2024, 12, 31)).outcome == "refused"
    honoured = _claim(date(2025, 1, 1))
    assert honoured.outcome == "honoured" and honoured.citation.article == "Art. 35(6)"
    assert _claim(date(2025, 1, 1), important_data=True).outcome == "refused"
    assert _claim(date(2025, 1, 1), recipient_type="marketing").outcome == "doubtful"


# --- declared sensitive categories count as sensitive -------------------------------------------------------------


def _event(declared: list[str] | None) -> FlowEvent:
    dataset: dict[str, Any] = {"record_count": 2}
    if declared is not None:
        dataset["declared_pi_types"] = declared
    return FlowEvent.model_validate({
        "schema_version": "1.0", "event_id": "evt-1", "kind": "transfer", "occurred_at": "2026-11-20T09:30:00+08:00",
        "processor": {"id": "p-shop"}, "source": {"region": "CN"},
        "destination": {"region": "US", "recipient": "Acme Inc."}, "activity": "export", "dataset": dataset,
        "records": [{"手机号": "13812345678"}, {"手机号": "15987654321"}],
    })  # fmt: skip


def _update(declared: list[str] | None) -> ExportUpdate:
    ev = _event(declared)
    finding, keys = scan_event(ev, default_scanner(), b"k", datetime(2026, 11, 20, tzinfo=UTC))
    update = update_from_event(ev, finding, keys)
    assert update is not None
    return update


def test_declared_sensitive_category_counts_the_flows_persons_as_sensitive() -> None:
    plain = _update(["general"])
    assert plain.sensitive_person_keys == [] and plain.sensitive_declared == []
    declared = _update(["general", "medical_health"])
    assert declared.sensitive_declared == ["medical_health"]
    assert sorted(declared.sensitive_person_keys) == sorted(declared.person_keys) and len(declared.person_keys) == 2
    ledger = process_update(declared, PACKS, {}, {}, None, None, NOW).ledger
    assert ledger is not None and ledger.sensitive_persons == 2
    assert ledger.sensitive_basis == "declared" and ledger.declared_sensitive_categories == ["medical_health"]
    counted = process_update(plain, PACKS, {}, {}, None, None, NOW).ledger
    assert counted is not None and counted.sensitive_persons == 0 and counted.sensitive_basis == "counted"
