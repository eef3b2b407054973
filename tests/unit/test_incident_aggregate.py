"""Incident aggregation, deadline alerts and the report record (issue 4), without Kafka."""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.alerts import due_alerts, next_alert_at
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import load_packs

CN = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 6, 10, 9, 0, tzinfo=CN)  # a Tuesday, no holiday near
PACKS = load_packs()
DRAFT = "cn_incident_draft_2021"
"""These tests exercise the aggregation with the policy pack's clocks; the law in force: test_law_*.py."""


def key(i: int) -> str:
    return hashlib.sha256(f"person-{i}".encode()).hexdigest()


def update(uid: str, *, persons: range = range(0), sensitive: range = range(0), **kw: object) -> IncidentUpdate:
    base: dict[str, object] = {
        "processor_id": "p-shop", "incident_id": "inc-1", "update_id": uid, "source": "event",
        "received_at": T0 + timedelta(minutes=30), "occurred_at": T0, "detected_at": T0 + timedelta(minutes=20),
        "type": "leak", "status": "occurred", "harm_to_individuals": False,
        "person_keys": [key(i) for i in persons], "sensitive_person_keys": [key(i) for i in sensitive],
    }  # fmt: skip
    base.update(kw)
    return IncidentUpdate.model_validate(base)


def aggregate(updates: list[IncidentUpdate]) -> tuple[IncidentState, SetPersonStore]:
    store = SetPersonStore()
    state = IncidentState.new(updates[0])
    for u in updates:
        state.apply(u, store)
    return state, store


def obligation(state: IncidentState, name: str, now: datetime) -> object:
    record = build_record(state, PACKS, now)
    return next(o for o in record.obligations if o.id == name and o.pack_id == DRAFT)


