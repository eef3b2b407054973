"""The incident agent on the real pipeline: incident events → aggregated incident records and deadline alerts.

Reads the ``incidents`` and ``alerts`` topics directly (Kafka protocol, noida-db). Covers duplicates and
out-of-order events, an incident detected after its 8-hour deadline (critical alert at once), and a worker
SIGKILLed between an incident and its due time: after the restart the overdue alert fires exactly once and
the due-soon alert raised before the kill is not raised again (state recovered from the table changelog).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch

from flowwatch.apikeys import Role, create_key
from flowwatch_tools.replay import produce
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration

TICK = "1"  # seconds between deadline checks in the workers under test


def incident_event(event_id: str, incident_id: str, occurred: datetime, detected: datetime, persons: range,
                   important: bool = False, **incident: Any) -> bytes:  # fmt: skip
    keys = [hashlib.sha256(f"person-{i}".encode()).hexdigest() for i in persons]
    doc: dict[str, Any] = {
        "schema_version": "1.0", "event_id": event_id, "kind": "incident",
        "occurred_at": occurred.isoformat(), "emitted_at": detected.isoformat(),
        "processor": {"id": "p-bank", "name": "示例银行"},
        "dataset": {"record_count": len(keys), **({"important_data": {"catalogue_ref": "IDC-7"}} if important else {})},
        "subjects": {"keys": keys, "scheme": "hmac-sha256"},
        "text": "泄露字段包括银行卡号6222021234567890128",
        "incident": {"incident_id": incident_id, "type": "leak", "status": "occurred",
                     "detected_at": detected.isoformat(), "harm_to_individuals": True, **incident},
    }  # fmt: skip
    return json.dumps(doc, ensure_ascii=False).encode()


class TopicReader:
    """Accumulates every JSON value of some topics from the beginning."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe(topics)
        self.values: dict[str, list[dict[str, Any]]] = {t: [] for t in topics}

    def poll(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                self.values[msg.topic()].append(json.loads(msg.value()))

    def wait_for(self, topic: str, check: Callable[[list[dict[str, Any]]], bool], timeout: float) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if check(self.values[topic]):
                return
            self.poll(0.5)
        raise AssertionError(f"timed out waiting on {topic}: {self.values[topic][-3:]}")


def alerts_of(values: list[dict[str, Any]], incident: str, kind: str) -> list[dict[str, Any]]:
    return [a for a in values if a["incident_id"] == incident and a["type"] == kind]


def latest(values: list[dict[str, Any]], incident: str) -> dict[str, Any]:
    return [r for r in values if r["incident_id"] == incident][-1]


def test_incident_records_and_deadline_alerts_survive_a_worker_restart(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=False, extra_env={"FLOWWATCH_INCIDENT_TICK": TICK})
    topics = stack.topics()
    reader = TopicReader(stack.state.kafka_bootstrap, [topics.incidents, topics.alerts])
    now = datetime.now(UTC)

    # A: important data, due in 75 s → due-soon alert at once (inside the 2-hour lead), overdue in 75 s.
    occurred_a = now - timedelta(hours=8) + timedelta(seconds=75)
    a1 = incident_event("a-1", "inc-a", occurred_a, now, range(0, 6), important=True)
    a2 = incident_event("a-2", "inc-a", occurred_a, now + timedelta(seconds=1), range(4, 10), important=True,
                        measures_taken="已封禁接口")  # fmt: skip
    # B: detected 9 h after it occurred → the 8-hour report is already overdue: critical alert at once.
    b1 = incident_event("b-1", "inc-b", now - timedelta(hours=9), now, range(100, 103), important=True)
    produce(stack.state.kafka_bootstrap, topics.flow_events, [a2, b1, a1, a2, a1])  # out of order, duplicated

    reader.wait_for(topics.alerts, lambda v: alerts_of(v, "inc-a", "obligation_due_soon")
                    and alerts_of(v, "inc-b", "obligation_overdue"), timeout=120)  # fmt: skip
    late = alerts_of(reader.values[topics.alerts], "inc-b", "obligation_overdue")
    assert late[0]["severity"] == "critical" and "detected only after" in late[0]["message"]
    assert late[0]["legal_basis"]["article"] == "Art. 11 para 2(1)"
    reader.wait_for(topics.incidents, lambda v: any(r["incident_id"] == "inc-a" and r["updates"] == 2 for r in v),
                    timeout=60)  # fmt: skip
    record = latest(reader.values[topics.incidents], "inc-a")
    assert (record["persons"], record["persons_basis"], record["important_data"]) == (10, "counted", True)
    # the policy pack's 8-hour report (the law's: PIPL Art. 57 immediately, no figure; 10 persons < 较大)
    report = next(o for o in record["obligations"]
                  if o["id"] == "regulator_report" and o["pack_id"] == "cn_incident_draft_2021")  # fmt: skip
    assert datetime.fromisoformat(report["due_at"]) == occurred_a + timedelta(hours=8)
    assert [p["kind"] for p in record["packs"]][-1] == "policy"
    assert record["report"]["measures"] == "已封禁接口" and record["report"]["quantity_persons"] == 10

    time.sleep(6)  # let the worker commit its offsets and table changelog
    stack.kill("detector-1")  # SIGKILL between the incident and its due time
    time.sleep(1)
    stack.restart("detector-1")

    due_at = occurred_a + timedelta(hours=8)
    reader.wait_for(topics.alerts, lambda v: bool(alerts_of(v, "inc-a", "obligation_overdue")),
                    timeout=max(60.0, (due_at - datetime.now(UTC)).total_seconds() + 60))  # fmt: skip
    reader.poll(6 * float(TICK) + 3)  # more ticks: nothing may be raised again
    alerts = reader.values[topics.alerts]
    overdue = alerts_of(alerts, "inc-a", "obligation_overdue")
    assert len(overdue) == 1 and overdue[0]["severity"] == "critical"
    assert datetime.fromisoformat(overdue[0]["raised_at"]) >= due_at
    assert len(alerts_of(alerts, "inc-a", "obligation_due_soon")) == 1  # not raised again after the restart
    assert len(alerts_of(alerts, "inc-b", "obligation_overdue")) == 1
    assert len({a["alert_id"] for a in alerts}) == len(alerts)


def test_api_marks_flow_through_the_agent_to_the_served_record(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=True, extra_env={"FLOWWATCH_INCIDENT_TICK": TICK})
    es = Elasticsearch(stack.state.es_url, request_timeout=30)
    admin = create_key(es, stack.state.index_prefix, Role.ADMIN, name="soc-lead")[0]
    platform = create_key(es, stack.state.index_prefix, Role.PLATFORM, processor_id="p-bank", name="bank-ops")[0]
    other = create_key(es, stack.state.index_prefix, Role.PLATFORM, processor_id="p-other")[0]
    now = datetime.now(UTC)
    produce(stack.state.kafka_bootstrap, stack.topics().flow_events,
            [incident_event("c-1", "inc-c", now - timedelta(hours=1), now, range(0, 20), important=True)])
    api = httpx.Client(base_url=stack.state.api_url, timeout=30)

    def served(key: str) -> dict[str, Any] | None:
        r = api.get("/v1/incidents/inc-c", headers={"Authorization": f"Bearer {key}"})
        return r.json() if r.status_code == 200 else None

    def status_of(record: dict[str, Any] | None, obligation: str) -> str | None:
        if record is None:
            return None
        return next((o["status"] for o in record["obligations"] if o["id"] == obligation), None)

    # a platform key reads the record by id (real-time get), an admin key without a processor by search
    # (visible after the next refresh): wait for both
    wait_for(lambda: status_of(served(platform), "regulator_report") == "pending"
             and status_of(served(admin), "regulator_report") == "pending", what="incident served", timeout=90)
    assert served(other) is None  # another platform: 404
    record = served(admin)
    assert record is not None and record["persons"] == 20 and record["important_data"] is True

    r = api.post("/v1/incidents/inc-c/obligations/regulator_report", json={"action": "done"},
                 headers={"Authorization": f"Bearer {platform}"})
    assert r.status_code == 202, r.text
    r = api.post("/v1/incidents/inc-c/obligations/notify_individuals",
                 json={"action": "waive", "reason": "数据已加密且密钥未泄露，能够有效避免危害"},
                 headers={"Authorization": f"Bearer {admin}"})  # fmt: skip
    assert r.status_code == 202, r.text
    wait_for(lambda: status_of(served(admin), "regulator_report") == "done"
             and status_of(served(admin), "notify_individuals") == "waived",
             what="marks applied by the agent", timeout=90)  # fmt: skip
    record = served(admin)
    assert record is not None
    assert any(e["actor"] == "bank-ops" and "reported_at" in e["what"] for e in record["timeline"])
    assert any(e["actor"] == "soc-lead" and "waived" in e["what"] for e in record["timeline"])
    report = api.get("/v1/incidents/inc-c/report", headers={"Authorization": f"Bearer {admin}"}).json()
    assert report["report"]["quantity_persons"] == 20
