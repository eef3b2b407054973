"""The law in force for incidents (docs/law.md): the 2025 Reporting Measures (grades, 1/2/4 hours from
``detected_at``, supplementary and 30-day summary reports), Decree 790, PIPL Art. 57, and the draft's clocks
kept as policy — with the boundaries the issue names: exactly 1,000,000 persons, 4 h vs 8 h, detected
late, the 30th day, the holiday fallback and a pack's first and last day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowwatch.exports.rules import ProcessorProfile
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.alerts import due_alerts, lead_time
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import load_packs, packs_for
from flowwatch.rules.obligations import IncidentFacts, Obligation, compute_obligations

SH = ZoneInfo("Asia/Shanghai")
PACKS = load_packs(include_policy=True)
BY_ID = {p.id: p for p in PACKS}
MEASURES = BY_ID["cn_incident_reporting_2025"]
DECREE = BY_ID["cn_incident_ndsr_2025"]
DRAFT = BY_ID["cn_incident_draft_2021"]
T0 = datetime(2026, 3, 3, 9, 0, tzinfo=SH)  # a Tuesday, no holiday near


def facts(**over: Any) -> IncidentFacts:
    base: dict[str, Any] = {
        "incident_id": "inc-1", "occurred_at": T0, "detected_at": T0 + timedelta(hours=1),
        "persons": 1_000_000, "persons_basis": "counted", "important_data": False, "harm_to_individuals": True,
        "cii_operator": False, "central_state_organ": False,
    }  # fmt: skip
    base.update(over)
    return IncidentFacts(**base)


def ob(f: IncidentFacts, oid: str, pack: Any = MEASURES, as_of: datetime | None = None) -> Obligation:
    return next(o for o in compute_obligations(pack, f, as_of or f.detected_at) if o.id == oid)


# --- packs: kinds, windows, the policy setting --------------------------------------------------------------


def test_every_pack_says_law_or_policy_and_the_draft_is_policy() -> None:
    assert {p.id: p.kind for p in PACKS} == {
        "cn_incident_pipl_2021": "law", "cn_incident_draft_2021": "policy", "cn_incident_ndsr_2025": "law",
        "cn_incident_reporting_2025": "law"}  # fmt: skip
    assert DECREE.effective_from == date(2025, 1, 1) and MEASURES.effective_from == date(2025, 11, 1)
    assert MEASURES.selected_by == "detected_at"
    assert all(r.legal_basis.article for p in PACKS for r in p.obligations)


def test_policy_packs_follow_the_deployment_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "cn_incident_draft_2021" in {p.id for p in load_packs()}  # default on
    monkeypatch.setenv("FLOWWATCH_POLICY_PACKS", "false")
    assert "cn_incident_draft_2021" not in {p.id for p in load_packs()}
    assert {p.kind for p in load_packs()} == {"law"}


def test_measures_first_day_is_selected_by_detection_not_occurrence() -> None:
    occurred = datetime(2025, 10, 31, 20, 0, tzinfo=SH)
    last_day = [p.id for p, _ in packs_for(occurred, PACKS, datetime(2025, 10, 31, 23, 59, 59, tzinfo=SH))]
    first_day = [p.id for p, _ in packs_for(occurred, PACKS, datetime(2025, 11, 1, 0, 0, tzinfo=SH))]
    assert "cn_incident_reporting_2025" not in last_day
    assert "cn_incident_reporting_2025" in first_day
    # the reason records the instant that selected each pack and the window
    reasons = dict((p.id, r) for p, r in packs_for(occurred, PACKS, datetime(2025, 11, 1, 0, 0, tzinfo=SH)))
    assert "detected_at local date 2025-11-01" in reasons["cn_incident_reporting_2025"]
    assert "occurred_at local date 2025-10-31" in reasons["cn_incident_ndsr_2025"]
    assert reasons["cn_incident_draft_2021"].startswith("Flowwatch policy (not binding law)")


PACK_ENDING = """
id: test_ending
kind: law
title: A pack with a last day
source_document: 测试办法
effective_from: 2025-01-01
effective_until: 2026-06-30
obligations:
  - id: regulator_report
    trigger: {always: true}
    clock_starts_at: detected_at
    period: {hours: 12}
    recipients: [测试部门]
    legal_basis: {document: 测试办法, article: Art. 1}
