"""The incident API's pure parts: statuses as of now, status filters, the IncidentUpdate of a mark, waivers,
and the producer's failure mode (no broker → BrokerUnavailable, quickly)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.exceptions import RequestValidationError

from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import load_packs
from flowwatch_api.incidents import MarkDone, MarkWaived, as_of, build_update, check_waivable, obligation_filter
from flowwatch_api.producer import BrokerUnavailable, UpdateProducer
from flowwatch_tools.engines import free_port

T0 = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)
DRAFT = "cn_incident_draft_2021"  # the policy pack's clocks (8 h, 3 and 5 working days)


def record(as_of_time: datetime) -> IncidentRecord:
    update = IncidentUpdate(
        processor_id="p", incident_id="inc", update_id="e1", source="event", received_at=T0, occurred_at=T0,
        detected_at=T0, harm_to_individuals=True, important_data=True,
    )
    state = IncidentState.new(update)
    state.apply(update, SetPersonStore())
    return build_record(state, load_packs(), as_of_time)


def test_as_of_turns_past_due_pending_into_overdue_only() -> None:
    rec = record(T0 + timedelta(hours=1))
    assert {o.id: o.status for o in rec.obligations if o.pack_id == DRAFT} == {
        "regulator_report": "pending", "followup_report": "pending", "notify_individuals": "pending"}
    assert as_of(rec, T0 + timedelta(hours=7)) is rec  # nothing due yet: same object
    later = as_of(rec, T0 + timedelta(hours=8))  # due_at is exclusive: at 8 h it is overdue
    assert {o.id: o.status for o in later.obligations if o.pack_id == DRAFT} == {
        "regulator_report": "overdue", "followup_report": "pending", "notify_individuals": "pending"}
    much_later = as_of(rec, T0 + timedelta(days=30))
    policy = {o.id: o.status for o in much_later.obligations if o.pack_id == DRAFT}
    assert policy["notify_individuals"] == "overdue"
    assert policy["followup_report"] == "pending"  # no clock yet
    assert much_later.report == rec.report and much_later.updated_at == rec.updated_at


def test_as_of_matches_compute_obligations() -> None:
    for hours in (1, 7, 8, 9, 24 * 10):
        now = T0 + timedelta(hours=hours)
        assert as_of(record(T0 + timedelta(hours=1)), now).obligations == record(now).obligations


def test_obligation_filter_shapes() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert obligation_filter(None, None, now) == []
    [clause] = obligation_filter(["regulator_report"], ["overdue"], now)
    inner = clause["nested"]["query"]["bool"]["filter"]
    assert clause["nested"]["path"] == "obligations"
    assert inner[0] == {"terms": {"obligations.id": ["regulator_report"]}}
    should = inner[1]["bool"]["should"]
    assert {"term": {"obligations.status": "overdue"}} in should
    assert any("range" in str(s) and "lte" in str(s) for s in should)
    [pending] = obligation_filter(None, ["pending", "pending"], now)
    assert len(pending["nested"]["query"]["bool"]["filter"][0]["bool"]["should"]) == 1


def test_build_update_done_and_waive() -> None:
    rec, now = record(T0 + timedelta(hours=1)), datetime(2026, 1, 1, tzinfo=UTC)
    at = T0 + timedelta(hours=3)
    done = build_update(rec, "regulator_report", MarkDone(action="done", at=at, note="n"), "analyst", now)
    assert (done.processor_id, done.incident_id, done.source, done.actor, done.note) == ("p", "inc", "api", "analyst",
                                                                                          "n")
    assert done.reported_at == at and done.received_at == now and len(done.update_id) == 32
    assert done.followup_reported_at is None and done.notified_at is None and done.waivers == {}
    default = build_update(rec, "notify_individuals", MarkDone(action="done"), "a", now)
    assert default.notified_at == now
    followup = build_update(rec, "followup_report", MarkDone(action="done"), "a", now)
    assert followup.followup_reported_at == now
    waived = build_update(rec, "notify_individuals", MarkWaived(action="waive", reason="encrypted"), "a", now)
    assert waived.waivers == {"notify_individuals": "encrypted"} and waived.notified_at is None
    assert done.update_id != default.update_id


def test_waivers() -> None:
    check_waivable("notify_individuals", None)
    check_waivable("notify_individuals", "cn_incident_draft_2021")
    check_waivable("notify_individuals", "a_pack_this_api_does_not_know")
    for obligation, pack in [("regulator_report", None), ("followup_report", "cn_incident_draft_2021")]:
        with pytest.raises(RequestValidationError) as info:  # answered 422 with FastAPI's error shape
            check_waivable(obligation, pack)
        assert "cannot be waived" in info.value.errors()[0]["msg"]


def test_producer_without_broker_fails_within_its_timeout() -> None:
    producer = UpdateProducer(f"127.0.0.1:{free_port()}", "incident-updates", timeout=0.5)
    start = time.monotonic()
    with pytest.raises(BrokerUnavailable):
        producer.send("p", b"{}")
    assert time.monotonic() - start < 5
    producer.close()