# ---------------------------------------------------------------------------------------------------
# Counting persons across events
# ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "triggered"), [(99_999, False), (100_000, True)])
def test_regulator_report_at_exactly_100000_persons_across_events(n: int, triggered: bool) -> None:
    # 12 events of ≤ 10,000 keys, overlapping by 500 keys each: duplicates count once
    step = 9_500
    updates = [update(f"e{i}", persons=range(i * step, min(n, i * step + 10_000))) for i in range(n // step + 1)]
    state, _ = aggregate(updates)
    assert state.persons_counted == n and state.persons_basis == "counted"
    ob = obligation(state, "regulator_report", T0 + timedelta(hours=1))
    assert ob.triggered is triggered  # type: ignore[attr-defined]
    if triggered:
        assert ob.due_at == T0 + timedelta(hours=8)  # type: ignore[attr-defined]


def test_important_data_with_ten_persons_triggers_the_report() -> None:
    state, _ = aggregate([update("e1", persons=range(10), important_data=True, important_data_refs=["cat-7"])])
    ob = obligation(state, "regulator_report", T0)
    assert ob.triggered and "important data" in ob.trigger_reason  # type: ignore[attr-defined]


def test_duplicates_and_any_order_give_the_same_record() -> None:
    updates = [
        update("e1", persons=range(0, 600), sensitive=range(0, 50)),
        update("e2", persons=range(400, 1000), sensitive=range(40, 80), received_at=T0 + timedelta(hours=1),
               handling_completed_at=T0 + timedelta(hours=5), cause="弱口令", measures_taken="已重置口令"),
        update("e3", occurred_at=T0 - timedelta(minutes=30), received_at=T0 + timedelta(hours=2),
               harm_to_individuals=True, affected_subject_count=5000),
    ]  # fmt: skip
    now = T0 + timedelta(hours=3)
    records = set()
    for order in itertools.permutations(updates + updates[:2]):  # with duplicates
        state, _ = aggregate(list(order))
        record = build_record(state, PACKS, now)
        records.add(record.model_dump_json(exclude={"timeline"}))
        assert state.persons_counted == 1000 and state.sensitive_persons == 80
        assert state.occurred_at == T0 - timedelta(minutes=30)  # the earliest claimed occurrence
        assert state.persons_declared == 5000 and state.persons == 1000  # declared only as a fallback
    assert len(records) == 1


def test_declared_count_is_a_flagged_fallback() -> None:
    state, _ = aggregate([update("e1", affected_subject_count=120_000)])
    assert (state.persons, state.persons_basis) == (120_000, "declared")
    ob = obligation(state, "regulator_report", T0)
    assert ob.triggered and "declared" in ob.trigger_reason  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------------


def _alerts(state: IncidentState, now: datetime) -> list[tuple[str, str, str]]:
    record = build_record(state, PACKS, now)
    pack = next(p for p in PACKS if p.id == record.pack_id)
    found = due_alerts(state, record.obligations, pack, now)
    state.alerts_raised.extend(a.dedup_key for a in found)
    return [(a.obligation or "", a.type, a.severity) for a in found]


def test_report_alerts_two_hours_before_and_at_exactly_eight_hours_once_each() -> None:
    state, _ = aggregate([update("e1", persons=range(10), important_data=True)])
    assert _alerts(state, T0 + timedelta(hours=5, minutes=59)) == []
    assert _alerts(state, T0 + timedelta(hours=6)) == [("regulator_report", "obligation_due_soon", "high")]
    assert _alerts(state, T0 + timedelta(hours=7, minutes=59, seconds=59)) == []  # once
    assert _alerts(state, T0 + timedelta(hours=8)) == [("regulator_report", "obligation_overdue", "critical")]
    assert _alerts(state, T0 + timedelta(hours=30)) == []
    assert next_alert_at(state, build_record(state, PACKS, T0).obligations, PACKS[0]) is None


def test_detected_after_the_deadline_alerts_at_once_critical() -> None:
    late = update("e1", persons=range(10), important_data=True, detected_at=T0 + timedelta(hours=9),
                  received_at=T0 + timedelta(hours=9, minutes=5))  # fmt: skip
    state, _ = aggregate([late])
    record = build_record(state, PACKS, T0 + timedelta(hours=9, minutes=5))
    pack = PACKS[0]
    alerts = due_alerts(state, record.obligations, pack, T0 + timedelta(hours=9, minutes=5))
    assert [(a.type, a.severity) for a in alerts] == [("obligation_overdue", "critical")]
    assert "detected only after that deadline" in alerts[0].message
    assert alerts[0].legal_basis.article == "Art. 11 para 2(1)" and alerts[0].rule_pack == DRAFT
    assert alerts[0].title.startswith("[policy]") and "not binding law" in alerts[0].message


def test_marking_done_stops_alerts_and_state_survives_serialisation() -> None:
    store = SetPersonStore()
    state = IncidentState.new(update("e1"))
    state.apply(update("e1", persons=range(10), important_data=True, harm_to_individuals=True), store)
    assert _alerts(state, T0 + timedelta(hours=6)) == [("regulator_report", "obligation_due_soon", "high")]
    restored = IncidentState.model_validate_json(state.model_dump_json())  # a worker restart
    assert restored == state
    done = IncidentUpdate(processor_id="p-shop", incident_id="inc-1", update_id="api-1", source="api",
                          received_at=T0 + timedelta(hours=7), reported_at=T0 + timedelta(hours=7), actor="soc")
    restored.apply(done, store)
    assert not restored.apply(done, store)  # idempotent
    assert _alerts(restored, T0 + timedelta(hours=8)) == []  # report done: no overdue alert
    # the notice to individuals (3 working days from Tue 10 June 2025 → due Fri 13 June 24:00) still alerts
    assert _alerts(restored, datetime(2025, 6, 13, 0, 0, tzinfo=CN)) == [
        ("notify_individuals", "obligation_due_soon", "medium")
    ]
    waive = IncidentUpdate(processor_id="p-shop", incident_id="inc-1", update_id="api-2", source="api",
                           received_at=T0 + timedelta(days=1), waivers={"notify_individuals": "已加密，无法还原"})
    restored.apply(waive, store)
    assert _alerts(restored, datetime(2025, 6, 14, 1, 0, tzinfo=CN)) == []
    assert obligation(restored, "notify_individuals", T0 + timedelta(days=5)).status == "waived"  # type: ignore[attr-defined]


def test_notice_window_over_national_day_holidays() -> None:
    occurred = datetime(2025, 9, 30, 10, 0, tzinfo=CN)  # last working day before National Day
    state, _ = aggregate([update("e1", persons=range(3), harm_to_individuals=True, occurred_at=occurred,
                                 detected_at=occurred, received_at=occurred)])  # fmt: skip
    ob = obligation(state, "notify_individuals", occurred)
    # 1–8 Oct holiday; 11 Oct (Sat) is a make-up working day: 9, 10, 11 Oct → due 12 Oct 00:00
    assert ob.due_at == datetime(2025, 10, 12, 0, 0, tzinfo=CN)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------------------------------
# Report and notice
# ---------------------------------------------------------------------------------------------------


def test_report_and_notice_contents_hold_counts_and_types_only() -> None:
    state, _ = aggregate([
        update("e1", persons=range(200), sensitive=range(20), entity_types=["CN_BANK_CARD", "CN_MOBILE_PHONE"],
               categories=["financial_account", "general"], measures_taken="已下线接口", important_data=True),
    ])  # fmt: skip
    record = build_record(state, PACKS, T0 + timedelta(hours=1))
    assert record.report is not None and record.notice is not None
    assert record.report.quantity_persons == 200 and record.report.sensitive_persons == 20
    assert "sensitive:financial_account" in record.report.data_types
    assert record.report.measures == "已下线接口" and "cause" in record.report.missing
    assert any("银行卡" in advice for advice in record.notice.what_individuals_can_do)
    assert record.notice.legal_basis[0].article == "Art. 57 para 1"
    text = record.model_dump_json()
    assert not any(key(i) in text for i in range(200))  # person hashes stay in the person store


def test_update_of_another_incident_is_refused() -> None:
    state = IncidentState.new(update("e1"))
    with pytest.raises(ValueError):
        state.apply(update("e2", incident_id="inc-2"), SetPersonStore())


def test_random_update_orders_count_the_same_persons() -> None:
    rng = random.Random(4)
    updates = [update(f"e{i}", persons=range(rng.randint(0, 300), rng.randint(300, 700))) for i in range(20)]
    expected = len(set().union(*(set(u.person_keys) for u in updates)))
    for _ in range(5):
        rng.shuffle(updates)
        assert aggregate(updates)[0].persons_counted == expected
