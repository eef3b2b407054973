"""SIGKILL the worker that holds the export ledger in the middle of a stream of export flows, start it
again: the batched ledger (one window write per batch, persons in chunk entries) recovers from its
changelog and the distinct-person counts come out exact — every flow counted once, every overlapping
person once. Before ``batched_state.durable_write`` this failed in 2 of 3 runs (a commit overtook a
changelog record still in Faust's producer buffer). After that it still failed in about 1 run in 3 (3 of
12): the restarted worker's Faust consumer skipped updates and committed past them (``gap_reader``'s module
doc); the agent now reads them from the broker and applies them first (12 of 12 passed)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from flowwatch.es_indices import ledger_index
from flowwatch.settings import DETECTOR_APP_ID, EXPORT_PERSONS_TABLE
from tests.integration.conftest import indexed, produce_keyed, wait_for

pytestmark = pytest.mark.integration

PROCESSORS = 4
FLOWS = 1600  # 400 per processor
PERSONS = 20  # per flow; consecutive flows of a processor share half of them
RATE = 400


def person(processor: int, n: int) -> str:
    return hashlib.sha256(f"egress-crash-{processor}-{n}".encode()).hexdigest()


def keyed(raw: bytes) -> tuple[bytes, bytes]:
    """(key, value): the update keyed by its processor id, one processor's flows on one partition."""
    return json.loads(raw)["processor_id"].encode(), raw


def update(i: int, run: str) -> bytes:
    """Flow ``i``: processor ``i % 4``; persons ``10 k .. 10 k + 19`` of that processor (k = i // 4); every
    fifth person sensitive."""
    proc, k = i % PROCESSORS, i // PROCESSORS
    keys = [person(proc, n) for n in range(10 * k, 10 * k + PERSONS)]
    return json.dumps({
        "processor_id": f"crash-{proc}", "event_id": f"{run}-{i}", "occurred_at": datetime.now(UTC).isoformat(),
        "activity": "export", "recipient": "Acme", "destination_region": "US", "resolution_basis": "declared",
        "is_export": True, "export_reason": "destination outside mainland", "has_pi": True,
        "persons_in_flow": PERSONS, "person_keys": keys,
        "sensitive_person_keys": [key for n, key in zip(range(10 * k, 10 * k + PERSONS), keys, strict=True)
                                  if n % 5 == 0],
    }).encode()  # fmt: skip


def changelog_summary(bootstrap: str) -> dict[int, tuple[int, int, int]]:
    """Per changelog partition of the ledger table: (records, highest seq, highest source offset "o") as
    the broker holds them — to tell a record that never landed from one that recovery did not read."""
    from confluent_kafka import Consumer, TopicPartition

    topic = f"{DETECTOR_APP_ID}-{EXPORT_PERSONS_TABLE}-changelog"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{time.time()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in parts])
        out: dict[int, tuple[int, int, int]] = {}
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts}
        left = {p for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + 30
        while left and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            value = json.loads(msg.value() or b"null") or {}
            n, seq, o = out.get(msg.partition(), (0, 0, 0))
            out[msg.partition()] = (n + 1, max(seq, int(value.get("seq", 0))), max(o, int(value.get("o") or 0)))
            if msg.offset() + 1 >= ends[msg.partition()]:
                left.discard(msg.partition())
        return out
    finally:
        consumer.close()


def test_sigkilled_egress_worker_counts_every_person_once(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=False)
    es = Elasticsearch(stack.state.es_url, request_timeout=30)
    topic = stack.topics().export_updates
    run = f"ec{int(time.time())}"

    def ledgers() -> dict[str, dict]:  # type: ignore[type-arg]
        return {d["processor_id"]: d for d in indexed(es, ledger_index(stack.state.index_prefix))}

    produce_keyed(stack.state.kafka_bootstrap, topic, [keyed(update(i, run + "w")) for i in range(PROCESSORS)])
    wait_for(lambda: len(ledgers()) == PROCESSORS, timeout=120, what="warm-up ledgers")
    # the warm-up flows (k = 0) already counted persons 0..19 of each processor: the run repeats them

    raws = [keyed(update(i, run)) for i in range(FLOWS)]
    step = RATE // 10

    def paced() -> None:  # keyed by processor, as the pii agent produces export updates
        for i in range(0, len(raws), step):
            produce_keyed(stack.state.kafka_bootstrap, topic, raws[i : i + step])
            time.sleep(0.1)

    producer = threading.Thread(target=paced, daemon=True)
    producer.start()
    time.sleep(2.0)
    stack.kill("detector-1")  # SIGKILL: no shutdown, no commit
    killed_while_producing = producer.is_alive()
    time.sleep(1.0)
    stack.restart("detector-1")
    producer.join()

    per_processor = FLOWS // PROCESSORS
    want_persons = 10 * (per_processor - 1) + PERSONS  # persons 0 .. 10 (n - 1) + 19 of each processor
    want_sensitive = len(range(0, want_persons, 5))

    seen: dict[str, dict] = {}  # type: ignore[type-arg]

    def done() -> dict[str, dict] | None:  # type: ignore[type-arg]
        got = ledgers()
        seen.update(got)
        ok = len(got) == PROCESSORS and all(g["flows"] == per_processor + 1 for g in got.values())
        return got if ok else None

    try:
        final = wait_for(done, timeout=240, what="every flow in the ledger")
    except AssertionError as exc:  # say what the ledger holds
        held = {p: (r["flows"], r["persons"], r["sensitive_persons"]) for p, r in seen.items()}
        want = f"want {per_processor + 1} flows each"
        log = Path(stack.state.components["detector-1"].log).read_text(encoding="utf-8", errors="replace")
        told = [line[:400] for line in log.splitlines()
                if "skipped records" in line or "still pending" in line or "index rebuilt" in line or "DIAG" in line]
        raise AssertionError(f"{exc}: {want}, ledger (flows, persons, sensitive) {held}; the worker said: "
                             f"{told[-40:] or 'nothing about gaps or pending acknowledgements'}; the changelog "
                             f"holds {changelog_summary(stack.state.kafka_bootstrap)}") from exc
    assert killed_while_producing, "the kill must land mid-stream"
    for name, record in final.items():
        assert (record["persons"], record["sensitive_persons"]) == (want_persons, want_sensitive), name
