"""The end-of-partition check (``flowwatch_detector.tail_repair``): input the consumer skipped with no record
after it is found and applied anyway.

- Against the embedded noida-db, ``TailRepair.check`` reads exactly the offsets past what the agent applied
  (high watermarks by ListOffsets, records by fetch), applies them once, and leaves alone a partition that is
  not assigned, that had a batch within the interval, or a rebalance.
- On a whole stack: the detector group's committed offsets of ``export-updates`` are moved past 40 export
  flows while the worker is down (the effect of a Faust commit over records it never delivered, seen after a
  SIGKILL: docs/state.md), and nothing more is produced. Without the check the ledger stays at the warm-up's
  one flow per processor for ever (the failure of ``test_egress_crash`` on 2026-12-04); with it every flow is
  counted, exactly once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from elasticsearch import Elasticsearch
from faust.types import TP

from flowwatch.cluster import ensure_topics
from flowwatch.es_indices import incidents_index, ledger_index
from flowwatch.settings import DETECTOR_APP_ID, KafkaSettings
from flowwatch.stored_form import incident_from_source
from flowwatch_detector.tail_repair import TailRepair
from flowwatch_tools.engines import Engine
from tests.integration.conftest import indexed, produce_keyed, wait_for

pytestmark = pytest.mark.integration


class FakeApp:
    """What ``TailRepair`` reads of a Faust app: the consumer's assignment and ``rebalancing``."""

    def __init__(self, topic: str, partitions: list[int]) -> None:
        self.rebalancing = False
        self.tps = {TP(topic, p) for p in partitions}
        self.consumer = SimpleNamespace(assignment=lambda: self.tps)


def test_check_applies_exactly_what_lies_past_the_agent(noida: Engine) -> None:
    ensure_topics(noida.kafka_bootstrap, {"t": 2})
    produce_keyed(noida.kafka_bootstrap, "t", [(b"a", f"v{i}".encode()) for i in range(30)])  # one partition
    settings = KafkaSettings(kafka_bootstrap=noida.kafka_bootstrap)
    probe = Consumer({"bootstrap.servers": noida.kafka_bootstrap, "group.id": "probe"})
    full = next(p for p in (0, 1) if probe.get_watermark_offsets(TopicPartition("t", p), timeout=10)[1] == 30)
    probe.close()
    empty = 1 - full
    applied: dict[int, int] = {full: 10, empty: 0}  # the agent applied offsets < 10 of the full partition
    calls: list[tuple[int, list[int], list[bytes | None], int]] = []

    async def apply(partition: int, records: list[Any], end: int) -> None:
        calls.append((partition, [r.message.offset for r in records], [r.value for r in records], end))
        applied[partition] = end

    async def scenario() -> None:
        app = FakeApp("t", [full, empty])
        repair = TailRepair(app, settings, "t", applied.get, apply, interval=0.5)
        try:
            repair.delivered([full])  # a batch just now: not idle yet
            assert await repair.check() == 0 and not calls
            await asyncio.sleep(0.6)
            app.rebalancing = True
            assert await repair.check() == 0 and not calls
            app.rebalancing = False
            app.tps = {tp for tp in app.tps if tp.partition != full}  # no longer assigned here
            assert await repair.check() == 0 and not calls
            app.tps = FakeApp("t", [full, empty]).tps
            assert await repair.check() == 20
            assert calls == [(full, list(range(10, 30)), [f"v{i}".encode() for i in range(10, 30)], 30)]
            await asyncio.sleep(0.6)
            assert await repair.check() == 0 and len(calls) == 1  # caught up: nothing twice
        finally:
            repair.watermarks.close()

    asyncio.run(scenario())


PROCESSORS, WARM, SKIPPED = 4, 1, 10  # flows per processor: warm-up (applied), then skipped by the commit


def flow(processor: int, n: int, run: str) -> tuple[bytes, bytes]:
    """Export flow ``n`` of ``processor``: 5 persons of its own, one of them sensitive."""
    keys = [hashlib.sha256(f"{run}-{processor}-{n}-{k}".encode()).hexdigest() for k in range(5)]
    value = json.dumps({
        "processor_id": f"tail-{processor}", "event_id": f"{run}-{processor}-{n}",
        "occurred_at": datetime.now(UTC).isoformat(), "activity": "export", "recipient": "Acme",
        "destination_region": "US", "resolution_basis": "declared", "is_export": True,
        "export_reason": "destination outside mainland", "has_pi": True, "persons_in_flow": 5,
        "person_keys": keys, "sensitive_person_keys": keys[:1],
    }).encode()  # fmt: skip
    return f"tail-{processor}".encode(), value


