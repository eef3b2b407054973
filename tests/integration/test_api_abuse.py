"""API abuse limits against the real stack (noida-db engine, the API as its own uvicorn process, settings from the
environment): 429 with ``Retry-After`` and 413 on ``POST /v1/events`` and on a write route, 401 before any of it,
and every event accepted within the limit on ``flow-events`` (nothing dropped, nothing of a refused batch)."""

from __future__ import annotations

import json
import random
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from confluent_kafka import Consumer

from flowwatch.apikeys import Role, create_key
from flowwatch_tools.stack import Stack
from tests.flows import event
from tests.integration.conftest import es_of

pytestmark = pytest.mark.integration

INGEST_RATE = 200  # events/s per key
LIMITS = {
    "FLOWWATCH_API_RATE_INGEST_EVENTS": str(INGEST_RATE),
    "FLOWWATCH_API_RATE_INGEST_BURST": "1000",
    "FLOWWATCH_API_RATE_WRITE": "0.5",
    "FLOWWATCH_API_RATE_WRITE_BURST": "2",
    "FLOWWATCH_API_MAX_BODY_INGEST": "300000",
    "FLOWWATCH_API_MAX_BODY": "4096",
    "FLOWWATCH_API_HEADER_TIMEOUT": "2",
}
PROFILE = {"processor_id": "acme", "ciio": False, "gba_city": "深圳", "important_data_catalogue_refs": []}


def batch(start: int, n: int) -> list[dict]:  # type: ignore[type-arg]
    rng = random.Random(start)
    return [event(start + i, "acme", rng) for i in range(n)]


def topic_ids(bootstrap: str, topic: str, want: int, timeout: float = 60.0) -> list[str]:
    """Event ids of ``topic`` from the start, until ``want`` were seen (then 2 s more for extras)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    ids: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            ids.append(json.loads(msg.value())["event_id"])
            if len(ids) >= want:
                deadline = min(deadline, time.monotonic() + 2)
    finally:
        consumer.close()
    return ids


def test_abuse_limits_on_the_real_stack(make_stack) -> None:  # type: ignore[no-untyped-def]
    """One stack (starting one costs more than the checks): ingest, a write route, slow headers."""
    stack = make_stack(workers=0, extra_env=LIMITS)  # no detector: flow-events is read by the test alone
    es = es_of(stack)
    keys = {"acme": create_key(es, stack.state.index_prefix, Role.PLATFORM, processor_id="acme")[0],
            "admin": create_key(es, stack.state.index_prefix, Role.ADMIN)[0]}
    es.close()
    check_ingest(stack.state.api_url, keys, stack)
    check_write_route(stack.state.api_url, keys)
    check_slow_headers(stack.state.api_url, keys)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def check_ingest(url: str, keys: dict[str, str], stack: Stack) -> None:
    accepted: list[str] = []
    with httpx.Client(base_url=url, timeout=30) as client:
        # no key: 401, before the body is read
        assert client.post("/v1/events", json=batch(0, 1)).status_code == 401

        # the bucket holds 1000 events: four batches of 250 go through
        for b in range(4):
            docs = batch(b * 250, 250)
            resp = client.post("/v1/events", json=docs, headers=bearer(keys["acme"]))
            assert resp.status_code == 202, resp.text
            accepted += resp.json()["accepted"]
        # the fifth is refused as a whole, with the seconds until 250 events of budget are back
        refused = batch(1000, 250)
        resp = client.post("/v1/events", json=refused, headers=bearer(keys["acme"]))
        assert resp.status_code == 429 and resp.headers["content-type"] == "application/problem+json"
        wait = int(resp.headers["retry-after"])
        assert 1 <= wait <= 250 // INGEST_RATE + 1
        assert resp.json()["budget"] == "ingest" and resp.json()["status"] == 429
        # another key has its own budget
        other = batch(5000, 10)
        resp = client.post("/v1/events", json=other, headers=bearer(keys["admin"]))
        assert resp.status_code == 202
        accepted += resp.json()["accepted"]
        # honouring Retry-After, the same batch goes through
        time.sleep(wait)
        resp = client.post("/v1/events", json=refused, headers=bearer(keys["acme"]))
        assert resp.status_code == 202, resp.text
        accepted += resp.json()["accepted"]

        # 413: declared too large (refused before the app runs) and streamed without a length
        big = json.dumps(batch(2000, 800)).encode()
        assert len(big) > 300_000
        resp = client.post("/v1/events", content=big, headers={**bearer(keys["acme"]),
                                                                "content-type": "application/json"})
        assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"

        def chunks() -> Iterator[bytes]:
            for i in range(0, len(big), 16_384):
                yield big[i:i + 16_384]

        resp = client.post("/v1/events", content=chunks(), headers=bearer(keys["acme"]))
        assert resp.status_code == 413 and resp.json()["status"] == 413

    # every accepted event and nothing else reached flow-events
    ids = topic_ids(stack.state.kafka_bootstrap, stack.topics().flow_events, len(accepted))
    assert len(accepted) == 1260
    assert sorted(ids) == sorted(accepted)


def check_write_route(url: str, keys: dict[str, str]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.put("/v1/processors/acme", json={"profile": PROFILE}).status_code == 401
        for _ in range(2):
            resp = client.put("/v1/processors/acme", json={"profile": PROFILE}, headers=bearer(keys["acme"]))
            assert resp.status_code == 202, resp.text
        resp = client.put("/v1/processors/acme", json={"profile": PROFILE}, headers=bearer(keys["acme"]))
        assert resp.status_code == 429 and resp.json()["budget"] == "write"
        assert resp.headers["retry-after"] == "2"  # 1 request at 0.5/s
        time.sleep(2)
        assert client.put("/v1/processors/acme", json={"profile": PROFILE},
                          headers=bearer(keys["acme"])).status_code == 202
        padded = {"profile": PROFILE, "mechanisms": [], "note": "x" * 5000}
        resp = client.put("/v1/processors/acme", json=padded, headers=bearer(keys["acme"]))
        assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"
        # reads keep working: their own budget
        assert client.get("/v1/me", headers=bearer(keys["acme"])).status_code == 200


def check_slow_headers(url: str, keys: dict[str, str]) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(b"GET /v1/me HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert httpx.get(f"{url}/v1/me", headers=bearer(keys["acme"])).status_code == 200  # others are served
        assert slow.recv(1024) == b""  # closed without an answer
        assert 1.5 < time.monotonic() - started < 6
