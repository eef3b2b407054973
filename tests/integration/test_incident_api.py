"""Incidents and alerts end to end downstream of the incident agent, on the real embedded engines (noida-db):
records produced to the ``incidents``/``alerts`` topics → the indexer (real ``Indexer`` in a thread) →
Elasticsearch → the query API; obligation marks produced by the API to ``incident-updates``.

Records are built with the real aggregation code (``IncidentState`` + ``build_record``), as the agent does.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from flowwatch.alerts import Alert, Severity
from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.es_indices import alerts_index, alerts_pattern, incidents_index
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.alerts import due_alerts
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.rules.incident_pack import load_packs, pack_for
from flowwatch.settings import ApiSettings, IndexerSettings, topics
from flowwatch.stored_form import incident_from_source, incident_source
from flowwatch_api.app import create_app
from flowwatch_api.producer import UpdateProducer
from flowwatch_indexer.documents import epoch_micros
from flowwatch_indexer.worker import Indexer
from flowwatch_tools.engines import Engine, free_port
from tests.integration.conftest import NoidaIndex, produce_keyed, wait_for

pytestmark = pytest.mark.integration

PACKS = load_packs()
NOW = datetime.now(UTC).replace(microsecond=0)
OLD = datetime(2025, 6, 10, 1, 0, tzinfo=UTC)  # a Tuesday: every deadline long past
RAW_IDS = ["11010519491231002X", "13912345678", "kefu@example.com"]  # never given to the records


def person_key(i: int) -> str:
    return hashlib.sha256(f"person-{i}".encode()).hexdigest()


def update(processor: str, incident: str, uid: str, received: datetime, **kw: Any) -> IncidentUpdate:
    return IncidentUpdate.model_validate({
        "processor_id": processor, "incident_id": incident, "update_id": uid, "source": "event",
        "received_at": received, **kw,
    })


def aggregate(updates: list[IncidentUpdate], as_of: datetime) -> tuple[IncidentState, IncidentRecord]:
    store, state = SetPersonStore(), IncidentState.new(updates[0])
    for u in updates:
        state.apply(u, store)
    return state, build_record(state, PACKS, as_of)


@dataclass
class Data:
    """The records produced, by name."""

    incidents: dict[str, IncidentRecord] = field(default_factory=dict)
    stale: IncidentRecord | None = None
    alerts: list[Alert] = field(default_factory=list)


def build_data() -> Data:
    """A (acme inc-1, recent, important data, two versions), B (acme inc-old, 2025, notice pending when
    recorded → overdue now), C (beta inc-1, same incident id as A, report done), D (gamma, occurrence
    unknown)."""
    data = Data()
    a1 = update("acme-cn", "inc-1", "evt-a1", NOW - timedelta(minutes=50), occurred_at=NOW - timedelta(hours=1),
                detected_at=NOW - timedelta(minutes=55), type="leak", status="occurred", harm_to_individuals=True,
                important_data=True, important_data_refs=["catalogue-7"], cause="对象存储桶误设为公开",
                person_keys=[person_key(i) for i in range(5)], sensitive_person_keys=[person_key(0)],
                entity_types=["CN_RESIDENT_ID", "CN_MOBILE_PHONE"], categories=["general", "specific_identity"],
                processor_name="ACME 商城")
    a2 = update("acme-cn", "inc-1", "evt-a2", NOW - timedelta(minutes=40), measures_taken="已关闭公开访问",
                person_keys=[person_key(i) for i in range(3, 7)])
    _, a_v1 = aggregate([a1], NOW - timedelta(minutes=50))
    state_a, a_v2 = aggregate([a1, a2], NOW - timedelta(minutes=40))
    data.stale, data.incidents["A"] = a_v1, a_v2
    alert_soon = due_alerts(state_a, a_v2.obligations, pack_for(a1.occurred_at, PACKS), NOW + timedelta(hours=6))

    b1 = update("acme-cn", "inc-old", "evt-b1", OLD + timedelta(hours=1), occurred_at=OLD, detected_at=OLD,
                type="loss", status="occurred", harm_to_individuals=True,
                person_keys=[person_key(i) for i in range(100, 103)], entity_types=["EMAIL_ADDRESS"],
                categories=["general"])
    state_b, data.incidents["B"] = aggregate([b1], OLD + timedelta(hours=1))
    alert_overdue = due_alerts(state_b, data.incidents["B"].obligations, pack_for(OLD, PACKS),
                               OLD + timedelta(days=10))

    c1 = update("beta-hk", "inc-1", "evt-c1", NOW - timedelta(hours=2), occurred_at=NOW - timedelta(hours=2),
                type="tamper", status="possible", important_data=True, affected_subject_count=20,
                reported_at=NOW - timedelta(hours=1))
    _, data.incidents["C"] = aggregate([c1], NOW - timedelta(minutes=30))

    d1 = update("gamma-sz", "inc-9", "api-d1", NOW - timedelta(days=1), source="api", actor="soc",
                notified_at=NOW - timedelta(days=1))
    _, data.incidents["D"] = aggregate([d1], NOW - timedelta(days=1))

    critical = Alert(
        alert_id="beta-critical-1", dedup_key="beta-hk|inc-1|regulator_report|overdue", type="obligation_overdue",
        severity=Severity.CRITICAL, processor_id="beta-hk", incident_id="inc-1", obligation="regulator_report",
        due_at=NOW - timedelta(hours=1), rule_pack="cn_incident_draft_2021",
        legal_basis=a_v2.obligations[0].legal_basis, title="Overdue: report to the regulator", message="test",
        raised_at=NOW - timedelta(minutes=5),
    )
    data.alerts = [*alert_soon, *alert_overdue, critical]
    assert len(data.alerts) == 3, data.alerts
    return data


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    data: Data
    keys: dict[str, str]
    client: TestClient
    indexer: Indexer


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def produce(bootstrap: str, topic: str, records: list[tuple[str, str]]) -> None:
    produce_keyed(bootstrap, topic, [(k.encode(), v.encode()) for k, v in records])


def stored_version(es: Elasticsearch, index: str, doc_id: str) -> int | None:
    try:
        return int(es.get(index=index, id=doc_id)["_version"])
    except Exception:
        return None


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    t = topics()
    indexer: Indexer | None = None
    thread: threading.Thread | None = None
    try:
        ensure_topics(engine.kafka_bootstrap, t.all_with_partitions())
        data = build_data()
        a = data.incidents["A"]
        produce(engine.kafka_bootstrap, t.incidents,
                [(r.processor_id, r.model_dump_json()) for r in [data.stale, a] if r is not None])
        indexer = Indexer(IndexerSettings(
            kafka_bootstrap=engine.kafka_bootstrap, es_url=engine.es_url, es_index_prefix=prefix,
            group_id=f"idx-{prefix}", bulk_max_wait=0.2,
        ))
        thread = threading.Thread(target=indexer.run, name="indexer", daemon=True)
        thread.start()
        index = incidents_index(prefix)
        wait_for(lambda: stored_version(es, index, a.id) == epoch_micros(a.updated_at.isoformat()), what="A v2")
        # the older state again (replay / reordering), in a later bulk, then the other records
        produce(engine.kafka_bootstrap, t.incidents, [(data.stale.processor_id, data.stale.model_dump_json())]
                if data.stale else [])
        wait_for(lambda: indexer is not None and indexer.stale >= 1, what="stale replay refused")
        others = [r for name, r in data.incidents.items() if name != "A"]
        produce(engine.kafka_bootstrap, t.incidents, [(r.processor_id, r.model_dump_json()) for r in others])
        produce(engine.kafka_bootstrap, t.alerts, [(al.processor_id, al.model_dump_json()) for al in data.alerts])
        wait_for(lambda: all(stored_version(es, index, r.id) for r in others)
                 and all(stored_version(es, alerts_index(prefix, al.raised_at), al.alert_id) for al in data.alerts),
                 what="all records indexed")
        es.indices.refresh(index=[index, alerts_pattern(prefix)])
        keys = {
            "admin": create_key(es, prefix, Role.ADMIN, name="admin-1")[0],
            "soc": create_key(es, prefix, Role.SOC_ANALYST, name="analyst-li")[0],
            "regulator": create_key(es, prefix, Role.REGULATOR)[0],
            "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme-cn", name="acme-ops")[0],
            "beta": create_key(es, prefix, Role.PLATFORM, processor_id="beta-hk")[0],
        }
        app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                     kafka_bootstrap=engine.kafka_bootstrap))
        with TestClient(app) as client:
            yield Env(engine, es, prefix, data, keys, client, indexer)
    finally:
        if indexer is not None:
            indexer.stop()
        if thread is not None:
            thread.join(timeout=30)


def get(env: Env, path: str, key: str, params: Any = None) -> Any:
    resp = env.client.get(path, params=params, headers=bearer(env.keys[key]))
    assert resp.status_code == 200, resp.text
    return resp.json()


def ids(env: Env, key: str, params: Any = None, path: str = "/v1/incidents") -> list[str]:
    """Every item id through all pages of size 1 (checks the cursor), in received order."""
    out: list[str] = []
    cursor = None
    base = list(params.items()) if isinstance(params, dict) else list(params or [])
    for _ in range(100):
        body = get(env, path, key, [*base, ("size", 1)] + ([("cursor", cursor)] if cursor else []))
        out += [item.get("id") or item.get("alert_id") for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert body["total"] == len(out)
            return out
    raise AssertionError("paging does not end")


def name_of(env: Env) -> dict[str, str]:
    return {r.id: name for name, r in env.data.incidents.items()}


def names(env: Env, key: str, params: Any = None) -> list[str]:
    by_id = name_of(env)
    return [by_id[i] for i in ids(env, key, params)]


# ---------------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------------


def test_templates_are_strict_and_obligations_nested(env: Env) -> None:
    templates = {t["name"] for t in env.es.indices.get_index_template(name=f"{env.prefix}-*")["index_templates"]}
    assert {f"{env.prefix}-incidents", f"{env.prefix}-alerts"} <= templates
    mapping = env.es.indices.get_mapping(index=incidents_index(env.prefix))[incidents_index(env.prefix)]["mappings"]
    assert mapping["dynamic"] == "strict"
    assert mapping["properties"]["obligations"]["type"] == "nested"
    assert mapping["properties"]["detail_json"]["type"] == "keyword"  # stored_form: a JSON string in _source only
    assert mapping["properties"]["detail_json"]["index"] is False
    first = alerts_index(env.prefix, env.data.alerts[0].raised_at)
    alerts = env.es.indices.get_mapping(index=first)[first]["mappings"]
    assert alerts["dynamic"] == "strict" and alerts["properties"]["dedup_key"] == {"type": "keyword"}


def test_incident_is_stored_by_id_and_a_stale_state_does_not_regress_it(env: Env) -> None:
    a = env.data.incidents["A"]
    assert env.data.stale is not None and env.data.stale.updated_at < a.updated_at
    doc = env.es.get(index=incidents_index(env.prefix), id=a.id)
    assert doc["_version"] == epoch_micros(a.updated_at.isoformat())
    assert incident_from_source(doc["_source"]) == a  # v2, although v1 was indexed after it
    assert incident_from_source(doc["_source"]).updates == 2
    assert env.indexer.stale >= 1
    total = env.es.count(index=incidents_index(env.prefix))["count"]
    assert total == len(env.data.incidents)  # one document per incident, whatever was replayed


def test_alerts_are_stored_by_alert_id(env: Env) -> None:
    for alert in env.data.alerts:
        got = env.es.get(index=alerts_index(env.prefix, alert.raised_at), id=alert.alert_id)["_source"]
        assert Alert.model_validate(got) == alert


# ---------------------------------------------------------------------------------------------------
# GET /v1/incidents
# ---------------------------------------------------------------------------------------------------


def test_list_order_and_paging(env: Env) -> None:
    assert names(env, "admin") == ["A", "C", "B", "D"]  # occurred_at desc, unknown last
    body = get(env, "/v1/incidents", "regulator")
    assert body["total"] == 4 and body["next_cursor"] is None
    assert IncidentRecord.model_validate(body["items"][0]).id == env.data.incidents["A"].id


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"processor_id": "acme-cn"}, ["A", "B"]),
        ([("processor_id", "beta-hk"), ("processor_id", "gamma-sz")], ["C", "D"]),
        ({"status": "overdue"}, ["B"]),  # recorded pending, due in 2025: overdue as of now
        # B: PIPL Art. 57's immediate duties (no figure, no due_at) stay pending until marked done
        ({"status": "pending"}, ["A", "C", "B"]),
        ({"status": "done"}, ["C"]),
        ([("status", "done"), ("status", "overdue")], ["C", "B"]),
        ({"obligation": "regulator_report", "status": "pending"}, ["A", "B"]),
        ({"obligation": "notify_individuals", "status": "done"}, []),
        ({"important_data": "true"}, ["A", "C"]),
        ({"important_data": "false"}, ["B", "D"]),
        ({"type": "loss"}, ["B"]),
        ({"from": (NOW - timedelta(days=1)).isoformat()}, ["A", "C"]),
        ({"to": (NOW - timedelta(minutes=90)).isoformat()}, ["C", "B"]),
        ({"processor_id": "nobody"}, []),
    ],
)
def test_list_filters(env: Env, params: Any, expected: list[str]) -> None:
    assert names(env, "soc", params) == expected


def test_served_status_is_as_of_now(env: Env) -> None:
    b = env.data.incidents["B"]
    assert {o.id: o.status for o in b.obligations}["notify_individuals"] == "pending"  # as recorded
    got = get(env, "/v1/incidents/inc-old", "admin")
    assert {o["id"]: o["status"] for o in got["obligations"]}["notify_individuals"] == "overdue"


@pytest.mark.parametrize("params", [{"status": "late"}, {"obligation": "x"}, {"size": 0}, {"from": "yesterday"},
                                    {"important_data": "maybe"}, {"type": "spill"}])
def test_list_invalid_parameters(env: Env, params: dict[str, Any]) -> None:
    resp = env.client.get("/v1/incidents", params=params, headers=bearer(env.keys["admin"]))
    assert resp.status_code == 422


def test_invalid_cursor(env: Env) -> None:
    resp = env.client.get("/v1/incidents", params={"cursor": "!!"}, headers=bearer(env.keys["admin"]))
    assert resp.status_code == 400


# ---------------------------------------------------------------------------------------------------
# GET /v1/incidents/{id} and scoping
# ---------------------------------------------------------------------------------------------------


def test_get_one_and_ambiguity(env: Env) -> None:
    a, c = env.data.incidents["A"], env.data.incidents["C"]
    resp = env.client.get("/v1/incidents/inc-1", headers=bearer(env.keys["admin"]))
    assert resp.status_code == 409 and "processor_id" in resp.json()["detail"]
    assert get(env, "/v1/incidents/inc-1", "admin", {"processor_id": "beta-hk"})["id"] == c.id
    assert get(env, f"/v1/incidents/{a.id}", "regulator")["incident_id"] == "inc-1"  # by record id
    assert get(env, "/v1/incidents/inc-1", "acme")["id"] == a.id  # a platform key is never ambiguous
    assert get(env, "/v1/incidents/inc-1", "beta")["id"] == c.id
    missing = env.client.get("/v1/incidents/nope", headers=bearer(env.keys["admin"]))
    assert missing.status_code == 404


def test_platform_sees_only_its_processor(env: Env) -> None:
    assert names(env, "acme") == ["A", "B"]
    assert names(env, "acme", {"processor_id": "beta-hk"}) == []
    assert names(env, "beta", {"status": "done"}) == ["C"]
    c, d = env.data.incidents["C"], env.data.incidents["D"]
    not_found = env.client.get("/v1/incidents/nope", headers=bearer(env.keys["acme"])).json()
    for path, params in [(f"/v1/incidents/{c.id}", None), ("/v1/incidents/inc-1", {"processor_id": "beta-hk"}),
                         ("/v1/incidents/inc-9", None), (f"/v1/incidents/{d.id}/report", None)]:
        resp = env.client.get(path, params=params, headers=bearer(env.keys["acme"]))
        assert resp.status_code == 404 and resp.json() == not_found, path


def test_unauthenticated(env: Env) -> None:
    for path in ("/v1/incidents", "/v1/incidents/inc-1", "/v1/incidents/inc-1/report", "/v1/alerts",
                 "/v1/alerts/x"):
        assert env.client.get(path).status_code == 401
    resp = env.client.post("/v1/incidents/inc-1/obligations/regulator_report", json={"action": "done"})
    assert resp.status_code == 401


# ---------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------


def test_report_for_the_regulator_has_counts_and_types_only(env: Env) -> None:
    a = env.data.incidents["A"]
    body = get(env, "/v1/incidents/inc-1/report", "regulator", {"processor_id": "acme-cn"})
    assert set(body) == {"report", "notice", "obligations"}
    report, notice = body["report"], body["notice"]
    assert report["quantity_persons"] == 7 and report["quantity_basis"] == "counted"
    assert report["sensitive_persons"] == 1 and report["important_data"] is True
    assert "CN_RESIDENT_ID" in report["data_types"] and report["cause"] == "对象存储桶误设为公开"
    assert report["measures"] == "已关闭公开访问"
    assert notice["incident_id"] == "inc-1" and notice["information_types"] == report["data_types"]
    assert [o["id"] for o in body["obligations"]] == [o.id for o in a.obligations]
    text = json.dumps(body, ensure_ascii=False)
    for secret in [*RAW_IDS, *(person_key(i) for i in range(200))]:
        assert secret not in text
    # no report yet while the occurrence time is unknown
    assert get(env, "/v1/incidents/inc-9/report", "soc") == {"report": None, "notice": None, "obligations": []}


# ---------------------------------------------------------------------------------------------------
# POST obligation marks → incident-updates
# ---------------------------------------------------------------------------------------------------


def read_updates(env: Env, update_ids: set[str], timeout: float = 60.0) -> dict[str, tuple[bytes, dict[str, Any]]]:
    consumer = Consumer({"bootstrap.servers": env.engine.kafka_bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topics().incident_updates])
    seen: dict[str, tuple[bytes, dict[str, Any]]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not update_ids <= set(seen):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                doc = json.loads(msg.value() or b"{}")
                if "update_id" in doc:  # the agent's timer also sends ticks on this topic
                    seen[doc["update_id"]] = (msg.key() or b"", doc)
    finally:
        consumer.close()
    return seen


def post(env: Env, key: str, incident: str, obligation: str, body: Any, params: Any = None) -> Any:
    return env.client.post(f"/v1/incidents/{incident}/obligations/{obligation}", json=body, params=params,
                           headers=bearer(env.keys[key]))


def test_marks_are_produced_as_incident_updates(env: Env) -> None:
    at = NOW - timedelta(minutes=10)
    done = post(env, "soc", "inc-1", "regulator_report",
                {"action": "done", "at": at.isoformat(), "note": "sent to 市网信办"}, {"processor_id": "acme-cn"})
    assert done.status_code == 202, done.text
    waive = post(env, "acme", "inc-old", "notify_individuals",
                 {"action": "waive", "reason": "数据已加密，可有效避免危害"})
    assert waive.status_code == 202, waive.text
    now_done = post(env, "beta", "inc-1", "followup_report", {"action": "done"})
    assert now_done.status_code == 202, now_done.text
    sent = {r.json()["update_id"]: r.json() for r in (done, waive, now_done)}
    seen = read_updates(env, set(sent))
    assert set(sent) <= set(seen)

    key, doc = seen[done.json()["update_id"]]
    update = IncidentUpdate.model_validate(doc)
    assert key == b"acme-cn" and update.processor_id == "acme-cn" and update.incident_id == "inc-1"
    assert update.source == "api" and update.actor == "analyst-li" and update.note == "sent to 市网信办"
    assert update.reported_at == at and update.notified_at is None and update.waivers == {}
    assert len(update.update_id) == 32 and NOW - timedelta(minutes=1) <= update.received_at
    assert IncidentUpdate.model_validate(sent[update.update_id]) == update  # the 202 body is what was produced

    key, doc = seen[waive.json()["update_id"]]
    update = IncidentUpdate.model_validate(doc)
    assert key == b"acme-cn" and update.incident_id == "inc-old" and update.actor == "acme-ops"
    assert update.waivers == {"notify_individuals": "数据已加密，可有效避免危害"} and update.reported_at is None

    key, doc = seen[now_done.json()["update_id"]]
    update = IncidentUpdate.model_validate(doc)
    assert key == b"beta-hk" and update.followup_reported_at is not None
    assert abs((update.followup_reported_at - update.received_at).total_seconds()) < 1


@pytest.mark.parametrize(
    ("key", "incident", "obligation", "body", "params", "code"),
    [
        ("soc", "inc-1", "regulator_report", {"action": "waive", "reason": "x"}, {"processor_id": "acme-cn"}, 422),
        ("admin", "inc-old", "followup_report", {"action": "waive", "reason": "x"}, None, 422),
        ("regulator", "inc-old", "notify_individuals", {"action": "done"}, None, 403),
        ("regulator", "inc-old", "regulator_report", {"action": "waive", "reason": "x"}, None, 403),
        ("acme", "inc-1", "regulator_report", {"action": "done"}, {"processor_id": "beta-hk"}, 404),
        ("acme", "inc-9", "notify_individuals", {"action": "done"}, None, 404),
        ("admin", "inc-1", "regulator_report", {"action": "done"}, None, 409),
        ("admin", "nope", "regulator_report", {"action": "done"}, None, 404),
        ("admin", "inc-old", "notify_individuals", {"action": "waive"}, None, 422),
        ("admin", "inc-old", "notify_individuals", {"action": "waive", "reason": ""}, None, 422),
        ("admin", "inc-old", "notify_individuals", {"action": "finish"}, None, 422),
        ("admin", "inc-old", "notify_individuals", {"action": "done", "at": "2025-06-10T10:00:00"}, None, 422),
        ("admin", "inc-old", "notify_individuals",
         {"action": "done", "at": (NOW + timedelta(days=1)).isoformat()}, None, 422),
        ("admin", "inc-old", "report_everyone", {"action": "done"}, None, 422),
    ],
    ids=["waive-regulator-report", "waive-followup", "regulator-done", "regulator-waive", "other-processor",
         "other-processor-unique-id", "ambiguous", "missing", "no-reason", "empty-reason", "bad-action",
         "naive-at", "future-at", "unknown-obligation"],
)
def test_mark_refusals(env: Env, key: str, incident: str, obligation: str, body: Any, params: Any,
                       code: int) -> None:
    resp = post(env, key, incident, obligation, body, params)
    assert resp.status_code == code, resp.text


def test_mark_answers_503_when_kafka_is_down(env: Env) -> None:
    assert env.engine.es_url is not None
    app = create_app(ApiSettings(es_url=env.engine.es_url, es_index_prefix=env.prefix,
                                 kafka_bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        app.state.producer = UpdateProducer(app.state.settings.kafka_bootstrap, topics().incident_updates, 1.0)
        resp = client.post("/v1/incidents/inc-old/obligations/notify_individuals", json={"action": "done"},
                           headers=bearer(env.keys["soc"]))
        assert resp.status_code == 503 and resp.headers["retry-after"]
        assert resp.json()["detail"] == "event bus unavailable; nothing recorded"


# ---------------------------------------------------------------------------------------------------
# Alerts
# ---------------------------------------------------------------------------------------------------


def test_alerts_list_filters_and_scoping(env: Env) -> None:
    by_raised = sorted(env.data.alerts, key=lambda a: (-a.raised_at.timestamp(), a.alert_id))
    assert ids(env, "regulator", path="/v1/alerts") == [a.alert_id for a in by_raised]
    soon, overdue, critical = env.data.alerts

    def alert_ids(key: str, params: Any) -> list[str]:
        return ids(env, key, params, path="/v1/alerts")

    assert alert_ids("admin", {"severity": "critical"}) == [critical.alert_id]
    assert alert_ids("admin", {"type": "obligation_due_soon"}) == [soon.alert_id]
    assert alert_ids("admin", {"incident_id": "inc-old"}) == [overdue.alert_id]
    assert alert_ids("admin", {"obligation": "notify_individuals"}) == [overdue.alert_id]
    assert set(alert_ids("admin", {"processor_id": "acme-cn"})) == {soon.alert_id, overdue.alert_id}
    assert alert_ids("admin", {"status": "resolved"}) == []
    assert alert_ids("admin", {"to": "2026-01-01T00:00:00Z"}) == [overdue.alert_id]
    assert alert_ids("admin", {"from": (NOW - timedelta(hours=1)).isoformat()}) == [
        a.alert_id for a in by_raised if a is not overdue
    ]
    assert set(alert_ids("acme", {})) == {soon.alert_id, overdue.alert_id}
    assert alert_ids("acme", {"severity": "critical"}) == []
    assert env.client.get("/v1/alerts", params={"severity": "urgent"},
                          headers=bearer(env.keys["admin"])).status_code == 422


def test_alert_by_id(env: Env) -> None:
    critical = env.data.alerts[2]
    served = get(env, f"/v1/alerts/{critical.alert_id}", "beta")
    assert served.pop("texts")["en"]["title"] == critical.title  # plus the Chinese text (issue 15)
    assert Alert.model_validate(served) == critical
    as_regulator = get(env, f"/v1/alerts/{critical.alert_id}", "regulator")
    as_regulator.pop("texts")
    assert Alert.model_validate(as_regulator) == critical
    other = env.client.get(f"/v1/alerts/{critical.alert_id}", headers=bearer(env.keys["acme"]))
    missing = env.client.get("/v1/alerts/nope", headers=bearer(env.keys["acme"]))
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()


def test_openapi_lists_the_routes_with_bearer(env: Env) -> None:
    spec = env.client.get("/openapi.json").json()
    for path, method in [("/v1/incidents", "get"), ("/v1/incidents/{incident_id}", "get"),
                         ("/v1/incidents/{incident_id}/report", "get"),
                         ("/v1/incidents/{incident_id}/obligations/{obligation}", "post"),
                         ("/v1/alerts", "get"), ("/v1/alerts/{alert_id}", "get")]:
        assert {"bearerAuth": []} in spec["paths"][path][method]["security"], path


# ---------------------------------------------------------------------------------------------------
# Report downloads, masking for regulators, audit of marks (issue 6)
# ---------------------------------------------------------------------------------------------------

VALID_ID = "11010519491231002X"  # a resident ID with a valid GB 11643 check character


def with_pi_in_free_text(env: Env) -> IncidentRecord:
    """A copy of incident A under a new id whose platform-written texts hold a resident ID and a phone."""
    a = env.data.incidents["A"]
    assert a.report is not None and a.notice is not None
    text = f"员工王某（身份证{VALID_ID}，手机13812345678）误将<b>客户名单</b>发出"
    record = a.model_copy(update={
        "id": "pi-text-" + a.id, "incident_id": "inc-pi",
        "report": a.report.model_copy(update={"cause": text, "measures": "已联系 13812345678 删除"}),
        "notice": a.notice.model_copy(update={"cause": text}),
    })  # fmt: skip
    env.es.index(index=incidents_index(env.prefix), id=record.id, document=incident_source(record),
                 refresh="wait_for")
    return record


def test_regulators_see_pi_in_free_text_masked_others_as_written(env: Env) -> None:
    with_pi_in_free_text(env)
    regulator = get(env, "/v1/incidents/inc-pi/report", "regulator")
    text = json.dumps(regulator, ensure_ascii=False)
    assert VALID_ID not in text and "13812345678" not in text
    assert "110105********002X" in regulator["report"]["cause"] and "138****5678" in regulator["report"]["measures"]
    assert "138****5678" in get(env, "/v1/incidents/inc-pi", "regulator")["notice"]["cause"]
    assert VALID_ID in get(env, "/v1/incidents/inc-pi/report", "admin")["report"]["cause"]
    assert VALID_ID in get(env, "/v1/incidents/inc-pi", "acme")["report"]["cause"]  # the platform's own words


def test_report_downloads_as_json_and_printable_html(env: Env) -> None:
    with_pi_in_free_text(env)
    resp = env.client.get("/v1/incidents/inc-pi/report", params={"download": "true"},
                          headers=bearer(env.keys["soc"]))
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == 'attachment; filename="incident-report-acme-cn-inc-pi.json"'
    assert resp.json()["report"]["quantity_persons"] == 7

    html = env.client.get("/v1/incidents/inc-pi/report.html", headers=bearer(env.keys["regulator"]))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    page = html.text
    assert "个人信息安全事件报告" in page and "Obligations" in page and "@media print" in page
    assert "7（去重计数 counted）" in page and "acme-cn" in page
    assert VALID_ID not in page and "138****5678" in page and "<b>客户名单</b>" not in page  # masked, escaped
    assert "&lt;b&gt;客户名单&lt;/b&gt;" in page and "<script" not in page
    assert "Art. 11" in page or "第十一条" in page
    got = env.client.get("/v1/incidents/inc-pi/report.html", params={"download": "1"},
                         headers=bearer(env.keys["admin"]))
    assert got.headers["content-disposition"].endswith('.html"') and VALID_ID in got.text
    assert env.client.get("/v1/incidents/inc-pi/report.html").status_code == 401
    assert env.client.get("/v1/incidents/inc-pi/report.html", headers=bearer(env.keys["beta"])).status_code == 404


def test_report_as_pdf_with_chinese_fonts_names_its_pack_and_articles(env: Env) -> None:
    """Issue 15 point 5: the Jinja2 report rendered to PDF by WeasyPrint; poppler's pdffonts, pdftotext and
    pdftoppm (Debian poppler-utils) check the embedded CJK font, the text, and make a PNG to look at."""
    import shutil
    import subprocess
    from pathlib import Path

    with_pi_in_free_text(env)
    resp = env.client.get("/v1/incidents/inc-pi/report.pdf", headers=bearer(env.keys["regulator"]))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == 'inline; filename="incident-report-acme-cn-inc-pi.pdf"'
    assert resp.content.startswith(b"%PDF-")
    out = Path("test-artifacts/reports")
    out.mkdir(parents=True, exist_ok=True)
    pdf = out / "incident-report-regulator.pdf"
    pdf.write_bytes(resp.content)
    for tool in ("pdffonts", "pdftotext", "pdftoppm"):
        assert shutil.which(tool), f"{tool} missing: apt-get install poppler-utils"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"WenQuanYi|NotoSansCJK|Noto Sans CJK|SourceHanSans", fonts), fonts
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    html = env.client.get("/v1/incidents/inc-pi/report.html", headers=bearer(env.keys["regulator"])).text
    pack = re.search(r'id="pack">规则包 Rule packs: <strong>([^<]+)</strong>', html)
    assert pack and pack.group(1) != "—"
    assert "个人信息安全事件报告" in text and pack.group(1).split("、")[0] in text and "法定义务" in text
    assert "Art. 11" in text and "个人信息保护法" in text  # the articles it relies on
    assert VALID_ID not in text and "138****5678" in text  # masked for the regulator, as the HTML
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "1", str(pdf), str(out / "incident-report")],
                   check=True)
    png = next(out.glob("incident-report*-1.png"))
    assert png.stat().st_size > 20_000  # a rendered page, not an empty one
    assert env.client.get("/v1/incidents/inc-pi/report.pdf", headers=bearer(env.keys["beta"])).status_code == 404
    got = env.client.get("/v1/incidents/inc-pi/report.pdf", params={"download": "true"},
                         headers=bearer(env.keys["admin"]))
    assert got.headers["content-disposition"].startswith("attachment;")


def test_obligation_marks_are_audited(env: Env) -> None:
    resp = post(env, "soc", "inc-1", "regulator_report", {"action": "done", "note": "已报送"},
                {"processor_id": "acme-cn"})
    assert resp.status_code == 202
    audit = get(env, "/v1/audit", "regulator", {"action": "incident.obligation.done"})
    mine = [r for r in audit["items"] if r["details"].get("update_id") == resp.json()["update_id"]]
    assert len(mine) == 1
    record = mine[0]
    assert record["actor"] == {"key_id": record["actor"]["key_id"], "name": "analyst-li", "role": "soc_analyst"}
    assert record["target_type"] == "incident" and record["processor_id"] == "acme-cn"
    assert record["reason"] == "已报送" and record["details"]["obligation"] == "regulator_report"
    theirs = get(env, "/v1/audit", "beta", {"action": "incident.obligation.done", "size": 500})["items"]
    assert {r["processor_id"] for r in theirs} <= {"beta-hk"}  # a platform reads only its own records
    assert all(r["details"].get("update_id") != resp.json()["update_id"] for r in theirs)
