"""Incident obligations under the policy pack (the 2021 draft Network Data Security Regulations' Art. 11
clocks), and pack selection. The law in force is tested in test_law_*.py.

Calendar facts used (chinesecalendar 1.11.0, see test_workdays.py): 2025 National Day holiday 10-01..10-08,
make-up Saturday 2025-10-11; New Year 2026 holiday 01-01..01-03, make-up Sunday 2026-01-04; no data for 2031.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from flowwatch.rules import IncidentFacts, Obligation, PackError, compute_obligations, load_packs, pack_for

SH = ZoneInfo("Asia/Shanghai")
US = timedelta(microseconds=1)
PACKS = load_packs()
DRAFT = next(p for p in PACKS if p.id == "cn_incident_draft_2021")


def facts(**over: Any) -> IncidentFacts:
    base: dict[str, Any] = {
        "incident_id": "inc-1",
        "occurred_at": datetime(2025, 6, 3, 9, 30, tzinfo=SH),  # Tuesday, ordinary week
        "detected_at": datetime(2025, 6, 3, 10, 0, tzinfo=SH),
        "persons": 10,
        "persons_basis": "counted",
        "important_data": False,
        "harm_to_individuals": False,
    }
    base.update(over)
    return IncidentFacts(**base)


def ob(f: IncidentFacts, oid: str, as_of: datetime | None = None, pack: Any = DRAFT) -> Obligation:
    as_of = as_of or f.detected_at
    return next(o for o in compute_obligations(pack, f, as_of) if o.id == oid)


def test_packaged_pack_loads_with_citations() -> None:
    assert DRAFT.id == "cn_incident_draft_2021"
    assert DRAFT.source_document == "网络数据安全管理条例（征求意见稿）"
    rules = {r.id: r for r in DRAFT.obligations}
    assert rules["regulator_report"].legal_basis.article == "Art. 11 para 2(1)"
    assert rules["regulator_report"].recipients == ["设区的市级网信部门", "有关主管部门"]
    assert "已经或拟采取的处置措施" in rules["regulator_report"].report_contents
    assert rules["followup_report"].report_contents == ["事件原因", "危害后果", "责任处理", "改进措施"]
    assert rules["notify_individuals"].report_contents == ["安全事件和风险情况", "危害后果", "已经采取的补救措施"]


# --- trigger: 十万人以上 or important data (Art. 11 para 2) ------------------------------------------------


def test_99999_persons_no_regulator_report() -> None:
    o = ob(facts(persons=99_999), "regulator_report")
    assert not o.triggered and o.status == "not_applicable" and o.due_at is None
    assert "99,999" in o.trigger_reason
    assert ob(facts(persons=99_999), "followup_report").status == "not_applicable"


def test_exactly_100000_persons_triggers_report() -> None:
    o = ob(facts(persons=100_000), "regulator_report")
    assert o.triggered and o.status == "pending"
    assert "100,000" in o.trigger_reason
    assert o.legal_basis.article == "Art. 11 para 2(1)" and o.pack_id == "cn_incident_draft_2021"


def test_important_data_with_10_persons_triggers_report() -> None:
    o = ob(facts(persons=10, important_data=True), "regulator_report")
    assert o.triggered and o.trigger_reason == "important data involved"


def test_no_harm_no_notice_to_individuals() -> None:
    assert ob(facts(), "notify_individuals").status == "not_applicable"


# --- 8-hour report: exact instant from occurred_at ------------------------------------------------------------


def test_regulator_report_due_exactly_8_hours_after_occurrence() -> None:
    f = facts(important_data=True)
    o = ob(f, "regulator_report")
    due = datetime(2025, 6, 3, 17, 30, tzinfo=SH)
    assert o.clock_started_by == "occurred_at" and o.clock_start == f.occurred_at
    assert o.due_at == due
    assert ob(f, "regulator_report", due - US).status == "pending"
    assert ob(f, "regulator_report", due).status == "overdue"


def test_detection_after_8_hour_deadline_is_late_at_detection() -> None:
    f = facts(important_data=True, detected_at=datetime(2025, 6, 3, 18, 0, tzinfo=SH))
    o = ob(f, "regulator_report")
    assert o.late_at_detection and o.status == "overdue"
    assert not ob(facts(important_data=True), "regulator_report").late_at_detection


def test_due_at_is_instant_independent_of_input_offset() -> None:
    f = facts(important_data=True, occurred_at=datetime(2025, 6, 3, 1, 30, tzinfo=ZoneInfo("UTC")))
    assert ob(f, "regulator_report").due_at == datetime(2025, 6, 3, 17, 30, tzinfo=SH)


# --- follow-up report: 5 working days after handling completes --------------------------------------------


def test_followup_clock_not_started_before_handling_completes() -> None:
    o = ob(facts(persons=200_000), "followup_report")
    assert o.triggered and o.clock_started_by == "handling_completed_at"
    assert o.clock_start is None and o.due_at is None and o.status == "pending"


def test_followup_handling_completed_last_working_day_before_national_day() -> None:
    # 2025-09-30 (Tue) is the last working day before the 2025-10-01..08 holiday.
    # 10-09 (1), 10-10 (2), make-up Sat 10-11 (3), 10-13 (4), 10-14 (5) → 24:00 of 10-14.
    done = datetime(2025, 9, 30, 17, 0, tzinfo=SH)
    f = facts(
        persons=200_000,
        occurred_at=datetime(2025, 9, 29, 8, 0, tzinfo=SH),
        detected_at=datetime(2025, 9, 29, 9, 0, tzinfo=SH),
        handling_completed_at=done,
    )
    o = ob(f, "followup_report", datetime(2025, 10, 14, 23, 59, 59, tzinfo=SH))
    assert o.clock_start == done
    assert o.due_at == datetime(2025, 10, 15, 0, 0, tzinfo=SH)
    assert o.calendar_known and o.notes == []
    assert o.status == "pending"
    assert ob(f, "followup_report", datetime(2025, 10, 15, 0, 0, tzinfo=SH)).status == "overdue"


# --- notice to individuals: 3 working days from occurred_at -----------------------------------------------


def test_notice_window_counts_make_up_saturday() -> None:
    # Incident Thu 2025-10-09: 10-10 Fri (1), make-up Sat 10-11 (2), Mon 10-13 (3) → 24:00 of 10-13.
    # Without the 调休 Saturday the deadline would be 24:00 of Tue 10-14.
    f = facts(
        harm_to_individuals=True,
        occurred_at=datetime(2025, 10, 9, 15, 0, tzinfo=SH),
        detected_at=datetime(2025, 10, 9, 16, 0, tzinfo=SH),
    )
    o = ob(f, "notify_individuals")
    assert o.legal_basis.article == "Art. 11 para 1" and o.recipients == ["利害关系人"]
    assert o.due_at == datetime(2025, 10, 14, 0, 0, tzinfo=SH)
    assert o.calendar_known


def test_notice_window_across_new_year() -> None:
    # Incident Wed 2025-12-31 23:00: 2026-01-01..03 holiday; make-up Sun 01-04 (1), 01-05 (2), 01-06 (3).
    f = facts(
        harm_to_individuals=True,
        occurred_at=datetime(2025, 12, 31, 23, 0, tzinfo=SH),
        detected_at=datetime(2025, 12, 31, 23, 30, tzinfo=SH),
    )
    o = ob(f, "notify_individuals")
    assert o.due_at == datetime(2026, 1, 7, 0, 0, tzinfo=SH)
    assert o.calendar_known


def test_local_date_decides_the_start_day() -> None:
    # 2025-12-31T16:30Z is 2026-01-01 00:30 in Shanghai: the start day is the holiday, not New Year's Eve.
    f = facts(
        harm_to_individuals=True,
        occurred_at=datetime(2025, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC")),
        detected_at=datetime(2026, 1, 1, 1, 0, tzinfo=SH),
    )
    assert ob(f, "notify_individuals").due_at == datetime(2026, 1, 7, 0, 0, tzinfo=SH)


def test_unknown_calendar_year_is_estimated_from_statutory_holidays() -> None:
    # Fri 2031-01-03 → Mon 01-06 (1), Tue (2), Wed 01-08 (3) → 24:00 of 01-08 (no holiday in that week).
    f = facts(
        harm_to_individuals=True,
        occurred_at=datetime(2031, 1, 3, 10, 0, tzinfo=SH),
        detected_at=datetime(2031, 1, 3, 11, 0, tzinfo=SH),
    )
    o = ob(f, "notify_individuals")
    assert o.due_at == datetime(2031, 1, 9, 0, 0, tzinfo=SH)
    assert o.calendar_known is False and o.estimated is True
    assert o.notes == ["estimated: no published holiday arrangement for 2031; statutory holidays computed from "
                       "the 全国年节及纪念日放假办法, make-up working days unknown"]


# --- done, done late, waived ------------------------------------------------------------------------------


def test_done_in_time() -> None:
    f = facts(important_data=True, reported_at=datetime(2025, 6, 3, 15, 0, tzinfo=SH))
    o = ob(f, "regulator_report", datetime(2025, 6, 4, tzinfo=SH))
    assert o.status == "done" and o.done_at == f.reported_at and not o.done_late


def test_done_late() -> None:
    f = facts(important_data=True, reported_at=datetime(2025, 6, 3, 17, 30, tzinfo=SH))
    o = ob(f, "regulator_report", datetime(2025, 6, 4, tzinfo=SH))
    assert o.status == "done" and o.done_late


def test_done_in_future_of_as_of_is_not_done_yet() -> None:
    f = facts(important_data=True, reported_at=datetime(2025, 6, 3, 18, 0, tzinfo=SH))
    assert ob(f, "regulator_report", datetime(2025, 6, 3, 17, 45, tzinfo=SH)).status == "overdue"


def test_notice_waived_under_pipl_57() -> None:
    f = facts(harm_to_individuals=True, waivers={"notify_individuals": "leaked data encrypted; key not exposed"})
    o = ob(f, "notify_individuals", datetime(2025, 7, 1, tzinfo=SH))
    assert o.status == "waived" and o.waived_reason == "leaked data encrypted; key not exposed"


def test_waiver_void_when_regulator_requires_notice() -> None:
    f = facts(harm_to_individuals=True, waivers={"notify_individuals": "encrypted"}, regulator_required_notice=True)
    o = ob(f, "notify_individuals", datetime(2025, 7, 1, tzinfo=SH))
    assert o.status == "overdue" and o.waived_reason is None and o.notes


def test_regulator_report_cannot_be_waived() -> None:
    f = facts(important_data=True, waivers={"regulator_report": "we'd rather not"})
    with pytest.raises(ValueError, match="cannot be waived"):
        compute_obligations(DRAFT, f, f.detected_at)


def test_naive_as_of_refused() -> None:
    with pytest.raises(ValueError):
        compute_obligations(DRAFT, facts(), datetime(2025, 6, 3, 12, 0))


# --- second pack selected by occurred_at -------------------------------------------------------------------

PACK_2030 = """
id: test_incident_2030
kind: law
title: Hypothetical 2030 incident rule
source_document: 测试条例
effective_from: 2030-01-01
obligations:
  - id: regulator_report
    trigger: {any_of: [{important_data: true}, {persons_at_least: 50000}]}
    clock_starts_at: occurred_at
    period: {hours: 24}
    recipients: [省级网信部门]
    legal_basis: {document: 测试条例, article: Art. 1, quote: 二十四小时内}
