"""Dead letters (issue 15 point 2) against real embedded engines (noida-db: Kafka and Elasticsearch).

Dead-letter messages are written to the DLQ topic exactly as the detector writes them (value = original
bytes, key = the original key, ``fw-dead-letter`` header) and their records indexed with the offsets the
broker gave them, as the indexer does. Then:

- ``GET /v1/dead-letters``: reason, error, when, the pointer to the original; a platform key sees only its
  own; filters; one by id; regulator keys get PI in ``error`` masked;
- ``flowwatch dead-letters redrive`` (the CLI, through typer): re-produces each kept original to
  ``flow-events`` byte for byte with its key, once — a second run produces nothing — and the API then shows
  the redrive; a record whose pointer no longer matches its bytes is refused, a missing original reported.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flowwatch.apikeys import Role, create_key
from flowwatch.cluster import ensure_topics
from flowwatch.es_indices import dead_letters_index
from flowwatch.ids import dead_letter_id
from flowwatch.models import DeadLetter
from flowwatch.settings import ApiSettings
from flowwatch_api.app import create_app
from flowwatch_tools.cli.main import app as cli_app
from flowwatch_tools.engines import Engine
from tests.integration.conftest import NoidaIndex

pytestmark = pytest.mark.integration

PHONE = "13912345678"


@dataclass
class Env:
    engine: Engine
    es: Elasticsearch
    prefix: str
    dlq: str
    source: str
    keys: dict[str, str]
    client: TestClient
    originals: dict[str, tuple[bytes, bytes]]  # dead_letter_id -> (key, value)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def produce_dead_letter(bootstrap: str, dlq: str, source: str, key: bytes, value: bytes, reason: str, error: str,
                        processor_id: str | None, received_at: datetime) -> dict[str, Any]:
    """Write one dead letter as the detector does; return its record with the broker's partition/offset."""
    record = DeadLetter(dead_letter_id=dead_letter_id(value), reason=reason, error=error, event_id=None,
                        processor_id=processor_id, size_bytes=len(value), source_topic=source, source_partition=0,
                        source_offset=0, dlq_topic=dlq, received_at=received_at).model_dump(mode="json")
    got: list[Any] = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(dlq, key=key, value=value, headers=[("fw-reason", reason.encode()),
                                                         ("fw-dead-letter", json.dumps(record).encode())],
                     on_delivery=lambda err, msg: got.append((err, msg)))
    assert producer.flush(30) == 0 and got and got[0][0] is None
    record["dlq_partition"], record["dlq_offset"] = got[0][1].partition(), got[0][1].offset()
    return record


