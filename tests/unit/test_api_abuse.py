"""API abuse limits (``flowwatch_api.abuse``, ``flowwatch_api.serving``): token buckets, the body-size
middleware, and the 429/413/408 answers of a real app (key lookups and the producer stubbed: no engines)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from flowwatch.apikeys import ApiKeyRecord, KeyCache, Role
from flowwatch.settings import ApiSettings
from flowwatch_api.abuse import BucketTable, RequestLimits, budget_of, retry_after
from flowwatch_api.app import create_app
from flowwatch_api.serving import HeaderTimeoutH11Protocol, uvicorn_kwargs
from tests.flows import event


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ buckets


def test_bucket_takes_refills_and_says_how_long_to_wait() -> None:
    clock = Clock()
    table = BucketTable(rate=10, burst=20, clock=clock)
    assert table.take("k", 20) == 0.0
    assert table.take("k", 5) == pytest.approx(0.5)  # refused: nothing taken
    clock.now += 0.5
    assert table.take("k", 5) == 0.0
    assert table.take("k") == pytest.approx(0.1)
    clock.now += 100  # refills only up to the burst
    assert table.take("k", 20) == 0.0 and table.take("k") > 0
    assert table.take("other", 20) == 0.0  # per key
    with pytest.raises(ValueError):
        table.take("k", 21)


def test_peek_takes_nothing() -> None:
    clock = Clock()
    table = BucketTable(rate=1, burst=2, clock=clock)
    assert table.peek("new") == 0.0 and len(table) == 0
    table.take("k", 2)
    assert table.peek("k") == pytest.approx(1.0)
    clock.now += 1
    assert table.peek("k") == 0.0 and table.take("k") == 0.0


def test_peek_honours_the_announced_wait() -> None:
    clock = Clock()
    table = BucketTable(rate=100, burst=1000, clock=clock)
    table.take("k", 1000)
    assert table.take("k", 500) == pytest.approx(5.0)  # refused: Retry-After 5 s
    clock.now += 1
    assert table.peek("k", 1) == pytest.approx(4.0)  # 100 tokens are there, but the client was told 5 s
    clock.now += 4
    assert table.peek("k", 1) == 0.0 and table.take("k", 500) == 0.0


def test_memory_is_bounded_idle_keys_go_first() -> None:
    clock = Clock()
    table = BucketTable(rate=1, burst=10, max_entries=100, clock=clock)
    for i in range(10_000):
        table.take(f"key-{i}")
    assert len(table) <= 100
    clock.now += 10  # every bucket full again: forgotten on the next call, without changing any answer
    table.take("fresh")
    assert len(table) == 1


def test_busy_keys_are_not_evicted_for_idle_ones() -> None:
    clock = Clock()
    table = BucketTable(rate=1, burst=10, max_entries=3, clock=clock)
    table.take("busy", 10)
    clock.now += 20
    table.take("idle-1")
    table.take("busy", 10)
    assert table.take("busy") > 0  # still empty: its state was kept


def test_retry_after_is_whole_seconds_at_least_one() -> None:
    assert retry_after(0.01) == "1" and retry_after(1.0) == "1" and retry_after(1.2) == "2"


def test_budget_of() -> None:
    assert budget_of("POST", "/v1/events") == "ingest"
    assert budget_of("POST", "/v1/events/") == "ingest"
    assert budget_of("GET", "/v1/events") == "read"
    assert budget_of("PUT", "/v1/processors/x") == "write"
    assert budget_of("DELETE", "/v1/notification-routes/x") == "write"


# ------------------------------------------------------------------ the middleware, raw ASGI


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def limited(app: Any = echo_app, ingest: int = 1000, other: int = 100, timeout: float = 5.0) -> RequestLimits:
    return RequestLimits(app, ingest_max=ingest, other_max=other, body_timeout=timeout)


async def call(app: Any, method: str, path: str, chunks: list[bytes], headers: list[tuple[bytes, bytes]] | None = None,
               delay: float = 0.0) -> tuple[int, dict[bytes, bytes], bytes, int]:
    """Status, headers, body of the answer and how many chunks the app read."""
    sent: list[dict[str, Any]] = []
    read = 0

    async def receive() -> dict[str, Any]:
        nonlocal read
        if delay:
            await asyncio.sleep(delay)
        if read >= len(chunks):
            await asyncio.sleep(3600)
        read += 1
        return {"type": "http.request", "body": chunks[read - 1], "more_body": read < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers or []}
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), body, read


def test_content_length_over_the_limit_is_refused_before_the_app_runs() -> None:
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    status, headers, body, read = asyncio.run(call(limited(app), "POST", "/v1/events", [b"x"],
                                                   [(b"content-length", b"1000000000")]))
    assert (status, called, read) == (413, False, 0)
    assert headers[b"content-type"] == b"application/problem+json" and headers[b"connection"] == b"close"
    assert orjson.loads(body)["status"] == 413


def test_streamed_body_is_cut_at_the_limit() -> None:
    chunks = [b"x" * 64] * 10_000  # 640 kB without Content-Length (chunked)
    status, _, body, read = asyncio.run(call(limited(), "PUT", "/v1/processors/p", chunks))
    assert status == 413 and read == 2  # 128 bytes > 100: stopped at the second chunk
    assert orjson.loads(body)["detail"] == "request body over 100 bytes"
    status, _, body, _ = asyncio.run(call(limited(), "POST", "/v1/events", [b"x" * 64] * 15))
    assert (status, body) == (200, b"960")  # ingest has its own, larger limit


def test_slow_body_gets_408() -> None:
    status, headers, _, _ = asyncio.run(call(limited(timeout=0.2), "POST", "/v1/events", [b"x"] * 100,
                                                delay=0.05))
    assert status == 408 and headers[b"connection"] == b"close"


# ------------------------------------------------------------------ the app (stubbed key lookup and producer)


class StubKeys(KeyCache):
    """Every key ``good-<role>`` is valid (role admin, or platform of processor ``acme``); others are not."""

    def __init__(self) -> None:
        super().__init__(ttl=60)
        self.lookups = 0

    def get_or_load(self, key: str, load: Any) -> ApiKeyRecord | None:
        self.lookups += 1
        if not key.startswith("good-"):
            return None
        role = Role(key.removeprefix("good-"))
        return ApiKeyRecord(key_hash=key, key_id=f"id-{role}", role=role, created_at=datetime.now(UTC),
                            processor_id="acme" if role is Role.PLATFORM else None)

    def cached_valid(self, key: str) -> bool:
        return key.startswith("good-")


class StubProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def send_many(self, records: list[tuple[str, bytes]]) -> None:
        self.sent.extend(records)

    def close(self) -> None:
        pass


def stub_app(**settings: Any) -> tuple[Any, StubKeys, StubProducer]:
    app = create_app(ApiSettings(es_url="http://127.0.0.1:9", kafka_bootstrap="127.0.0.1:9", **settings))
    keys, producer = StubKeys(), StubProducer()
    app.state.key_cache, app.state.events_producer = keys, producer
    return app, keys, producer


def auth(role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer good-{role}"}


def batch(n: int, start: int = 0) -> bytes:
    rng = random.Random(n)
    return orjson.dumps([event(start + i, "acme", rng) for i in range(n)])


def test_ingest_counts_events_and_answers_429_for_the_whole_batch() -> None:
    app, _, producer = stub_app(api_rate_ingest_events=1.0, api_rate_ingest_burst=1000)
    with TestClient(app) as client:
        first = client.post("/v1/events", content=batch(600), headers=auth("platform"))
        assert first.status_code == 202 and len(producer.sent) == 600
        second = client.post("/v1/events", content=batch(600, 600), headers=auth("platform"))
        assert second.status_code == 429
        assert second.headers["content-type"] == "application/problem+json"
        assert 195 <= int(second.headers["retry-after"]) <= 201  # 200 events short at 1 event/s
        problem = second.json()
        assert problem["status"] == 429 and problem["budget"] == "ingest"
        assert len(producer.sent) == 600  # nothing of the refused batch
        early = client.post("/v1/events", content=batch(300, 600), headers=auth("platform"))
        assert early.status_code == 429  # would fit, but the client was told to wait: refused before the body
        assert len(producer.sent) == 600
        assert client.post("/v1/events", content=batch(300, 900), headers=auth("admin")).status_code == 202  # per key


def test_write_and_read_budgets_are_per_request() -> None:
    app, _, _ = stub_app(api_rate_write=0.5, api_rate_write_burst=1, api_rate_read=1.0, api_rate_read_burst=2)
    with TestClient(app) as client:
        assert client.get("/v1/me", headers=auth()).status_code == 200
        assert client.get("/v1/me", headers=auth()).status_code == 200
        third = client.get("/v1/me", headers=auth())
        assert third.status_code == 429 and third.json()["budget"] == "read" and third.headers["retry-after"] == "1"
        put = {"name": "x"}
        assert client.put("/v1/processors/acme", json=put, headers=auth()).status_code != 429
        again = client.put("/v1/processors/acme", json=put, headers=auth())
        assert again.status_code == 429 and again.json()["budget"] == "write" and again.headers["retry-after"] == "2"


def test_write_body_over_the_limit_is_413_problem() -> None:
    app, _, _ = stub_app(api_max_body=1000)
    with TestClient(app) as client:
        resp = client.put("/v1/processors/acme", content=b"{" + b" " * 5000 + b"}", headers=auth())
        assert resp.status_code == 413 and resp.headers["content-type"] == "application/problem+json"

        def chunks() -> Any:
            for _ in range(1000):
                yield b" " * 1000

        streamed = client.put("/v1/processors/acme", content=chunks(), headers=auth())
        assert streamed.status_code == 413 and streamed.json()["status"] == 413


def test_unauthenticated_gets_401_then_429_per_ip_before_any_lookup() -> None:
    app, keys, _ = stub_app(api_rate_auth_failures=0.1, api_rate_auth_failures_burst=3)
    with TestClient(app) as client:
        assert client.post("/v1/events", content=b"[]").status_code == 401  # missing key
        for i in range(2):
            assert client.get("/v1/me", headers={"Authorization": f"Bearer bad-{i}"}).status_code == 401
        lookups = keys.lookups
        refused = client.get("/v1/me", headers={"Authorization": "Bearer bad-x"})
        assert refused.status_code == 429 and refused.json()["budget"] == "auth"
        assert int(refused.headers["retry-after"]) == 10
        assert keys.lookups == lookups  # no key lookup for it
        assert client.post("/v1/events", content=b"[]").status_code == 429  # no bypass by leaving the key out
        assert client.get("/v1/me", headers=auth()).status_code == 200  # a key cached as valid still passes


def test_openapi_declares_429_and_413() -> None:
    app, _, _ = stub_app()
    doc = app.openapi()
    assert "429" in doc["paths"]["/v1/findings"]["get"]["responses"]
    assert "413" in doc["paths"]["/v1/events"]["post"]["responses"]
    assert "413" not in doc["paths"]["/v1/findings"]["get"]["responses"]


def test_rates_of_zero_turn_budgets_off() -> None:
    app, _, _ = stub_app(api_rate_read=0)
    with TestClient(app) as client:
        assert all(client.get("/v1/me", headers=auth()).status_code == 200 for _ in range(500))


def test_ingest_burst_must_hold_a_full_batch() -> None:
    with pytest.raises(ValueError):
        ApiSettings(api_rate_ingest_burst=999)


# ------------------------------------------------------------------ serving


def test_uvicorn_kwargs_carry_the_settings() -> None:
    kwargs = uvicorn_kwargs(ApiSettings(api_header_timeout=3, api_limit_concurrency=7))
    assert kwargs["limit_concurrency"] == 7 and kwargs["timeout_keep_alive"] == 5
    assert kwargs["h11_max_incomplete_event_size"] == 16_384
    assert issubclass(kwargs["http"], HeaderTimeoutH11Protocol) and kwargs["http"].header_timeout == 3


async def _serve_and_probe() -> tuple[bytes, bytes, float]:
    import time

    import uvicorn

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

    settings = ApiSettings(api_host="127.0.0.1", api_port=0, api_header_timeout=0.5)
    kwargs = uvicorn_kwargs(settings)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", **kwargs)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # slowloris: never ends its headers
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        slow = await asyncio.wait_for(reader.read(), 5)
        elapsed = time.monotonic() - started
        async with httpx.AsyncClient() as client:  # a normal client meanwhile
            normal = (await client.get(f"http://127.0.0.1:{port}/")).content
        return slow, normal, elapsed
    finally:
        server.should_exit = True
        await task


def test_slow_headers_are_cut_after_the_header_timeout() -> None:
    slow, normal, elapsed = asyncio.run(_serve_and_probe())
    assert slow == b"" and normal == b"ok"  # closed without an answer
    assert 0.3 < elapsed < 2.0
