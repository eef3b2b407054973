"""Issue 16 point 2 end to end on the real embedded engines (noida-db): ``PUT /v1/detection-config`` →
the ``detection-settings`` topic → the detector's processing path (``init_worker`` starts the registry
reader on the topic; ``process_batch`` installs what it read) — the allow-list and the custom recognizer
change the findings of the next batch, with an audit record and no plain list value anywhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.detection.config import value_hash
from flowwatch.es_indices import audit_index
from flowwatch.settings import ApiSettings, topics
from flowwatch_api.app import create_app
from flowwatch_detector import processing
from flowwatch_detector.processing import RawEvent, init_worker, process_batch
from flowwatch_tools.engines import Engine
from tests.integration.conftest import NoidaIndex, wait_for

pytestmark = pytest.mark.integration

TEST_PHONE = "13800138000"
SETTINGS = {
    "allow": [{"value": TEST_PHONE, "entity": "CN_MOBILE_PHONE", "note": "QA account"}],
    "recognizers": [{"entity": "EMPLOYEE_ID", "pattern": r"EMP\d{6}", "context": ["工号"], "score": 0.4}],
}


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    keys: dict[str, str]
    client: TestClient


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    try:
        ensure_topics(engine.kafka_bootstrap, topics().all_with_partitions())
        keys = {
            "admin": create_key(es, prefix, Role.ADMIN, name="admin-1")[0],
            "soc": create_key(es, prefix, Role.SOC_ANALYST)[0],
            "shop": create_key(es, prefix, Role.PLATFORM, processor_id="shop")[0],
        }
        app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                     kafka_bootstrap=engine.kafka_bootstrap))  # fmt: skip
        with TestClient(app) as client:
            yield Env(engine, es, prefix, keys, client)
    finally:
        reader = processing._detection_settings
        if reader is not None:
            reader.stop()
            reader._thread.join(timeout=10)
            processing._detection_settings = None


def auth(env: Env, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.keys[who]}"}


def event(n: int, processor: str = "shop") -> RawEvent:
    body = {
        "schema_version": "1.0", "event_id": f"ev-{n}", "kind": "transfer",
        "occurred_at": "2026-11-20T09:30:00+08:00", "processor": {"id": processor, "name": processor},
        "source": {"region": "CN"}, "destination": {"region": "CN"}, "activity": "share",
        "legal_basis": "consent", "dataset": {"record_count": 1},
        "text": f"测试手机{TEST_PHONE}，客户手机13912345678，工号EMP123456",
    }  # fmt: skip
    return RawEvent("flow-events", 0, n, processor.encode(), orjson.dumps(body))


def entity_types(outcome: processing.Outcome) -> dict[str, int]:
    assert outcome.finding is not None
    finding = orjson.loads(outcome.finding)
    return {e["type"]: e["count"] for e in finding["entities"]}


def test_invalid_settings_are_refused_with_every_problem(env: Env) -> None:
    bad = {"allow": [{"sha256": "xyz"}], "recognizers": [{"entity": "CN_MOBILE_PHONE", "pattern": "("}]}
    resp = env.client.put("/v1/detection-config", json=bad, headers=auth(env, "admin"))
    assert resp.status_code == 422, resp.text
    where = [e["loc"] for e in resp.json()["errors"]]
    assert ["body", "allow[0].sha256"] in where and ["body", "recognizers[0].pattern"] in where
    assert env.client.put("/v1/detection-config", json=SETTINGS, headers=auth(env, "soc")).status_code == 403


def test_put_is_hashed_audited_and_hot_reloaded_by_the_detector(env: Env) -> None:
    init_worker(b"k", env.engine.kafka_bootstrap)
    before = entity_types(process_batch([event(1)], "dlq")[0])
    assert before.get("CN_MOBILE_PHONE") == 2 and "EMPLOYEE_ID" not in before

    resp = env.client.put("/v1/detection-config", json=SETTINGS, headers=auth(env, "admin"))
    assert resp.status_code == 202, resp.text
    stored = resp.json()
    assert TEST_PHONE not in resp.text and stored["allow"][0]["sha256"] == value_hash(TEST_PHONE)
    assert stored["updated_by"] == "admin-1"

    got = env.client.get("/v1/detection-config", headers=auth(env, "soc"))
    assert got.status_code == 200 and got.json()["recognizers"][0]["entity"] == "EMPLOYEE_ID"
    assert TEST_PHONE not in got.text

    def reloaded() -> dict[str, int] | None:
        types = entity_types(process_batch([event(2)], "dlq")[0])
        return types if "EMPLOYEE_ID" in types else None

    after = wait_for(reloaded, timeout=60, what="the detector to apply the new settings")
    assert after["CN_MOBILE_PHONE"] == 1 and after["EMPLOYEE_ID"] == 1

    index = audit_index(env.prefix)
    env.es.indices.refresh(index=index)
    hits = env.es.search(index=index, query={"term": {"action": "detection_config.put"}})["hits"]["hits"]
    assert hits and hits[0]["_source"]["details"]["recognizers"] == ["EMPLOYEE_ID"]
    assert TEST_PHONE not in orjson.dumps(hits[0]["_source"]).decode()


def test_processor_lists_through_the_api(env: Env) -> None:
    other = env.client.put("/v1/detection-config/processors/bank", json={"allow": []}, headers=auth(env, "shop"))
    assert other.status_code == 403
    resp = env.client.put("/v1/detection-config/processors/shop",
                          json={"allow": [{"value": "13912345678"}]}, headers=auth(env, "shop"))  # fmt: skip
    assert resp.status_code == 202, resp.text
    assert set(resp.json()) == {"processor_id", "allow", "deny", "updated_at", "updated_by"}  # its lists only
    whole = env.client.get("/v1/detection-config", headers=auth(env, "admin")).json()
    assert whole["recognizers"][0]["entity"] == "EMPLOYEE_ID"  # the rest of the settings is kept
    assert env.client.get("/v1/detection-config", headers=auth(env, "shop")).status_code == 403
    init_worker(b"k", env.engine.kafka_bootstrap)

    def shop_phones_gone() -> bool:
        return "CN_MOBILE_PHONE" not in entity_types(process_batch([event(3, "shop")], "dlq")[0])

    wait_for(shop_phones_gone, timeout=60, what="the processor allow-list")
    time.sleep(0.1)
    assert entity_types(process_batch([event(4, "bank")], "dlq")[0]).get("CN_MOBILE_PHONE") == 1
