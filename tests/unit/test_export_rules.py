"""Cross-border export rules: packs (2022 Assessment Measures, 2024 Provisions), counting windows, required
mechanism at the exact thresholds, exemptions, crossings, mechanisms on file (PRC working days), GBA.

Calendar facts used (chinesecalendar 1.11.0, see test_workdays.py): 2025 National Day holiday 10-01..10-08
(six weekdays off), make-up working days Sun 2025-09-28 and Sat 2025-10-11; no data for 2031.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowwatch.exports.rules import (
    CONTRACT_CLAIM_DOUBTFUL_PERSONS,
    ExemptionDecision,
    ExportCounts,
    FiledMechanism,
    Mechanism,
    ProcessorProfile,
    Requirement,
    assessment_expiry,
    crossings,
    evaluate_exemption,
    gba_check,
    mechanism_on_file,
    renewal_window_opens,
    required_mechanism,
    restricted_recipient,
)
from flowwatch.models import Activity, ExemptionClaim
from flowwatch.rules.export_pack import (
    PackError,
    export_pack_for,
    load_export_packs,
    window_id,
    window_start,
    year_in_window,
    years_in_window,
)
from flowwatch.rules.incident_pack import load_packs

SH = ZoneInfo("Asia/Shanghai")
PACKS = load_export_packs()
P2024 = export_pack_for(datetime(2025, 6, 1, tzinfo=SH), PACKS)
P2022 = export_pack_for(datetime(2023, 6, 1, tzinfo=SH), PACKS)
PLAIN = ProcessorProfile(processor_id="acme")
CIIO = ProcessorProfile(processor_id="grid", ciio=True)
SZ = ProcessorProfile(processor_id="sz-shop", gba_city="深圳市")
HKP = ProcessorProfile(processor_id="hk-bank", gba_city="Hong Kong")

SA, SC, CERT, GBA, NONE = (
    Mechanism.SECURITY_ASSESSMENT,
    Mechanism.STANDARD_CONTRACT,
    Mechanism.CERTIFICATION,
    Mechanism.GBA_STANDARD_CONTRACT,
    Mechanism.NONE,
)


def counts(persons: int = 0, sensitive: int = 0, all_persons: int | None = None) -> ExportCounts:
    return ExportCounts(persons=persons, sensitive_persons=sensitive, all_persons=all_persons)


def req(
    persons: int = 0, sensitive: int = 0, *, pack: Any = P2024, profile: ProcessorProfile = PLAIN, **kw: Any
) -> Requirement:
    kw.setdefault("important_data", False)
    kw.setdefault("has_pi", True)
    return required_mechanism(pack, counts(persons, sensitive), profile, **kw)


def claim(c: ExemptionClaim | None, **over: Any) -> ExemptionDecision:
    base: dict[str, Any] = {
        "pack": P2024,
        "has_pi": True,
        "important_data": False,
        "activity": Activity.EXPORT,
        "recipient_type": "merchant",
        "purpose": "跨境购物订单履行",
        "persons_in_flow": 200,
        "profile": PLAIN,
        "domestic_pi": True,
    }
    base.update(over)
    return evaluate_exemption(c, **base)


# --- packs --------------------------------------------------------------------------------------------------


def test_packaged_packs_load_with_citations_and_dates() -> None:
    assert [p.id for p in PACKS] == ["cn_export_2022", "cn_export_2024"]
    assert P2024.source_document == "促进和规范数据跨境流动规定"
    assert P2024.effective_from == date(2024, 3, 22) and P2024.effective_until is None
    assert P2022.source_document == "数据出境安全评估办法"
    assert (P2022.effective_from, P2022.effective_until) == (date(2022, 9, 1), date(2024, 3, 21))
    assert P2024.counting_window.legal_basis.quote == "自当年1月1日起"
    assert P2022.counting_window.legal_basis.quote == "自上年1月1日起"
    assert P2024.assessment.validity_years == 3 and P2022.assessment.validity_years == 2
    assert P2024.assessment.renewal.legal_basis.quote == "在有效期届满前60个工作日内"
    assert P2024.exempted_flows_count_toward_totals is False
    for pack in PACKS:
        for t in pack.volume_thresholds:
            assert t.legal_basis.document and t.legal_basis.article and t.legal_basis.quote


def test_export_packs_are_not_read_by_the_incident_loader() -> None:
    assert all(p.id.startswith("cn_incident") for p in load_packs())


def test_pack_selection_by_local_date_across_2024_03_22() -> None:
    assert export_pack_for(datetime(2024, 3, 21, 23, 59, tzinfo=SH), PACKS).id == "cn_export_2022"
    assert export_pack_for(datetime(2024, 3, 22, 0, 0, tzinfo=SH), PACKS).id == "cn_export_2024"
    # 16:00 UTC on 03-21 is already 03-22 in Shanghai.
    assert export_pack_for(datetime(2024, 3, 21, 16, 0, tzinfo=ZoneInfo("UTC")), PACKS).id == "cn_export_2024"
    with pytest.raises(LookupError):
        export_pack_for(datetime(2022, 8, 31, 12, tzinfo=SH), PACKS)
    with pytest.raises(ValueError):
        export_pack_for(datetime(2025, 1, 1), PACKS)


def test_invalid_pack_names_file_and_field(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("id: Bad Id\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"bad\.yaml: invalid export rule pack: field 'id'"):
        load_export_packs(tmp_path, include_builtin=False)


def test_second_pack_from_a_directory_changes_the_result_without_code_changes(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "services/lib/flowwatch/rules/export_packs/cn_export_2024.yaml").read_text(
        encoding="utf-8"
    )
    text = text.replace("id: cn_export_2024", "id: cn_export_strict_2025")
    text = text.replace("effective_from: 2024-03-22", "effective_from: 2025-01-01")
    text = text.replace("at_least: 100000", "at_least: 50000")
    (tmp_path / "strict.yaml").write_text(text, encoding="utf-8")
    packs = load_export_packs(tmp_path)
    t = datetime(2025, 6, 1, tzinfo=SH)
    strict = export_pack_for(t, packs)
    assert strict.id == "cn_export_strict_2025"
    assert req(60_000, pack=P2024).required is NONE
    assert req(60_000, pack=strict).required is SC
    assert [c.threshold for c in crossings(strict, counts(49_999), counts(50_000))] == [50_000]
    assert window_id(strict, t) == "cn_export_strict_2025:2025"


# --- counting window ---------------------------------------------------------------------------------------


def test_2024_window_is_the_calendar_year_and_resets_on_1_january() -> None:
    dec31 = datetime(2025, 12, 31, 23, 59, 59, tzinfo=SH)
    jan1 = datetime(2026, 1, 1, 0, 0, tzinfo=SH)
    assert window_start(P2024, dec31) == datetime(2025, 1, 1, tzinfo=SH)
    assert window_start(P2024, jan1) == datetime(2026, 1, 1, tzinfo=SH)
    assert window_id(P2024, dec31) == "cn_export_2024:2025"
    assert window_id(P2024, jan1) == "cn_export_2024:2026"
    assert years_in_window(P2024, jan1) == (2026,)


def test_2022_window_spans_two_calendar_years_and_its_id_changes_every_1_january() -> None:
    t = datetime(2026, 2, 1, tzinfo=SH)
    assert window_start(P2022, t) == datetime(2025, 1, 1, tzinfo=SH)
    assert window_start(P2022, t).tzinfo is not None
    assert years_in_window(P2022, t) == (2025, 2026)
    assert window_id(P2022, datetime(2025, 12, 31, 23, 59, tzinfo=SH)) == "cn_export_2022:2024-2025"
    assert window_id(P2022, datetime(2026, 1, 1, tzinfo=SH)) == "cn_export_2022:2025-2026"


def test_person_exported_2025_06_01_still_counts_on_2026_02_01_under_2022_not_2024() -> None:
    exported = datetime(2025, 6, 1, 10, tzinfo=SH)
    later = datetime(2026, 2, 1, 10, tzinfo=SH)
    last_year = exported.year
    assert year_in_window(P2022, later, last_year)
    assert not year_in_window(P2024, later, last_year)
    assert not year_in_window(P2022, datetime(2027, 1, 1, tzinfo=SH), last_year)  # dropped after two years


def test_window_uses_shanghai_local_date() -> None:
    t = datetime(2025, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC"))  # 2026-01-01 00:30 in Shanghai
    assert window_id(P2024, t) == "cn_export_2024:2026"


# --- required mechanism: exact thresholds (以上 includes the number) ---------------------------------------


@pytest.mark.parametrize(
    ("persons", "sensitive", "expected"),
    [
        (0, 0, NONE),
        (99_999, 0, NONE),
        (100_000, 0, SC),
        (999_999, 0, SC),
        (1_000_000, 0, SA),
        (0, 1, SC),
        (0, 9_999, SC),
        (0, 10_000, SA),
        (99_999, 9_999, SC),
    ],
)
def test_2024_thresholds(persons: int, sensitive: int, expected: Mechanism) -> None:
    r = req(persons, sensitive)
    assert r.required is expected
    assert r.pack_id == "cn_export_2024"


def test_2024_sc_band_is_satisfied_by_sc_certification_or_assessment() -> None:
    r = req(100_000)
    assert r.satisfied_by == [SC, CERT, SA]
    assert r.citations[0].article == "Art. 8"
    assert any("100,000" in reason for reason in r.reasons)
    assert [c.article for c in r.always] == ["Art. 10", "Art. 39", "Art. 55(4)"]


def test_one_sensitive_person_needs_sc_under_2024() -> None:
    r = req(0, 1)
    assert r.required is SC
    assert "sensitive_persons" in r.reasons[0]


def test_below_100k_is_exempt_under_art_5_4() -> None:
    r = req(99_999)
    assert r.required is NONE and r.satisfied_by == [NONE]
    assert r.citations[0].article == "Art. 5(4)"


def test_assessment_thresholds_cite_art_7() -> None:
    r = req(1_000_000, 10_000)
    assert r.required is SA and r.satisfied_by == [SA]
    assert {c.article for c in r.citations} == {"Art. 7(2)"}
    assert len(r.reasons) == 2


def test_ciio_exporting_one_person_needs_assessment() -> None:
    r = req(1, profile=CIIO)
    assert r.required is SA
    assert r.citations[0].article == "Art. 7(1)"


def test_important_data_with_one_person_needs_assessment() -> None:
    r = req(1, important_data=True)
    assert r.required is SA and r.satisfied_by == [SA]
    assert "important data" in r.reasons[0]


def test_no_pi_no_important_data_needs_nothing() -> None:
    r = req(0, has_pi=False)
    assert r.required is NONE and r.citations[0].article == "Art. 3"
    assert req(0, has_pi=False, important_data=True).required is SA


def test_2022_thresholds_and_processor_size() -> None:
    assert req(1, pack=P2022).required is SC  # PIPL Art. 38: no de-minimis before 2024
    assert req(1, pack=P2022).citations[0].article == "Art. 38 para 1"
    assert req(99_999, pack=P2022).required is SC
    assert req(100_000, pack=P2022).required is SA
    assert req(0, 9_999, pack=P2022).required is SC
    assert req(0, 10_000, pack=P2022).required is SA
    big = ProcessorProfile(processor_id="big", processes_over_1m_persons=True)
    assert req(1, pack=P2022, profile=big).required is SA
    assert req(1, pack=P2024, profile=big).required is NONE  # dropped in 2024
    assert req(1, pack=P2022, profile=CIIO).required is SA


def test_2022_counts_all_persons_union() -> None:
    # Art. 4(3) counts "10万人个人信息" (any PI). Without the exact union, persons + sensitive is the bound.
    r = required_mechanism(P2022, counts(60_000, 9_000), PLAIN, important_data=False, has_pi=True)
    assert r.required is SC
    r = required_mechanism(P2022, counts(95_000, 9_000), PLAIN, False, True)
    assert r.required is SA and "upper bound" in r.reasons[0]
    r = required_mechanism(P2022, counts(95_000, 9_000, all_persons=99_000), PLAIN, False, True)
    assert r.required is SC


def test_gba_contract_accepted_for_eligible_processor_but_not_with_important_data_or_ciio() -> None:
    assert req(100_000, profile=SZ).satisfied_by == [SC, CERT, SA, GBA]
    assert req(1_000_000, profile=SZ).satisfied_by == [SA, GBA]
    assert GBA not in req(1, profile=SZ, important_data=True).satisfied_by
    sz_ciio = ProcessorProfile(processor_id="sz-ciio", gba_city="Shenzhen", ciio=True)
    assert GBA not in req(1, profile=sz_ciio).satisfied_by
    assert GBA not in req(1, pack=P2022, profile=SZ, on=date(2023, 12, 9)).satisfied_by
    assert GBA in req(1, pack=P2022, profile=SZ, on=date(2023, 12, 10)).satisfied_by


def test_profile_rejects_places_outside_the_gba() -> None:
    assert SZ.gba_city == "Shenzhen" and HKP.gba_city == "HK"
    # Macau is a GBA place since the Mainland–Macau guideline (2024-09-10): see test_law_cross_border.py
    assert ProcessorProfile(processor_id="x", gba_city="澳门").gba_city == "MO"
    for bad in ("Beijing", "Taipei", "台北"):
        with pytest.raises(ValueError):
            ProcessorProfile(processor_id="x", gba_city=bad)


# --- crossings ----------------------------------------------------------------------------------------------


def test_crossings_at_exact_thresholds() -> None:
    assert crossings(P2024, counts(99_998), counts(99_999)) == []
    [c] = crossings(P2024, counts(99_999), counts(100_000))
    assert (c.threshold_id, c.threshold, c.before, c.after, c.requires) == (
        "sc_non_sensitive",
        100_000,
        99_999,
        100_000,
        SC,
    )
    assert c.citation.article == "Art. 8"
    [c] = crossings(P2024, counts(999_999), counts(1_000_000))
    assert c.threshold == 1_000_000 and c.requires is SA
    [c] = crossings(P2024, counts(0, 9_999), counts(0, 10_000))
    assert (c.metric, c.threshold, c.requires) == ("sensitive_persons", 10_000, SA)
    assert crossings(P2024, counts(100_000), counts(100_001)) == []  # already crossed before


def test_crossings_several_in_one_update_and_the_first_sensitive_person() -> None:
    got = crossings(P2024, counts(0, 0), counts(1_000_000, 10_000))
    assert [c.threshold_id for c in got] == [
        "sc_non_sensitive",
        "sc_sensitive",
        "assessment_non_sensitive",
        "assessment_sensitive",
    ]


def test_crossings_2022() -> None:
    [c] = crossings(P2022, counts(99_999, all_persons=99_999), counts(100_000, all_persons=100_000))
    assert (c.metric, c.threshold, c.exact) == ("all_persons", 100_000, True)
    [c] = crossings(P2022, counts(0, 9_999, all_persons=9_999), counts(0, 10_000, all_persons=10_000))
    assert (c.metric, c.threshold) == ("sensitive_persons", 10_000)


# --- exemptions ---------------------------------------------------------------------------------------------


def test_no_claim() -> None:
    d = claim(None)
    assert d.outcome == "not_claimed" and d.counts_toward_totals


def test_contract_claim_honoured() -> None:
    d = claim(ExemptionClaim.ART5_1_CONTRACT)
    assert d.outcome == "honoured" and "跨境购物" in d.reason
    assert d.citation is not None and d.citation.article == "Art. 5(1)"
    assert d.counts_toward_totals is False  # pack default exempted_flows_count_toward_totals: false
    d = claim(ExemptionClaim.ART5_1_CONTRACT, purpose="hotel booking", recipient_type="hotel")
    assert d.outcome == "honoured"


def test_contract_claim_on_10000_persons_to_analytics_is_doubtful() -> None:
    d = claim(
        ExemptionClaim.ART5_1_CONTRACT,
        recipient_type="analytics",
        purpose="跨境购物",
        persons_in_flow=CONTRACT_CLAIM_DOUBTFUL_PERSONS,
    )
    assert d.outcome == "doubtful" and "analytics" in d.reason
    assert d.counts_toward_totals is True
    d = claim(
        ExemptionClaim.ART5_1_CONTRACT, recipient_type="merchant", purpose="user profiling", persons_in_flow=10_000
    )
    assert d.outcome == "doubtful" and "none of the contract kinds" in d.reason
    # Same facts below the batch size: one signal alone is honoured, both together are doubtful.
    assert (
        claim(ExemptionClaim.ART5_1_CONTRACT, recipient_type="analytics", persons_in_flow=9_999).outcome == "honoured"
    )
    both = claim(ExemptionClaim.ART5_1_CONTRACT, recipient_type="Data Broker", purpose="resale", persons_in_flow=5)
    assert both.outcome == "doubtful"


def test_purpose_aliases_match_whole_words_only() -> None:
    # "cross-border" contains "order" but is not an order.
    d = claim(ExemptionClaim.ART5_1_CONTRACT, purpose="cross-border analytics", persons_in_flow=10_000)
    assert d.outcome == "doubtful"


def test_art5_claims_refused_with_important_data() -> None:
    for c in (ExemptionClaim.ART5_1_CONTRACT, ExemptionClaim.ART5_2_HR, ExemptionClaim.ART5_3_EMERGENCY):
        d = claim(c, important_data=True)
        assert d.outcome == "refused"
        assert d.citation is not None and d.citation.quote == "不包括重要数据"


def test_art3_only_without_pi_and_art4_only_without_domestic_pi() -> None:
    assert claim(ExemptionClaim.ART3_TRADE_NO_PI).outcome == "refused"
    assert claim(ExemptionClaim.ART3_TRADE_NO_PI, has_pi=False).outcome == "honoured"
    assert claim(ExemptionClaim.ART3_TRADE_NO_PI, has_pi=False, important_data=True).outcome == "refused"
    assert claim(ExemptionClaim.ART4_FOREIGN_ORIGIN_REEXPORT).outcome == "refused"
    assert claim(ExemptionClaim.ART4_FOREIGN_ORIGIN_REEXPORT, domestic_pi=False).outcome == "honoured"


def test_art5_4_only_non_ciio_below_100k_and_no_sensitive() -> None:
    ok = claim(ExemptionClaim.ART5_4_BELOW_100K, counts_after=counts(99_999))
    assert ok.outcome == "honoured" and ok.counts_toward_totals is True
    assert claim(ExemptionClaim.ART5_4_BELOW_100K, counts_after=counts(100_000)).outcome == "refused"
    assert claim(ExemptionClaim.ART5_4_BELOW_100K, counts_after=counts(10, 1)).outcome == "refused"
    assert claim(ExemptionClaim.ART5_4_BELOW_100K, counts_after=counts(10), profile=CIIO).outcome == "refused"
    assert claim(ExemptionClaim.ART5_4_BELOW_100K).outcome == "doubtful"  # cumulative counts not supplied


def test_ciio_may_use_art5_1_to_3() -> None:
    assert claim(ExemptionClaim.ART5_1_CONTRACT, profile=CIIO).outcome == "honoured"


def test_art6_only_in_a_free_trade_zone() -> None:
    assert claim(ExemptionClaim.ART6_FTZ_OUTSIDE_NEGATIVE_LIST).outcome == "refused"
    ftz = ProcessorProfile(processor_id="sh-ftz", free_trade_zone="中国（上海）自由贸易试验区")
    d = claim(ExemptionClaim.ART6_FTZ_OUTSIDE_NEGATIVE_LIST, profile=ftz)
    assert d.outcome == "honoured" and d.notes
    assert claim(ExemptionClaim.ART6_FTZ_OUTSIDE_NEGATIVE_LIST, profile=ftz, important_data=True).outcome == "doubtful"


def test_emergency_and_hr_plausibility() -> None:
    assert claim(ExemptionClaim.ART5_3_EMERGENCY, persons_in_flow=3).outcome == "honoured"
    assert claim(ExemptionClaim.ART5_3_EMERGENCY, persons_in_flow=5_000).outcome == "doubtful"
    assert claim(ExemptionClaim.ART5_2_HR, recipient_type="hr_system").outcome == "honoured"
    assert claim(ExemptionClaim.ART5_2_HR, recipient_type="advertising").outcome == "doubtful"


def test_no_exemptions_under_the_2022_measures() -> None:
    d = claim(ExemptionClaim.ART5_1_CONTRACT, pack=P2022)
    assert d.outcome == "refused" and "no exemptions" in d.reason


def test_exempted_flows_count_flag_is_data() -> None:
    pack = P2024.model_copy(update={"exempted_flows_count_toward_totals": True})
    assert claim(ExemptionClaim.ART5_1_CONTRACT, pack=pack).counts_toward_totals is True


# --- mechanisms on file, expiry and renewal in PRC working days -----------------------------------------------


def sa(**over: Any) -> FiledMechanism:
    base: dict[str, Any] = {"id": "sa-1", "type": SA, "issued_on": date(2022, 11, 14)}
    base.update(over)
    return FiledMechanism(**base)


def test_assessment_validity() -> None:
    assert assessment_expiry(P2024, date(2022, 11, 14)) == date(2025, 11, 14)
    assert assessment_expiry(P2022, date(2022, 11, 14)) == date(2024, 11, 14)
    assert assessment_expiry(P2024, date(2024, 2, 29)) == date(2027, 2, 28)


def test_renewal_window_counted_in_prc_working_days_across_national_day() -> None:
    # 60 working days before 2025-11-14 skip the six weekdays of the 2025-10-01..08 holiday and count the two
    # make-up days, so the window opens on 2025-08-18 — a Monday–Friday count would give 2025-08-22.
    assert renewal_window_opens(date(2025, 11, 14), 60) == (date(2025, 8, 18), True)
    r = req(1_000_000)
    filed = [sa()]  # expiry derived: 3 years → 2025-11-14
    assert mechanism_on_file(r, filed, date(2025, 8, 15), "Acme US", "US").status == "ok"
    check = mechanism_on_file(r, filed, date(2025, 8, 18), "Acme US", "US")
    assert check.status == "in_renewal_window" and check.renewal_window_opens == date(2025, 8, 18)
    assert check.expires_on == date(2025, 11, 14) and check.calendar_known
    assert check.citation is not None and check.citation.article == "Art. 9"
    assert mechanism_on_file(r, filed, date(2025, 8, 20), "Acme US", "US").status == "in_renewal_window"
    assert mechanism_on_file(r, filed, date(2025, 11, 14), "Acme US", "US").status == "in_renewal_window"
    expired = mechanism_on_file(r, filed, date(2025, 11, 15), "Acme US", "US")
    assert expired.status == "expired" and expired.mechanism_id == "sa-1"


def test_renewal_window_flags_unknown_calendar() -> None:
    check = mechanism_on_file(req(1_000_000), [sa(expires_on=date(2031, 6, 30))], date(2031, 5, 1), None, "US")
    assert check.status == "in_renewal_window" and not check.calendar_known
    assert any("2031" in n for n in check.notes)


def test_2022_renewal_is_a_reapplication_deadline() -> None:
    r = req(100_000, pack=P2022)
    check = mechanism_on_file(r, [sa(expires_on=date(2024, 11, 14))], date(2024, 11, 1), None, "US")
    assert check.status == "in_renewal_window" and "re-application was due" in check.reason


def test_missing_scope_and_type() -> None:
    r = req(1_000_000)
    sc_only = FiledMechanism(id="sc-1", type=SC, issued_on=date(2025, 1, 1))
    assert mechanism_on_file(r, [sc_only], date(2025, 6, 1), "Acme", "US").status == "missing"
    scoped = sa(scope_recipients=["ACME Corp."], scope_regions=["US"], expires_on=date(2028, 1, 1))
    assert mechanism_on_file(r, [scoped], date(2025, 6, 1), "acme corp", "US-CA").status == "ok"
    assert mechanism_on_file(r, [scoped], date(2025, 6, 1), "Other Ltd", "US").status == "missing"
    assert mechanism_on_file(r, [scoped], date(2025, 6, 1), "acme corp", "JP").status == "missing"
    withdrawn = sa(status="withdrawn", expires_on=date(2028, 1, 1))
    assert mechanism_on_file(r, [withdrawn], date(2025, 6, 1), None, "US").status == "missing"


def test_sc_band_accepts_certification_and_prefers_a_valid_filing() -> None:
    r = req(100_000)
    cert = FiledMechanism(id="cert-1", type=CERT, issued_on=date(2024, 1, 1))
    old = sa(id="sa-old", expires_on=date(2024, 1, 1))
    check = mechanism_on_file(r, [old, cert], date(2025, 6, 1), "x", "DE")
    assert (check.status, check.mechanism_id) == ("ok", "cert-1")
    assert mechanism_on_file(req(10), [], date(2025, 6, 1), "x", "DE").status == "ok"  # nothing required


# --- GBA standard contract ------------------------------------------------------------------------------------


def test_gba_shenzhen_to_hong_kong_ok() -> None:
    assert gba_check(SZ, "HK", None, [], GBA) is None
    assert gba_check(SZ, "HK", None, ["HK", "Guangzhou"], GBA) is None
    assert gba_check(HKP, "CN-GD", "深圳", [], GBA) is None


def test_gba_refusals() -> None:
    macau = gba_check(SZ, "MO", None, [], GBA)
    assert macau is not None and "Macau" in macau
    beijing = gba_check(PLAIN, "HK", None, [], GBA)  # processor registered in Beijing: no gba_city
    assert beijing is not None and "not registered" in beijing
    onward = gba_check(SZ, "HK", None, ["US"], GBA)
    assert onward is not None and "onward" in onward and "US" in onward
    assert gba_check(SZ, "US", None, [], GBA) is not None
    assert gba_check(HKP, "CN-BJ", "Beijing", [], GBA) is not None
    imp = gba_check(SZ, "HK", None, [], GBA, important_data=True)
    assert imp is not None and "important data" in imp
    assert gba_check(PLAIN, "US", None, ["RU"], SC) is None  # not a GBA flow: nothing to check


# --- restriction list (PIPL Art. 42) ------------------------------------------------------------------------


def test_restricted_recipient_normalised_names() -> None:
    blocked = ["Evil Data Co., Ltd.", "坏数据公司"]
    assert restricted_recipient("EVIL DATA CO LTD", blocked)
    assert restricted_recipient("ＥＶＩＬ　Data Co. Ltd", blocked)  # full-width
    assert restricted_recipient("坏数据公司", blocked)
    assert not restricted_recipient("Evil Data Holdings", blocked)
    assert not restricted_recipient(None, blocked)
    assert not restricted_recipient("...", ["!!!"])