"""


def test_second_pack_selected_by_occurred_at(tmp_path: Path) -> None:
    (tmp_path / "test_2030.yaml").write_text(PACK_2030, encoding="utf-8")
    packs = load_packs(tmp_path)
    assert [p.id for p in packs][-1] == "test_incident_2030"

    before = facts(persons=60_000, occurred_at=datetime(2029, 12, 31, 23, 0, tzinfo=SH))
    assert pack_for(before.occurred_at, packs).id == "cn_incident_reporting_2025"

    occurred = datetime(2030, 1, 1, 0, 30, tzinfo=SH)
    after = facts(persons=60_000, occurred_at=occurred, detected_at=occurred + timedelta(hours=1))
    pack = pack_for(after.occurred_at, packs)
    assert pack.id == "test_incident_2030"
    [o] = compute_obligations(pack, after, after.detected_at)
    assert o.pack_id == "test_incident_2030" and o.triggered
    assert o.due_at == datetime(2030, 1, 2, 0, 30, tzinfo=SH)


def test_no_pack_for_date_is_clear_error() -> None:
    with pytest.raises(LookupError, match="no incident rule pack"):
        pack_for(datetime(2020, 1, 1, tzinfo=SH), PACKS)


def test_invalid_pack_names_file_and_field(tmp_path: Path) -> None:
    bad = PACK_2030.replace("{hours: 24}", "{hours: 24, working_days: 1}")
    (tmp_path / "bad.yaml").write_text(bad, encoding="utf-8")
    with pytest.raises(PackError, match=r"bad\.yaml.*obligations\.0\.period"):
        load_packs(tmp_path, include_builtin=False)


def test_duplicate_pack_id_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PACK_2030, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(PACK_2030, encoding="utf-8")
    with pytest.raises(PackError, match="duplicate pack id"):
        load_packs(tmp_path, include_builtin=False)