def consume_all(bootstrap: str, topic: str, partitions: int) -> list[tuple[bytes | None, bytes, dict[str, bytes]]]:
    """Every message of ``topic`` (key, value, headers), read from the beginning."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, eof = [], set()
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while len(eof) < partitions and datetime.now(UTC) < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            eof.add(msg.partition())
            continue
        out.append((msg.key(), msg.value() or b"", dict(msg.headers() or [])))
    consumer.close()
    return out


@pytest.fixture(scope="module")
def env(noida_es: NoidaIndex) -> Iterator[Env]:
    engine, es, prefix = noida_es.engine, noida_es.es, noida_es.prefix
    dlq, source = f"dlq-{prefix}", f"events-{prefix}"
    ensure_topics(engine.kafka_bootstrap, {dlq: 1, source: 1})
    now = datetime.now(UTC).replace(microsecond=0)
    cases = [
        (b"acme-cn", b'{"schema_version": "1.0", "event_id": "e1", "processor": {"id": "acme-cn"}}',
         "schema_violation", "kind: Field required", "acme-cn"),
        (b"beta-hk", b'{"broken json', "invalid_json", f"unexpected end of data near 'tel {PHONE}'", "beta-hk"),
        (b"acme-cn", b'{"schema_version": "1.0", "event_id": "e2", "processor": {"id": "other"}}',
         "key_mismatch", "key 'acme-cn' is not processor.id 'other'", "acme-cn"),
    ]
    originals, records = {}, []
    for i, (key, value, reason, error, pid) in enumerate(cases):
        rec = produce_dead_letter(engine.kafka_bootstrap, dlq, source, key, value, reason, error, pid,
                                  now - timedelta(minutes=10 - i))
        originals[rec["dead_letter_id"]] = (key, value)
        records.append(rec)
    for rec in records:
        es.index(index=dead_letters_index(prefix), id=rec["dead_letter_id"], document=rec, refresh="wait_for")
    keys = {
        "admin": create_key(es, prefix, Role.ADMIN)[0],
        "regulator": create_key(es, prefix, Role.REGULATOR)[0],
        "acme": create_key(es, prefix, Role.PLATFORM, processor_id="acme-cn")[0],
    }
    app = create_app(ApiSettings(es_url=engine.es_url, es_index_prefix=prefix,
                                 kafka_bootstrap=engine.kafka_bootstrap))
    with TestClient(app) as client:
        yield Env(engine, es, prefix, dlq, source, keys, client, originals)


def test_list_shows_reason_error_time_and_original(env: Env) -> None:
    body = env.client.get("/v1/dead-letters", headers=bearer(env.keys["admin"])).json()
    assert body["total"] == 3 and len(body["items"]) == 3
    reasons = [i["reason"] for i in body["items"]]
    assert reasons == ["key_mismatch", "invalid_json", "schema_violation"]  # newest first
    for item in body["items"]:
        assert item["original"]["topic"] == env.dlq and item["original"]["offset"] is not None
        assert item["received_at"] and item["error"] and item["redrive"] is None
        assert item["dead_letter_id"] in env.originals


def test_platform_key_sees_only_its_own(env: Env) -> None:
    body = env.client.get("/v1/dead-letters", headers=bearer(env.keys["acme"])).json()
    assert {i["processor_id"] for i in body["items"]} == {"acme-cn"} and body["total"] == 2
    beta = next(i for i, (k, _) in env.originals.items() if k == b"beta-hk")
    assert env.client.get(f"/v1/dead-letters/{beta}", headers=bearer(env.keys["acme"])).status_code == 404
    assert env.client.get(f"/v1/dead-letters/{beta}", headers=bearer(env.keys["admin"])).status_code == 200
    # asking for the other processor by filter gives nothing, not an error
    other = env.client.get("/v1/dead-letters", params={"processor_id": "beta-hk"}, headers=bearer(env.keys["acme"]))
    assert other.status_code == 200 and other.json()["total"] == 0


def test_filters_and_masking(env: Env) -> None:
    admin = bearer(env.keys["admin"])
    body = env.client.get("/v1/dead-letters", params={"reason": "invalid_json"}, headers=admin).json()
    assert [i["reason"] for i in body["items"]] == ["invalid_json"]
    assert PHONE in body["items"][0]["error"]
    masked = env.client.get("/v1/dead-letters", params={"reason": "invalid_json"},
                            headers=bearer(env.keys["regulator"])).json()["items"][0]["error"]
    assert PHONE not in masked and "139" in masked
    assert env.client.get("/v1/dead-letters", params={"q": "required"}, headers=admin).json()["total"] == 1
    bad = env.client.get("/v1/dead-letters", params={"reasons": "x"}, headers=admin)
    assert bad.status_code == 400 and bad.json()["parameter"] == "reasons"


def run_cli(env: Env, *args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli_app, ["dead-letters", "redrive", "--json", *args], env={
        "FLOWWATCH_KAFKA_BOOTSTRAP": env.engine.kafka_bootstrap, "FLOWWATCH_ES_URL": env.engine.es_url or "",
        "FLOWWATCH_ES_INDEX_PREFIX": env.prefix})
    assert result.exit_code == 0, result.output
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("{")][-1]
    out: dict[str, Any] = json.loads(line)
    return out


def test_redrive_reproduces_originals_once(env: Env) -> None:
    dry = run_cli(env, "--reason", "schema_violation", "--dry-run")
    assert dry["counts"] == {"dry_run": 1}
    assert consume_all(env.engine.kafka_bootstrap, env.source, 1) == []

    first = run_cli(env, "--processor-id", "acme-cn")
    assert first["counts"] == {"redriven": 2}
    produced = consume_all(env.engine.kafka_bootstrap, env.source, 1)
    assert sorted((k, v) for k, v, _ in produced) == sorted(
        v for i, v in env.originals.items() if v[0] == b"acme-cn")
    assert all(h["fw-redrive-of"].decode().split("@")[0] in env.originals for _, _, h in produced)

    again = run_cli(env, "--processor-id", "acme-cn")
    assert again["counts"] == {"already_redriven": 2}
    everything = run_cli(env)
    assert everything["counts"] == {"already_redriven": 2, "redriven": 1}
    assert len(consume_all(env.engine.kafka_bootstrap, env.source, 1)) == 3  # each original exactly once

    items = env.client.get("/v1/dead-letters", headers=bearer(env.keys["admin"])).json()["items"]
    assert all(i["redrive"]["state"] == "done" and i["redrive"]["target_topic"] == env.source for i in items)
    audit = env.client.get("/v1/audit", params={"action": "dead_letter.redrive"},
                           headers=bearer(env.keys["admin"])).json()
    assert audit["total"] == 2  # one record per run that redrove something


def test_redrive_refuses_a_pointer_that_does_not_match_and_reports_a_missing_original(env: Env) -> None:
    now = datetime.now(UTC)
    wrong = produce_dead_letter(env.engine.kafka_bootstrap, env.dlq, env.source, b"gamma", b'{"x": 1}',
                                "schema_violation", "x", "gamma", now)
    wrong["dead_letter_id"] = dead_letter_id(b"something else")
    gone = {**wrong, "dead_letter_id": dead_letter_id(b"gone"), "dlq_offset": 10_000}
    for rec in (wrong, gone):
        env.es.index(index=dead_letters_index(env.prefix), id=rec["dead_letter_id"], document=rec,
                     refresh="wait_for")
    report = run_cli(env, "--processor-id", "gamma")
    assert report["counts"] == {"original_mismatch": 1, "original_missing": 1}
    assert len(consume_all(env.engine.kafka_bootstrap, env.source, 1)) == 3  # nothing produced
