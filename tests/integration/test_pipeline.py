"""The main job end to end on the real embedded engines: Kafka client in, Elasticsearch and API out."""

from __future__ import annotations

import json
import random

import httpx
import pytest
from confluent_kafka import Consumer

from flowwatch.apikeys import create_key
from flowwatch.es_indices import dead_letters_index, findings_index, findings_pattern
from flowwatch.ids import dead_letter_id, finding_id
from flowwatch.stored_form import FINDING, unpack
from flowwatch_tools.replay import account, produce
from tests.flows import INVALID, at, encode, event
from tests.integration.conftest import es_of

pytestmark = pytest.mark.integration


def test_events_become_findings_in_elasticsearch_and_api(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack()
    rng = random.Random(7)
    docs = [event(i, "p-a" if i % 3 else "p-b", rng) for i in range(120)]
    raws = [encode(d) for d in docs] + INVALID
    es = es_of(stack)
    prefix = stack.state.index_prefix

    expected = produce(stack.state.kafka_bootstrap, stack.topics().flow_events, raws)
    findings, dead, missing = account(es, prefix, expected, timeout=120)

    assert missing == []
    assert len(findings) == 120 and len(dead) == len(INVALID)
    es.indices.refresh(index=findings_pattern(prefix))

    # exact content of one finding; no raw value anywhere in it
    doc = docs[5]
    rec = doc["records"][0]
    stored = es.get(index=findings_index(prefix, at(doc)), id=finding_id("p-a", doc["event_id"]))["_source"]
    assert isinstance(stored["entities_json"], str) and "entities" not in stored  # stored_form.FINDING
    got = unpack(stored, FINDING)
    assert got["entity_counts"] == {"CN_BANK_CARD": 1, "CN_MOBILE_PHONE": 1, "CN_RESIDENT_ID": 1, "EMAIL_ADDRESS": 1}
    by_type = {e["type"]: e for e in got["entities"]}
    assert by_type["CN_RESIDENT_ID"]["fields"] == ["身份证号"]
    assert by_type["CN_BANK_CARD"]["category"] == "financial_account" and got["sensitive"] is True
    assert by_type["EMAIL_ADDRESS"]["fields"] == ["text"]
    serialised = json.dumps(got, ensure_ascii=False)
    for raw_value in (rec["身份证号"], rec["银行卡号"], rec["手机号"], "user5@example.com"):
        assert raw_value not in serialised
    assert by_type["CN_RESIDENT_ID"]["masked_samples"] == [rec["身份证号"][:6] + "*" * 8 + rec["身份证号"][-4:]]
    assert got["distinct_subjects"] == 2  # the record's holder + the e-mail in the text
    assert got["destination_region"] == "US" and got["processor_name"] == "平台p-a"

    # dead letters: reason indexed, original bytes kept on the DLQ topic with the reason in headers
    dl = es.get(index=dead_letters_index(prefix), id=dead_letter_id(INVALID[0]))["_source"]
    assert dl["reason"] == "invalid_json"
    dl = es.get(index=dead_letters_index(prefix), id=dead_letter_id(INVALID[2]))["_source"]
    assert dl["reason"] == "schema_violation" and "incident" in dl["error"] and dl["event_id"] == "bad-2"
    consumer = Consumer({"bootstrap.servers": stack.state.kafka_bootstrap, "group.id": "t-dlq",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([stack.topics().dead_letters])
    seen: dict[bytes, dict[str, bytes]] = {}
    for _ in range(120):
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            seen[msg.value()] = dict(msg.headers() or [])
        if len(seen) == len(INVALID):
            break
    consumer.close()
    assert set(seen) == set(INVALID)
    assert seen[INVALID[1]]["fw-reason"] == b"schema_violation"
    assert b"occurred_at" in seen[INVALID[1]]["fw-error"]

    # the query API: authenticated, filtered, tenant-scoped
    api = stack.state.api_url
    admin, _ = create_key(es, prefix, "admin")
    platform_b, _ = create_key(es, prefix, "platform", "p-b")
    assert httpx.get(f"{api}/v1/findings").status_code == 401
    r = httpx.get(f"{api}/v1/findings", params={"processor": "p-a", "entity_type": "CN_BANK_CARD", "size": 500},
                  headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200
    assert {f["event_id"] for f in r.json()["items"]} == {d["event_id"] for d in docs if d["processor"]["id"] == "p-a"}
    r = httpx.get(f"{api}/v1/findings", params={"processor": "p-a", "size": 500},
                  headers={"Authorization": f"Bearer {platform_b}"})
    assert r.status_code == 200 and r.json()["items"] == []
    r = httpx.get(f"{api}/v1/findings", params={"size": 500}, headers={"Authorization": f"Bearer {platform_b}"})
    assert {f["processor_id"] for f in r.json()["items"]} == {"p-b"} and len(r.json()["items"]) == 40
    r = httpx.get(f"{api}/v1/findings", params={"from": "2026-11-21T00:00:00Z"},
                  headers={"Authorization": f"Bearer {admin}"})
    assert r.json()["items"] == []