def incident_update(processor: int, n: int, run: str) -> tuple[bytes, bytes]:
    """Update ``n`` of the one incident of ``processor``: 5 persons of its own, one of them sensitive."""
    keys = [hashlib.sha256(f"{run}-i{processor}-{n}-{k}".encode()).hexdigest() for k in range(5)]
    now = datetime.now(UTC).isoformat()
    value = json.dumps({
        "processor_id": f"tail-{processor}", "incident_id": f"inc-{processor}", "update_id": f"{run}-{processor}-{n}",
        "source": "event", "received_at": now, "occurred_at": now, "detected_at": now, "type": "leak",
        "status": "occurred", "person_keys": keys, "sensitive_person_keys": keys[:1],
    }).encode()  # fmt: skip
    return f"tail-{processor}".encode(), value


def commit_at_end(bootstrap: str, topics: list[str], partitions: int, timeout: float = 90.0) -> None:
    """Commit the detector group's offsets of ``topics`` at each partition's end, as a member of the group
    (noida-db refuses commits from outside the group)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": DETECTOR_APP_ID, "enable.auto.commit": False,
                         "session.timeout.ms": 6000})
    try:
        ends = [TopicPartition(t, p, consumer.get_watermark_offsets(TopicPartition(t, p), timeout=10)[1])
                for t in topics for p in range(partitions)]
        consumer.subscribe(topics)
        deadline = time.monotonic() + timeout
        while len(consumer.assignment()) < len(ends):
            assert time.monotonic() < deadline, f"never assigned every partition of {topics}: {consumer.assignment()}"
            consumer.poll(0.5)  # records delivered here are not committed: the commit below names the ends
        consumer.commit(offsets=ends, asynchronous=False)
    finally:
        consumer.close()


def test_a_skipped_partition_end_is_applied_without_a_later_record(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=False, static_membership=False,  # leaves the group on stop
                       extra_env={"FLOWWATCH_TAIL_CHECK_INTERVAL": "3"})
    es = Elasticsearch(stack.state.es_url, request_timeout=30)
    topics = stack.topics()
    run = f"tr{int(time.time())}"

    def ledgers() -> dict[str, dict[str, Any]]:
        return {d["processor_id"]: d for d in indexed(es, ledger_index(stack.state.index_prefix))}

    def incidents() -> dict[str, dict[str, Any]]:  # the stored form packs the rest of a record
        records = [incident_from_source(d) for d in indexed(es, incidents_index(stack.state.index_prefix))]
        return {r.processor_id: r.model_dump() for r in records}

    def produce(numbers: range) -> None:
        bootstrap = stack.state.kafka_bootstrap
        produce_keyed(bootstrap, topics.export_updates, [flow(p, n, run) for n in numbers for p in range(PROCESSORS)])
        produce_keyed(bootstrap, topics.incident_updates,
                      [incident_update(p, n, run) for n in numbers for p in range(PROCESSORS)])

    def at(flows: int) -> bool:
        got, incs = ledgers(), incidents()
        return (len(got) == len(incs) == PROCESSORS and all(r["flows"] == flows for r in got.values())
                and all(r["updates"] == flows for r in incs.values()))

    produce(range(WARM))
    wait_for(lambda: at(WARM), timeout=120, what="warm-up flows in the ledger and updates in the incidents")

    stack.kill("detector-1", sig=15)  # a clean stop: its offsets are committed
    produce(range(WARM, WARM + SKIPPED))
    commit_at_end(stack.state.kafka_bootstrap, [topics.export_updates, topics.incident_updates], topics.partitions)
    stack.restart("detector-1")

    want = WARM + SKIPPED
    try:
        wait_for(lambda: at(want), timeout=120, what=f"{want} flows and incident updates per processor")
    except AssertionError as exc:
        held = {p: r["flows"] for p, r in ledgers().items()}
        updates = {p: r["updates"] for p, r in incidents().items()}
        raise AssertionError(f"{exc}: the ledger holds {held} flows, the incidents {updates} updates") from exc
    for name, record in ledgers().items():
        assert (record["persons"], record["sensitive_persons"]) == (5 * want, want), name
    for name, record in incidents().items():
        assert (record["persons_counted"], record["sensitive_persons"]) == (5 * want, want), name
    log = Path(stack.state.components["detector-1"].log).read_text(encoding="utf-8", errors="replace")
    assert "past what the agent applied" in log
    time.sleep(8)  # two more checks: nothing is applied twice
    assert at(want)
