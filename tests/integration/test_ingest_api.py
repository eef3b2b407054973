"""``POST /v1/events`` against a real Kafka protocol broker (noida-db): what reaches ``flow-events``, with
which key, and what the caller is told."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import Consumer
from fastapi.testclient import TestClient

from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.settings import ApiSettings, topics
from flowwatch_api.app import create_app
from flowwatch_tools.engines import Engine
from tests.flows import event
from tests.integration.conftest import NoidaIndex

pytestmark = pytest.mark.integration


@dataclass
class Env:
    engine: Engine
    keys: dict[str, str]
    client: TestClient


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    ensure_topics(engine.kafka_bootstrap, {topics().flow_events: 2})
    keys = {
        "admin": create_key(es, prefix, Role.ADMIN)[0],
        "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme")[0],
        "soc": create_key(es, prefix, Role.SOC_ANALYST)[0],
        "regulator": create_key(es, prefix, Role.REGULATOR)[0],
    }
    app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                 kafka_bootstrap=engine.kafka_bootstrap))
    with TestClient(app) as client:
        yield Env(engine, keys, client)


def consume(env: Env, want: set[str], timeout: float = 30.0) -> dict[str, tuple[bytes, bytes]]:
    """``{event_id or raw value: (key, value)}`` of the flow-events messages until ``want`` ⊆ seen."""
    consumer = Consumer({"bootstrap.servers": env.engine.kafka_bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topics().flow_events])
    seen: dict[str, tuple[bytes, bytes]] = {}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not want <= set(seen):
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            value = msg.value() or b""
            try:
                ident = json.loads(value).get("event_id") or value.decode()
            except (ValueError, AttributeError):
                ident = value.decode(errors="replace")
            seen[str(ident)] = (msg.key() or b"", value)
    finally:
        consumer.close()
    return seen


def post(env: Env, key: str, body: Any, content_type: str = "application/json") -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return env.client.post("/v1/events", content=data,
                           headers={"Authorization": f"Bearer {env.keys[key]}", "Content-Type": content_type})


def test_one_event_an_array_and_ndjson_are_produced_keyed_by_processor(env: Env) -> None:
    rng = random.Random(5)
    tag = uuid.uuid4().hex[:6]
    one = {**event(1, "acme", rng), "event_id": f"{tag}-one"}
    batch = [{**event(i, "acme", rng), "event_id": f"{tag}-b{i}"} for i in range(3)]
    lines = [{**event(i, "beta", rng), "event_id": f"{tag}-n{i}"} for i in range(2)]
    assert post(env, "acme", one).json() == {"accepted": [f"{tag}-one"], "rejected": []}
    r = post(env, "acme", batch)
    assert r.status_code == 202 and r.json()["accepted"] == [f"{tag}-b{i}" for i in range(3)]
    ndjson = b"\n".join(json.dumps(d, ensure_ascii=False).encode() for d in lines) + b"\n"
    r = post(env, "admin", ndjson, "application/x-ndjson")
    assert r.status_code == 202 and len(r.json()["accepted"]) == 2
    want = {f"{tag}-one", *(d["event_id"] for d in batch + lines)}
    seen = consume(env, want)
    assert want <= set(seen)
    assert seen[f"{tag}-one"][0] == b"acme" and seen[f"{tag}-n0"][0] == b"beta"
    assert json.loads(seen[f"{tag}-b2"][1]) == batch[2]  # the event as sent


def test_invalid_events_are_reported_and_still_sent_on_to_the_dead_letter_path(env: Env) -> None:
    rng = random.Random(6)
    tag = uuid.uuid4().hex[:6]
    good = {**event(1, "acme", rng), "event_id": f"{tag}-good"}
    bad = {**event(2, "acme", rng), "event_id": f"{tag}-bad", "occurred_at": "yesterday"}
    r = post(env, "acme", [good, bad])
    assert r.status_code == 422
    body = r.json()
    assert body["accepted"] == [f"{tag}-good"]
    assert body["rejected"][0]["index"] == 1 and body["rejected"][0]["event_id"] == f"{tag}-bad"
    assert "occurred_at" in body["rejected"][0]["error"] and body["rejected"][0]["dead_lettered"] is True
    seen = consume(env, {f"{tag}-good", f"{tag}-bad"})
    assert seen[f"{tag}-bad"][0] == b"acme"  # the detector will dead-letter it with its reason


def test_refusals(env: Env) -> None:
    rng = random.Random(7)
    other = {**event(1, "beta", rng), "event_id": f"x-{uuid.uuid4().hex[:6]}"}
    assert post(env, "acme", [other]).status_code == 403  # another processor's event
    assert post(env, "soc", other).status_code == 403
    assert post(env, "regulator", other).status_code == 403
    assert env.client.post("/v1/events", json=other).status_code == 401
    assert post(env, "admin", b"{not json").status_code == 400
    assert post(env, "admin", []).status_code == 400
    assert post(env, "admin", [other] * 1001).status_code == 413
    huge = {**event(2, "acme", rng), "event_id": "huge", "text": "x" * 1_100_000}
    r = post(env, "acme", huge)
    assert r.status_code == 422 and r.json()["rejected"][0]["dead_lettered"] is False
    assert "split the batch" in r.json()["rejected"][0]["error"]
