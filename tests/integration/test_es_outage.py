"""Elasticsearch stops in the middle of a stream and comes back: the indexer backs off and retries, the API's
readiness says not-ready meanwhile, and every finding arrives exactly once (issue 7 item 5).

Kafka is Tansu here, so stopping noida-db (the embedded Elasticsearch) leaves the broker running. noida-db
is stopped with SIGTERM (it snapshots its data) and started again on the same port by ``Stack.up``.
"""

from __future__ import annotations

import random
import time

import httpx
import pytest

from flowwatch.es_indices import findings_pattern
from flowwatch_tools.replay import account, produce
from tests.flows import encode, event
from tests.integration.conftest import PacedProducer, es_of

pytestmark = pytest.mark.integration

EVENTS = 3000
RATE = 500  # events per second: the stream is still flowing when Elasticsearch goes away


def ready(api: httpx.Client) -> int:
    try:
        return api.get("/readyz").status_code
    except httpx.HTTPError:
        return 0


def test_elasticsearch_outage_loses_and_duplicates_nothing(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="tansu", workers=1, api=True)
    api = httpx.Client(base_url=stack.state.api_url, timeout=10)
    warm = produce(stack.state.kafka_bootstrap, stack.topics().flow_events,
                   [encode(event(i, f"warm-{i % 4}", random.Random(i))) for i in range(8)])
    assert account(es_of(stack), stack.state.index_prefix, warm, timeout=120)[2] == []
    assert ready(api) == 200

    rng = random.Random(7)
    raws = [encode(event(i, f"proc-{i % 8}", rng)) for i in range(EVENTS)]
    producer = PacedProducer(stack.state.kafka_bootstrap, stack.topics().flow_events, raws, RATE)
    expected = producer.expected
    producer.start()
    time.sleep(2.0)
    engine = stack.state.components["engine-noida"]
    stack.kill("engine-noida", sig=15)  # SIGTERM: noida-db snapshots what it holds
    deadline = time.monotonic() + 60
    while engine.alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    stopped_while_producing = producer.is_alive()
    not_ready = [ready(api) for _ in range(3) if not time.sleep(1)]
    time.sleep(3)  # the indexer keeps failing and backing off meanwhile
    stack.up()  # starts noida-db again on the same Elasticsearch port
    producer.join()

    es = es_of(stack)
    findings, dead, missing = account(es, stack.state.index_prefix, expected, timeout=240)
    assert stopped_while_producing, "the outage must land mid-stream"
    assert all(code == 503 for code in not_ready), not_ready
    assert missing == [] and dead == set() and len(findings) == EVENTS
    es.indices.refresh(index=findings_pattern(stack.state.index_prefix))
    assert es.count(index=findings_pattern(stack.state.index_prefix))["count"] == EVENTS + len(warm)
    assert ready(api) == 200
    indexer_log = (stack.home / "logs" / "indexer.log").read_text(errors="replace")
    assert "retrying" in indexer_log  # it backed off and retried, it did not crash
