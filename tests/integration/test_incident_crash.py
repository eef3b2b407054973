"""SIGKILL the worker that holds the incident states in the middle of a stream of multi-event incidents,
start it again: the batched incident log (one record per micro-batch and source partition, persons and
states together, the source offset ``"o"`` in it) recovers from its changelog, input the restarted
consumer skipped is read from the broker (``batch_agent.with_skipped``), and every incident's person
counts come out exact — every update counted once, every overlapping person once, no record ever counting
more than exist. The stream goes on after the restart (as in ``test_egress_crash``); a hole at the very end of
a partition is the end-of-partition check's (``tail_repair``, ``tests/integration/test_tail_repair.py``)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from tests.integration.conftest import produce_keyed, wait_for

pytestmark = pytest.mark.integration

INCIDENTS = 4  # one per processor: the processors' keys spread them over the partitions
EVENTS = 120  # per incident
PERSONS = 200  # per event; consecutive events of an incident share half of them
RATE = 100  # events a second, all incidents together: the stream goes on after the restart


def person(incident: int, n: int) -> str:
    return hashlib.sha256(f"incident-crash-{incident}-{n}".encode()).hexdigest()


def update(i: int, run: str) -> tuple[bytes, bytes]:
    """(key, value) of event ``i``: incident ``i % 4``, persons ``100 k .. 100 k + 199`` of it (k = i // 4),
    every fifth sensitive; keyed by processor, as the pii agent produces incident updates."""
    inc, k = i % INCIDENTS, i // INCIDENTS
    keys = [person(inc, n) for n in range(100 * k, 100 * k + PERSONS)]
    now = datetime.now(UTC).isoformat()
    doc = {
        "processor_id": f"crash-{inc}", "incident_id": f"inc-{inc}", "update_id": f"{run}-{i}", "source": "event",
        "received_at": now, "occurred_at": now, "detected_at": now, "type": "leak", "status": "occurred",
        "person_keys": keys,
        "sensitive_person_keys": [key for n, key in zip(range(100 * k, 100 * k + PERSONS), keys, strict=True)
                                  if n % 5 == 0],
    }  # fmt: skip
    return doc["processor_id"].encode(), json.dumps(doc).encode()  # type: ignore[union-attr]


class Records(threading.Thread):
    """Follows the ``incidents`` topic from the beginning: every record of every incident."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe([topic])
        self.seen: dict[str, list[dict[str, Any]]] = {}
        self.stopped = False
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            while not self.stopped:
                for msg in self.consumer.consume(200, 0.2):
                    if msg.error() is None:
                        rec = json.loads(msg.value())
                        with self.lock:
                            self.seen.setdefault(rec["incident_id"], []).append(rec)
        finally:
            self.consumer.close()

    def latest(self) -> dict[str, dict[str, Any]]:
        """Per incident, the record with the most updates (the latest state)."""
        with self.lock:
            return {inc: max(recs, key=lambda r: (r["updates"], r["persons_counted"]))
                    for inc, recs in self.seen.items()}

    def most(self) -> dict[str, tuple[int, int, int]]:
        """Per incident, the highest (updates, persons, sensitive persons) any record ever said."""
        with self.lock:
            return {inc: (max(r["updates"] for r in recs), max(r["persons_counted"] for r in recs),
                          max(r["sensitive_persons"] for r in recs)) for inc, recs in self.seen.items()}


def test_sigkilled_incident_worker_counts_every_person_once(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=False)
    topics = stack.topics()
    records = Records(stack.state.kafka_bootstrap, topics.incidents)
    records.start()
    run = f"ic{int(time.time())}"
    raws = [update(i, run) for i in range(INCIDENTS * EVENTS)]

    produce_keyed(stack.state.kafka_bootstrap, topics.incident_updates, raws[:INCIDENTS])
    wait_for(lambda: len(records.latest()) == INCIDENTS, timeout=120, what="the first record of each incident")
    step = RATE // 10

    def paced() -> None:
        for i in range(INCIDENTS, len(raws), step):
            produce_keyed(stack.state.kafka_bootstrap, topics.incident_updates, raws[i : i + step])
            time.sleep(0.1)

    producer = threading.Thread(target=paced, daemon=True)
    producer.start()
    time.sleep(1.5)
    stack.kill("detector-1")  # SIGKILL mid-fold: no shutdown, no commit
    killed_while_producing = producer.is_alive()
    time.sleep(1.0)
    stack.restart("detector-1")
    restarted_while_producing = producer.is_alive()  # a hole the consumer skips is seen by the next batch
    producer.join()

    want_persons = 100 * (EVENTS - 1) + PERSONS  # persons 0 .. 100 (n - 1) + 199 of each incident
    want_sensitive = len(range(0, want_persons, 5))

    def done() -> bool:
        latest = records.latest()
        return len(latest) == INCIDENTS and all(r["updates"] == EVENTS for r in latest.values())

    try:
        wait_for(done, timeout=240, what="every update in the incident records")
    except AssertionError as exc:
        got = {inc: (r["updates"], r["persons_counted"], r["sensitive_persons"]) for inc, r in records.latest().items()}
        log = Path(stack.state.components["detector-1"].log).read_text(encoding="utf-8", errors="replace")
        told = [line[:400] for line in log.splitlines()
                if "skipped records" in line or "still pending" in line or "index rebuilt" in line]
        raise AssertionError(f"{exc}: want {EVENTS} updates each, (updates, persons, sensitive) {got}; the worker "
                             f"said {told[-20:] or 'nothing about gaps or pending acknowledgements'}") from exc
    finally:
        records.stopped = True
    assert killed_while_producing and restarted_while_producing, "the kill and the restart must land mid-stream"
    for inc, record in records.latest().items():
        assert (record["persons_counted"], record["sensitive_persons"]) == (want_persons, want_sensitive), inc
    for inc, most in records.most().items():  # no record ever counted a person or an update twice
        assert most == (EVENTS, want_persons, want_sensitive), inc
