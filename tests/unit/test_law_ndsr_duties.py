"""Decree 790 processor duties (Art. 33 yearly risk assessment with its due date and alerts; Art. 12
retention on the ledger and incident records) and the regulator report page showing law apart from policy."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flowwatch.exports.rules import ProcessorProfile
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import load_packs
from flowwatch.rules.processor_duties import (
    processor_duties,
    retention_note,
    risk_assessment_alerts,
    risk_assessment_duty,
)
from flowwatch_api.report_html import render_report

SH = ZoneInfo("Asia/Shanghai")
IMPORTANT = ProcessorProfile(processor_id="grid", important_data_catalogue_refs=["GD-IDC-2025-7"])
PLAIN = ProcessorProfile(processor_id="shop")


def test_risk_assessment_applies_to_important_data_processors_only() -> None:
    now = datetime(2026, 6, 1, tzinfo=SH)
    assert not risk_assessment_duty(PLAIN, 2026, now).applies
    assert not risk_assessment_duty(IMPORTANT, 2024, now).applies  # before Decree 790
    duty = risk_assessment_duty(IMPORTANT, 2026, now)
    assert duty.applies and duty.binding and duty.legal_basis.article == "Art. 33"
    assert duty.due_at == datetime(2027, 1, 1, 0, 0, tzinfo=SH) and duty.status == "pending"
    assert len(duty.report_contents) == 7 and duty.open_questions


def test_risk_assessment_due_soon_then_overdue_once_each() -> None:
    raised: set[str] = set()
    lead = processor_duties().risk_assessment.lead_days
    due = datetime(2027, 1, 1, 0, 0, tzinfo=SH)
    assert risk_assessment_alerts(risk_assessment_duty(IMPORTANT, 2026, due - timedelta(days=lead, seconds=1)),
                                  due - timedelta(days=lead, seconds=1), raised) == []  # fmt: skip
    soon_at = due - timedelta(days=lead)
    [soon] = risk_assessment_alerts(risk_assessment_duty(IMPORTANT, 2026, soon_at), soon_at, raised)
    assert soon.type == "risk_assessment_due_soon" and soon.title.startswith("[law]")
    raised.add(soon.dedup_key)
    assert risk_assessment_alerts(risk_assessment_duty(IMPORTANT, 2026, soon_at), soon_at, raised) == []
    late = due - timedelta(seconds=1)
    assert risk_assessment_duty(IMPORTANT, 2026, late).status == "pending"
    [over] = risk_assessment_alerts(risk_assessment_duty(IMPORTANT, 2026, due), due, raised)
    assert over.type == "risk_assessment_overdue" and over.severity == "high"
    done = risk_assessment_duty(IMPORTANT, 2026, due, submitted_on=date(2026, 12, 20))
    assert done.status == "done" and risk_assessment_alerts(done, due, set()) == []


def _record(persons: int = 1_000_000) -> object:
    t0 = datetime(2026, 12, 30, 10, 0, tzinfo=SH)
    u = IncidentUpdate(processor_id="p", incident_id="inc", update_id="e1", source="event", received_at=t0,
                       occurred_at=t0, detected_at=t0, harm_to_individuals=True, affected_subject_count=persons)
    state = IncidentState.new(u)
    state.apply(u, SetPersonStore())
    return build_record(state, load_packs(include_policy=True), t0 + timedelta(hours=1))


def test_incident_record_states_its_retention() -> None:
    record = _record()
    assert "Art. 12" in (record.retention or "")  # type: ignore[attr-defined]
    assert "Art. 12" in retention_note() and "1,096" in retention_note()


def test_report_page_separates_law_from_policy_and_marks_estimates() -> None:
    record = _record()
    html = render_report(record, datetime(2026, 12, 30, 12, 0, tzinfo=SH), masked=False)  # type: ignore[arg-type]
    law = html.index("Obligations under the law in force")
    policy = html.index("Flowwatch policy (not binding law")
    assert law < policy
    assert "较大" in html and "cn_incident_reporting_2025" in html[law:policy]
    assert "cn_incident_draft_2021" in html[policy:]
    assert "估算 estimated" in html[policy:]  # the 3-working-day notice spans 2027-01-01


def test_an_incident_event_flagged_security_defect_gets_the_24_hour_report() -> None:
    """Decree 790 Art. 10 from the event contract: ``incident.security_defect`` reaches the incident state."""
    from flowwatch.detection.scanner import default_scanner
    from flowwatch.findings import scan_event
    from flowwatch.incidents.from_event import update_from_event
    from flowwatch.models import FlowEvent

    def event(flag: bool | None) -> FlowEvent:
        incident: dict[str, object] = {"incident_id": "inc-defect", "type": "leak", "status": "occurred",
                                       "detected_at": "2026-03-02T10:00:00+08:00", "harm_to_individuals": False}
        if flag is not None:
            incident["security_defect"] = flag
        return FlowEvent.model_validate({
            "schema_version": "1.0", "event_id": f"defect-{flag}", "kind": "incident",
            "occurred_at": "2026-03-02T09:00:00+08:00", "processor": {"id": "shop"}, "incident": incident,
            "text": "客服电话 13912345678"})  # fmt: skip

    def vulnerability_report(flag: bool | None) -> object:
        ev = event(flag)
        finding, keys = scan_event(ev, default_scanner(), b"k", datetime(2026, 3, 2, 10, 0, tzinfo=SH))
        update = update_from_event(ev, finding, keys)
        assert update is not None and update.security_defect is flag
        state = IncidentState.new(update)
        state.apply(update, SetPersonStore())
        record = build_record(state, load_packs(), datetime(2026, 3, 2, 11, 0, tzinfo=SH), PLAIN)
        return next((o for o in record.obligations if o.id == "vulnerability_report" and o.triggered), None)

    assert vulnerability_report(None) is None and vulnerability_report(False) is None
    ob = vulnerability_report(True)
    assert ob is not None and ob.binding and ob.legal_basis.article.startswith("Art. 10")  # type: ignore[attr-defined]
    assert ob.due_at == datetime(2026, 3, 3, 10, 0, tzinfo=SH)  # type: ignore[attr-defined]


def test_registry_duty_alerts_cover_this_year_and_the_last_once() -> None:
    from flowwatch.rules.processor_duties import registry_duty_alerts

    raised: set[str] = set()
    mid_year = datetime(2026, 6, 1, tzinfo=SH)
    assert [a.type for a in registry_duty_alerts([IMPORTANT, PLAIN], mid_year, raised)] == \
        ["risk_assessment_overdue"]  # 2025's assessment is overdue; 2026's is not due soon yet; PLAIN has none
    december = datetime(2026, 12, 3, tzinfo=SH)
    assert [(a.type, a.dedup_key.split("|")[2]) for a in registry_duty_alerts([IMPORTANT], december, raised)] == \
        [("risk_assessment_due_soon", "2026")]
    assert registry_duty_alerts([IMPORTANT], december, raised) == []  # once each
