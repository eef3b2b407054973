"""State-scale bench (issue 18): person sets of 10 million, what they cost, and how fast a killed worker
serves again.

Part 1, in process (``flowwatch_detector.batched_state.SetLog`` over a dict, as the incident and egress
agents use it over a Faust table): add ``--persons`` distinct persons in events of ``--per-event`` keyed
hashes, one record per event, and print persons/s, the index's memory per million persons, the records'
bytes per million (what the changelog and a local store hold: the records are JSON with base64 members),
and the time to rebuild the index from every record (the CPU part of a recovery).

Part 2, on the embedded stack (noida-db, one detector worker, the API): produce the same number of persons
as ``IncidentUpdate``s of one incident straight to ``incident-updates`` (keyed by processor, as the pii
agent produces them) and time the fold (events/s and persons/s, from first produce to the incident record
counting every person), while an API client reads the incident every 0.2 s (latencies printed) and the
worker's loop monitor records loop lag, heartbeat gaps and the group generation. Then SIGKILL the worker,
start it again and time until it serves again: until a probe update of another incident, produced right
after the restart, is on the ``incidents`` topic. Then fold ``--after`` more events and print events/s
after the restart, the changelog's size, and whether the counts are exact. Results go to
``bench/results/state_scale.json``.

``--quick`` runs 1,000,000 persons (the default is 10,000,000, issue 18's figure).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import say  # noqa: E402

from flowwatch.settings import DETECTOR_APP_ID, INCIDENT_STATE_TABLE  # noqa: E402
from flowwatch_detector.batched_state import SetLog  # noqa: E402
from flowwatch_tools.stack import Stack  # noqa: E402

RESULTS = HERE / "results" / "state_scale.json"
PROCESSOR = "p-state-bench"
RECEIVE_MAX_BYTES = 2_147_483_647
"""librdkafka's largest response: noida-db answers a fetch with the whole partition from the offset on
(``gap_reader.FETCH_MAX_BYTES``'s comment), ~125 MB of changelog at 10 M persons."""


def person(n: int) -> str:
    """A keyed person hash (64 hex digits), as the pii agent makes them."""
    return hashlib.sha256(f"state-bench-{n}".encode()).hexdigest()


def in_process(persons: int, per_event: int) -> dict[str, Any]:
    """Part 1; returns its figures."""
    table: dict[str, Any] = {}
    log = SetLog(table, b"bench")
    added = 0.0
    for start in range(0, persons, per_event):
        keys = [f"{PROCESSOR}\x1finc-1\x1fp\x1f{person(n)}" for n in range(start, min(persons, start + per_event))]
        t0 = time.perf_counter()
        log.keys.add_many(keys)  # as IncidentState.apply does (flowwatch.incidents.aggregate.add_all)
        log.windows[f"{PROCESSOR}\x1finc-1"] = {"persons": start + len(keys)}
        asyncio.run(_flush(log))
        added += time.perf_counter() - t0
    index = log.index()
    record_bytes = sum(len(orjson.dumps(v)) for v in table.values())
    t0 = time.perf_counter()
    log.invalidate()
    rebuilt = log.index()
    rebuild_s = time.perf_counter() - t0
    assert len(rebuilt.sets) == persons == log.size(f"{PROCESSOR}\x1finc-1\x1fp"), "the rebuilt index lost members"
    millions = persons / 1e6
    return {
        "persons": persons, "per_event": per_event, "records": len(table),
        "add_persons_per_s": round(persons / added),
        "index_mb_per_million": round(index.sets.nbytes / 1e6 / millions, 2),
        "records_mb_per_million": round(record_bytes / 1e6 / millions, 2),
        "rebuild_s": round(rebuild_s, 2),
    }  # fmt: skip


async def _flush(log: SetLog) -> None:
    ack = await log.flush(0)
    if ack is not None:
        await ack


def update(incident: str, n: int, keys: list[str]) -> bytes:
    """One serialised ``IncidentUpdate`` of ``keys`` persons (every tenth sensitive)."""
    now = datetime.now(UTC).isoformat()
    return orjson.dumps({
        "processor_id": PROCESSOR, "incident_id": incident, "update_id": f"{incident}-{n}", "source": "event",
        "received_at": now, "occurred_at": now, "detected_at": now, "type": "leak",
        "person_keys": keys, "sensitive_person_keys": keys[::10],
    })  # fmt: skip


class IncidentProgress(threading.Thread):
    """Follows ``incidents``: the latest record of each incident (highest ``persons_counted``)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.latest: dict[str, dict[str, Any]] = {}
        self.stopped = False
        self.changed = threading.Condition()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-state",
                                  "enable.auto.commit": False, "fetch.message.max.bytes": 8 << 20,
                                  "receive.message.max.bytes": RECEIVE_MAX_BYTES})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

    def run(self) -> None:
        try:
            while not self.stopped:
                msgs = self.consumer.consume(500, 0.1)
                with self.changed:
                    for msg in msgs:
                        if msg.error() is None:
                            rec = orjson.loads(msg.value() or b"{}")
                            have = self.latest.get(rec.get("incident_id", ""), {}).get("persons_counted", -1)
                            if rec.get("persons_counted", 0) >= have:
                                self.latest[rec["incident_id"]] = rec
                    self.changed.notify_all()
        finally:
            self.consumer.close()

    def wait(self, incident: str, persons: int, timeout: float) -> float:
        """Monotonic time when ``incident`` counts ``persons``. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.latest.get(incident, {}).get("persons_counted", -1) < persons:
                left = deadline - time.monotonic()
                if left <= 0:
                    got = self.latest.get(incident, {}).get("persons_counted")
                    raise TimeoutError(f"incident {incident} counts {got} of {persons} persons")
                self.changed.wait(min(left, 0.5))
        return time.monotonic()


def produce(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    """Produce ``messages`` keyed by the processor and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                         "message.max.bytes": 8 << 20})
    errors: list[Any] = []
    for raw in messages:
        while True:
            try:
                producer.produce(topic, value=raw, key=PROCESSOR.encode(),
                                 on_delivery=lambda err, _m: errors.append(err) if err else None)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120) or errors:
        raise RuntimeError(f"could not deliver every update: {errors[:3] or 'flush timed out'}")


def changelog_bytes(bootstrap: str, partitions: int) -> tuple[int, int]:
    """(messages, value bytes) in the incident table's changelog topic."""
    topic = f"{DETECTOR_APP_ID}-{INCIDENT_STATE_TABLE}-changelog"
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-state-size", "enable.auto.commit": False,
                         "fetch.message.max.bytes": 8 << 20, "receive.message.max.bytes": RECEIVE_MAX_BYTES})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions) if ends[p]])
        seen = {p: 0 for p in ends}
        count = size = 0
        deadline = time.monotonic() + 120
        while any(seen[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is None:
                    seen[msg.partition()] = msg.offset() + 1
                    count += 1
                    size += len(msg.value() or b"")
        return count, size
    finally:
        consumer.close()


def on_stack(persons: int, per_event: int, after: int, timeout: float) -> dict[str, Any]:
    """Part 2; returns its figures. Raises SystemExit when a count is not exact."""
    home = Path(tempfile.mkdtemp(prefix="flowwatch-bench-state-"))
    stats = home / "loop-stats.jsonl"  # the worker's loop monitor: loop lag, heartbeat gaps, generation
    os.environ["FLOWWATCH_LOOP_STATS_FILE"] = str(stats)
    stack = Stack(home=home, workers=1, broker="noida", api=True)
    say(f"[state] starting the stack (1 detector worker, noida-db) in {home}")
    stack.up()
    try:
        bootstrap, layout = stack.state.kafka_bootstrap, stack.topics()
        progress = IncidentProgress(bootstrap, layout.incidents, layout.partitions)
        progress.start()
        produce(bootstrap, layout.incident_updates, [update("warm", 0, [person(-1)])])
        progress.wait("warm", 1, timeout)
        events = [update("big", i, [person(n) for n in range(s, min(persons, s + per_event))])
                  for i, s in enumerate(range(0, persons, per_event))]
        say(f"[state] folding {len(events)} events of {per_event} persons into one incident ({persons:,} persons)")
        probe = ApiProbe(stack)
        t0 = time.monotonic()
        feeder = threading.Thread(target=produce, args=(bootstrap, layout.incident_updates, events), daemon=True)
        feeder.start()
        probe.start()
        fold_s = progress.wait("big", persons, timeout) - t0
        probe.stopped = True
        feeder.join()
        probe.join()
        fold_stats = loop_stats(stats)
        messages, size = changelog_bytes(bootstrap, layout.partitions)
        say(f"[state] folded in {fold_s:.1f} s; changelog {messages} messages, {size / 1e6:.1f} MB; killing the worker")
        stack.kill("detector-1")
        time.sleep(1.0)
        t_kill = time.monotonic()
        stack.restart("detector-1")
        produce(bootstrap, layout.incident_updates, [update("probe", 0, [person(-2)])])
        recover_s = progress.wait("probe", 1, timeout) - t_kill
        say(f"[state] serving again {recover_s:.1f} s after the restart")
        more = [update("big", len(events) + i, [person(persons + i * per_event + j) for j in range(per_event)])
                for i in range(after)]
        t1 = time.monotonic()
        feeder = threading.Thread(target=produce, args=(bootstrap, layout.incident_updates, more), daemon=True)
        feeder.start()  # as before the kill: produced while the worker folds
        after_s = progress.wait("big", persons + after * per_event, timeout) - t1
        feeder.join()
        progress.stopped = True
        big = progress.latest["big"]
        exact = big["persons_counted"] == persons + after * per_event
        if not exact:
            raise SystemExit(f"incident person count not exact: {big['persons_counted']}")
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    return {
        "events_before": len(events), "fold_s": round(fold_s, 1),
        "events_per_s_before": round(len(events) / fold_s, 1), "persons_per_s_before": round(persons / fold_s),
        "recover_s": round(recover_s, 1), "events_after": after, "events_per_s_after": round(after / after_s, 1),
        "changelog_messages": messages, "changelog_mb": round(size / 1e6, 1),
        "changelog_mb_per_million": round(size / 1e6 / (persons / 1e6), 2), "persons_exact": exact,
        **fold_stats, **probe.figures(),
    }  # fmt: skip


class ApiProbe(threading.Thread):
    """While the incident folds: ``GET /v1/incidents/big?processor_id=…`` and ``GET /v1/incidents`` every
    0.2 s with an admin key; latencies in ms (issue 18 item 4: the API answers while a large incident folds)."""

    def __init__(self, stack: Stack) -> None:
        super().__init__(daemon=True)
        from elasticsearch import Elasticsearch

        from flowwatch.apikeys import create_key

        es = Elasticsearch(stack.state.es_url, request_timeout=30)
        key, _ = create_key(es, stack.state.index_prefix, "admin", name="bench-state")
        self.client = httpx.Client(base_url=stack.state.api_url, headers={"Authorization": f"Bearer {key}"},
                                   timeout=30)
        self.stopped = False
        self.latencies: list[float] = []
        self.errors = 0

    def run(self) -> None:
        paths = [f"/v1/incidents/big?processor_id={PROCESSOR}", "/v1/incidents?size=20"]
        while not self.stopped:
            for path in paths:
                t = time.perf_counter()
                try:
                    ok = self.client.get(path).status_code in (200, 404)  # 404 until the first record is indexed
                except httpx.HTTPError:
                    ok = False
                self.latencies.append((time.perf_counter() - t) * 1000)
                self.errors += not ok
            time.sleep(0.2)

    def figures(self) -> dict[str, Any]:
        """p50/p95/max of the API calls while folding (ms), calls and errors."""
        lat = sorted(self.latencies) or [0.0]
        return {"api_calls_while_folding": len(self.latencies), "api_errors_while_folding": self.errors,
                "api_p50_ms": round(lat[len(lat) // 2], 1), "api_p95_ms": round(lat[int(len(lat) * 0.95)], 1),
                "api_max_ms": round(lat[-1], 1)}


def loop_stats(path: Path) -> dict[str, Any]:
    """While folding (the first worker process): the worst event-loop lag (s), the longest gap between
    heartbeats (s, against a session timeout of 10 s) and the consumer group generation (1 = never
    rebalanced after joining)."""
    lines = [orjson.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    if not lines:
        return {"loop_lag_max_s": None, "heartbeat_gap_max_s": None, "generation_while_folding": None}
    first = [s for s in lines if s.get("pid") == lines[0].get("pid")]
    return {
        "loop_lag_max_s": max(float(s.get("loop_lag_max") or 0) for s in first),
        "heartbeat_gap_max_s": max(float(s.get("heartbeat_gap_max") or 0) for s in first),
        "generation_while_folding": first[-1].get("generation"),
    }


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=10_000_000, help="distinct persons in one incident")
    parser.add_argument("--per-event", type=int, default=10_000, help="persons per event (the contract's limit)")
    parser.add_argument("--after", type=int, default=50, help="events folded after the restart")
    parser.add_argument("--quick", action="store_true", help="1,000,000 persons")
    parser.add_argument("--skip-stack", action="store_true", help="part 1 only")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    persons = 1_000_000 if args.quick else args.persons
    say(f"[state] in process: {persons:,} persons in events of {args.per_event:,}")
    result: dict[str, Any] = {"in_process": in_process(persons, args.per_event)}
    say(json.dumps(result["in_process"]))
    if not args.skip_stack:
        result["stack"] = on_stack(persons, args.per_event, args.after, args.timeout)
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