"""


def test_a_pack_applies_on_its_last_day_and_not_after(tmp_path: Path) -> None:
    (tmp_path / "ending.yaml").write_text(PACK_ENDING, encoding="utf-8")
    packs = load_packs(tmp_path)
    on_last = datetime(2026, 6, 30, 23, 59, 59, tzinfo=SH)
    after = datetime(2026, 7, 1, 0, 0, tzinfo=SH)
    assert "test_ending" in [p.id for p, _ in packs_for(on_last, packs, on_last)]
    assert "test_ending" not in [p.id for p, _ in packs_for(after, packs, after)]
    # 2026-06-30 16:00 UTC is already 2026-07-01 in Shanghai: the local date decides
    utc = datetime(2026, 6, 30, 16, 0, tzinfo=ZoneInfo("UTC"))
    assert "test_ending" not in [p.id for p, _ in packs_for(utc, packs, utc)]


def test_draft_policy_pack_has_no_end_and_applies_after_2025() -> None:
    at = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
    assert DRAFT.effective_until is None
    assert "cn_incident_draft_2021" in [p.id for p, _ in packs_for(at, PACKS, at)]


# --- grades: 以上 includes the number ------------------------------------------------------------------------


@pytest.mark.parametrize(("persons", "grade"), [
    (999_999, "一般"), (1_000_000, "较大"), (9_999_999, "较大"), (10_000_000, "重大"),
    (99_999_999, "重大"), (100_000_000, "特别重大"),
])  # fmt: skip
def test_grade_thresholds(persons: int, grade: str) -> None:
    got, reason = MEASURES.grade_of(persons)
    assert got == grade and f"{persons:,} persons" in reason


def test_exactly_1000000_persons_is_reportable_999999_is_not() -> None:
    at = ob(facts(persons=1_000_000), "regulator_report")
    assert at.triggered and at.grade == "较大" and at.binding and at.pack_kind == "law"
    below = ob(facts(persons=999_999), "regulator_report")
    assert not below.triggered and below.status == "not_applicable" and below.grade == "一般"
    assert "grade 一般 < 较大" in below.trigger_reason


# --- 1/2/4 hours from detected_at; 4 h (law) vs 8 h (policy) -----------------------------------------------


@pytest.mark.parametrize(("flags", "hours", "recipient", "article"), [
    ({"cii_operator": True}, 1, "保护工作部门", "Art. 4 para 2"),
    ({"central_state_organ": True}, 2, "本部门网信工作机构", "Art. 4 para 3"),
    ({}, 4, "属地省级网信部门", "Art. 4 para 4"),
])  # fmt: skip
def test_report_hours_by_reporting_class(flags: dict[str, bool], hours: int, recipient: str, article: str) -> None:
    f = facts(**flags)
    o = ob(f, "regulator_report")
    assert o.clock_started_by == "detected_at" and o.clock_start == f.detected_at
    assert o.due_at == f.detected_at + timedelta(hours=hours)
    assert recipient in o.recipients and o.legal_basis.article == article and o.legal_basis.quote


def test_cii_flag_wins_over_central_organ() -> None:
    o = ob(facts(cii_operator=True, central_state_organ=True), "regulator_report")
    assert o.operator_class == "cii_operator" and o.period == "1 hours"


def test_unknown_profile_is_treated_as_other_and_says_so() -> None:
    o = ob(facts(cii_operator=None, central_state_organ=None), "regulator_report")
    assert o.due_at == o.clock_start + timedelta(hours=4)  # type: ignore[operator]
    assert any("no processor profile" in n for n in o.notes)


def test_4_hours_of_law_beside_8_hours_of_policy() -> None:
    # 1,000,000 persons: the law's 4 h from detection and the policy's 8 h from occurrence, both recorded
    f = facts(persons=1_000_000, detected_at=T0 + timedelta(hours=1))
    law = ob(f, "regulator_report")
    policy = ob(f, "regulator_report", pack=DRAFT)
    assert law.due_at == T0 + timedelta(hours=5) and law.binding
    assert policy.due_at == T0 + timedelta(hours=8) and not policy.binding and policy.pack_kind == "policy"
    # at 4 h 59 min the law's report is pending, at 5 h it is overdue; the policy one still pending
    assert ob(f, "regulator_report", as_of=T0 + timedelta(hours=4, minutes=59)).status == "pending"
    assert ob(f, "regulator_report", as_of=T0 + timedelta(hours=5)).status == "overdue"
    assert ob(f, "regulator_report", pack=DRAFT, as_of=T0 + timedelta(hours=5)).status == "pending"


def test_detected_late_the_law_clock_runs_from_detection() -> None:
    # occurred 3 days before it was detected: the policy's 8 h had passed at detection, the law's 4 h has not
    f = facts(occurred_at=T0 - timedelta(days=3), detected_at=T0)
    law = ob(f, "regulator_report")
    policy = ob(f, "regulator_report", pack=DRAFT)
    assert law.due_at == T0 + timedelta(hours=4) and not law.late_at_detection and law.status == "pending"
    assert policy.late_at_detection and policy.status == "overdue"


# --- supplementary report (Art. 7 para 2) and the 30-day summary (Art. 8) ----------------------------------


def test_supplementary_report_when_first_report_lacked_items() -> None:
    complete = ob(facts(reported_at=T0 + timedelta(hours=2)), "supplementary_report")
    assert not complete.triggered
    lacking = ob(facts(reported_at=T0 + timedelta(hours=2), report_incomplete=True), "supplementary_report")
    assert lacking.triggered and lacking.clock_start == T0 + timedelta(hours=2)
    assert lacking.due_at is None and lacking.period.startswith("immediately") and lacking.open_questions
    assert lacking.legal_basis.article == "Art. 7 para 2"


def test_summary_report_due_at_the_end_of_the_30th_day() -> None:
    done = datetime(2026, 3, 1, 15, 0, tzinfo=SH)  # Sunday; day 30 = Tuesday 2026-03-31
    o = ob(facts(handling_completed_at=done), "summary_report")
    assert o.due_at == datetime(2026, 4, 1, 0, 0, tzinfo=SH) and not o.estimated
    assert ob(facts(handling_completed_at=done), "summary_report",
              as_of=datetime(2026, 3, 31, 23, 59, 59, tzinfo=SH)).status == "pending"  # fmt: skip
    assert ob(facts(handling_completed_at=done), "summary_report",
              as_of=datetime(2026, 4, 1, 0, 0, tzinfo=SH)).status == "overdue"  # fmt: skip


def test_summary_30th_day_on_a_holiday_moves_to_the_next_working_day() -> None:
    # handling ends 2026-09-01: day 30 is 2026-10-01 (National Day); holidays 10-01..10-07 (chinese_calendar)
    o = ob(facts(handling_completed_at=datetime(2026, 9, 1, 10, 0, tzinfo=SH)), "summary_report")
    assert o.due_at == datetime(2026, 10, 9, 0, 0, tzinfo=SH)  # end of Thursday 2026-10-08
    assert any("Civil Code Art. 203" in n for n in o.notes)


def test_summary_not_started_before_handling_completes() -> None:
    o = ob(facts(), "summary_report")
    assert o.triggered and o.clock_start is None and o.due_at is None and o.status == "pending"


# --- Decree 790 and PIPL Art. 57: no figures, so no invented deadlines ---------------------------------------


def test_decree_790_notice_is_prompt_with_channels_and_no_figure() -> None:
    o = ob(facts(), "notify_individuals", pack=DECREE)
    assert o.binding and o.due_at is None and o.legal_basis.article == "Art. 11 para 2"
    assert o.channels == ["phone", "sms", "im", "email", "public_announcement"]
    waived = ob(facts(waivers={"notify_individuals": "measures avoid harm"}), "notify_individuals", pack=DECREE)
    assert waived.status == "waived"


def test_decree_790_art_10_defect_report_24_hours() -> None:
    assert not ob(facts(), "vulnerability_report", pack=DECREE).triggered
    o = ob(facts(security_defect=True), "vulnerability_report", pack=DECREE)
    assert o.due_at == T0 + timedelta(hours=25) and o.legal_basis.article == "Art. 10"


# --- the holiday fallback: incident on 2026-12-30 → notice after 2027-01-01 is skipped -----------------------


def test_holiday_fallback_notice_of_2026_12_30_skips_new_year_2027_and_is_estimated() -> None:
    day = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
    f = facts(occurred_at=day, detected_at=day + timedelta(hours=1))
    o = ob(f, "notify_individuals", pack=DRAFT)
    # 12-31 (1), 2027-01-01 元旦 skipped, Mon 01-04 (2), Tue 01-05 (3) → 24:00 of 2027-01-05
    assert o.due_at == datetime(2027, 1, 6, 0, 0, tzinfo=SH)
    assert o.estimated and not o.calendar_known
    assert any("2027" in n and "estimated" in n for n in o.notes)


# --- the record and the alerts: law apart from policy --------------------------------------------------------


def _state(**kw: Any) -> IncidentState:
    base: dict[str, Any] = {"processor_id": "p-1", "incident_id": "inc-9", "update_id": "e1", "source": "event",
                            "received_at": T0 + timedelta(hours=1), "occurred_at": T0,
                            "detected_at": T0 + timedelta(hours=1), "type": "leak", "status": "occurred",
                            "harm_to_individuals": True, "affected_subject_count": 1_000_000}
    base.update(kw)
    u = IncidentUpdate.model_validate(base)
    state = IncidentState.new(u)
    state.apply(u, SetPersonStore())
    return state


def test_record_carries_grade_packs_and_both_kinds_of_obligation() -> None:
    profile = ProcessorProfile(processor_id="p-1", ciio=True)
    record = build_record(_state(), PACKS, T0 + timedelta(hours=1), profile)
    assert record.grade == "较大" and "1,000,000 persons >= 1,000,000" in (record.grade_reason or "")
    assert [p.kind for p in record.packs] == ["law", "law", "law", "policy"]
    assert record.pack_ids[-1] == "cn_incident_draft_2021"
    reports = [o for o in record.obligations if o.id == "regulator_report" and o.triggered]
    assert {(o.pack_id, o.binding) for o in reports} == {
        ("cn_incident_pipl_2021", True), ("cn_incident_reporting_2025", True), ("cn_incident_draft_2021", False)}
    law = next(o for o in reports if o.pack_id == "cn_incident_reporting_2025")
    assert law.due_at == T0 + timedelta(hours=2) and law.operator_class == "cii_operator"
    assert all(o.applies_reason for o in record.obligations)


def test_alerts_name_law_or_policy_and_do_not_collide_between_packs() -> None:
    state = _state()
    now = T0 + timedelta(hours=3)  # law report (4 h from detection → T0+5h) due soon (2 h lead)
    record = build_record(state, PACKS, now)
    alerts = due_alerts(state, record.obligations, None, now)
    law = [a for a in alerts if a.rule_pack == "cn_incident_reporting_2025"]
    assert [a.type for a in law] == ["obligation_due_soon"] and law[0].title.startswith("[law]")
    assert "binding law" in law[0].message and "国家网络安全事件报告管理办法" in law[0].message
    keys = [a.dedup_key for a in alerts]
    assert len(keys) == len(set(keys))
    later = T0 + timedelta(hours=8)
    state.alerts_raised.extend(keys)
    more = due_alerts(state, build_record(state, PACKS, later).obligations, None, later)
    assert {(a.rule_pack, a.type) for a in more} == {
        ("cn_incident_reporting_2025", "obligation_overdue"), ("cn_incident_draft_2021", "obligation_overdue")}
    assert all(a.dedup_key not in keys for a in more)


def test_lead_time_of_the_1_hour_report_is_half_an_hour() -> None:
    o = ob(facts(cii_operator=True), "regulator_report")
    assert lead_time(o) == timedelta(minutes=30)
    assert lead_time(ob(facts(), "regulator_report")) == timedelta(hours=2)


def test_report_made_before_the_cause_was_known_needs_a_supplement() -> None:
    state = _state(reported_at=T0 + timedelta(hours=2))
    record = build_record(state, PACKS, T0 + timedelta(hours=3))
    sup = next(o for o in record.obligations if o.id == "supplementary_report")
    assert sup.triggered and sup.status == "pending"
    later = IncidentUpdate(processor_id="p-1", incident_id="inc-9", update_id="e2", source="event",
                           received_at=T0 + timedelta(hours=1, minutes=30), cause="弱口令", measures_taken="已封禁")
    state2 = _state(reported_at=T0 + timedelta(hours=2))
    state2.apply(later, SetPersonStore())
    sup2 = next(o for o in build_record(state2, PACKS, T0 + timedelta(hours=3)).obligations
                if o.id == "supplementary_report")  # fmt: skip
    assert not sup2.triggered  # both items were known before the report was made
