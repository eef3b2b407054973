"""`make bench`: end-to-end throughput of Flowwatch against a pass-through Faust agent, same broker, same run.

Measures, for N events of ~1 KB on the embedded noida-db (2 worker processes each side):
  * produce rate (librdkafka, acks=all);
  * detector CPU cost in-process on one core (validation + scan + finding), the ceiling per core;
  * end to end: first produce → every finding on the `findings` topic → every finding indexed in ES;
  * baseline: first produce → every event forwarded by the pass-through agent (bench/passthrough_app.py);
and prints the figures, the ratios, and where the time goes. Results also go to bench/results/e2e.json.

Usage: python bench/run.py [--events N] [--workers W[,W...]] [--partitions P] [--brokers noida[,tansu]]

Scale-out: ``--workers 1,2,4 --partitions 8`` runs one configuration per worker count (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from elasticsearch import Elasticsearch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from events import make_event  # noqa: E402

from flowwatch.cluster import ensure_topics  # noqa: E402
from flowwatch.es_indices import findings_pattern  # noqa: E402
from flowwatch.kafka_idle import IdleFetchGuard  # noqa: E402
from flowwatch_detector.processing import RawEvent, init_worker, process_batch  # noqa: E402
from flowwatch_tools.engines import stop_process_group  # noqa: E402
from flowwatch_tools.replay import produce  # noqa: E402
from flowwatch_tools.stack import Stack  # noqa: E402


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class DistinctEventIds(threading.Thread):
    """Counts distinct ``event_id`` values starting with ``prefix`` on a topic, from its beginning (with
    ``prefix=None``: every message, by partition and offset — for records without an event id).

    Uses ``assign`` (no consumer group, no join delay) and reads the messages themselves: Tansu's
    high-watermark offsets proved unreliable, so counting offsets is not an option.
    """

    def __init__(self, bootstrap: str, topic: str, partitions: int, prefix: str | None, target: int) -> None:
        super().__init__(daemon=True)
        self.prefix, self.target = prefix, target
        self.ids: set[object] = set()
        self.done_at: float | None = None
        self.stopped = False
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{prefix or 'all'}-{topic}",
                                  "enable.auto.commit": False, "enable.partition.eof": False})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        # a caught-up reader pauses and probes instead of spinning on noida-db (it would load the engine measured)
        self.fetch = IdleFetchGuard(self.consumer, probe_interval=0.02, resume_grace=0.5)

    def run(self) -> None:
        try:
            while not self.stopped and self.done_at is None:
                for msg in self.fetch.consume(1000, 0.1):
                    if msg.error() is None:
                        if self.prefix is None:
                            self.ids.add((msg.partition(), msg.offset()))
                            continue
                        event_id = orjson.loads(msg.value() or b"{}").get("event_id", "")
                        if event_id.startswith(self.prefix):
                            self.ids.add(event_id)
                if len(self.ids) >= self.target:
                    self.done_at = time.monotonic()
        finally:
            self.consumer.close()

    def wait(self, timeout: float) -> float:
        """Monotonic time at which the target was reached. Raises TimeoutError."""
        self.join(timeout)
        if self.done_at is None:
            self.stopped = True
            raise TimeoutError(f"saw {len(self.ids)} of {self.target} events")
        return self.done_at


def count_on(bootstrap: str, topic: str, partitions: int, prefix: str | None, target: int) -> DistinctEventIds:
    """Start counting distinct events of ``prefix`` on ``topic``."""
    counter = DistinctEventIds(bootstrap, topic, partitions, prefix, target)
    counter.start()
    return counter


def wait_for_es(es: Elasticsearch, prefix: str, target: int, timeout: float) -> float:
    """Poll until the findings indices hold ``target`` documents; return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            es.indices.refresh(index=findings_pattern(prefix))
            if es.count(index=findings_pattern(prefix))["count"] >= target:
                return time.monotonic()
        except Exception:  # index not created yet
            pass
        time.sleep(0.1)
    raise TimeoutError(f"Elasticsearch did not reach {target} findings in {timeout:.0f}s")


def wait_indexed(bootstrap: str, topic: str, partitions: int, group: str, timeout: float) -> float:
    """Wait until the indexer's consumer group has committed every message now on ``topic``; return the
    monotonic time it had. The indexer commits a batch's offsets only after Elasticsearch accepted its bulk
    (flowwatch_indexer.worker), so this is "the last finding indexed" without asking Elasticsearch to
    count (a count makes noida-db scan every document, which would load the engine it measures)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        marks = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10, cached=False) for tp in tps}
        ends = {p: high for p, (low, high) in marks.items() if high > low}  # empty partitions have nothing to wait for
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            committed = {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
            if all(committed.get(p, -1) >= end for p, end in ends.items()):
                return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"the indexer did not commit {ends} on {topic} in {timeout:.0f}s")
    finally:
        consumer.close()


def cpu_seconds_by_group() -> dict[int, float]:
    """CPU seconds (user + system) consumed so far by every process, summed per process group."""
    tick = os.sysconf("SC_CLK_TCK")
    totals: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pgid, utime, stime = int(fields[2]), int(fields[11]), int(fields[12])
        totals[pgid] = totals.get(pgid, 0.0) + (utime + stime) / tick
    return totals


def cpu_by_component(stack: Stack, before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds each stack component (its whole process group) used between two snapshots."""
    out: dict[str, float] = {}
    for name, comp in stack.state.components.items():
        key = "detector workers" if name.startswith("detector-") else name.replace("engine-", "") + (
            " (Kafka + Elasticsearch)" if name == "engine-noida" else "")
        out[key] = out.get(key, 0.0) + after.get(comp.pid, 0.0) - before.get(comp.pid, 0.0)
    out["bench driver (producer, polling)"] = after.get(os.getpgid(0), 0.0) - before.get(os.getpgid(0), 0.0)
    return {k: round(v, 2) for k, v in out.items()}


def cpu_ceiling(events: list[bytes]) -> float:
    """Events per second of validation + scan + finding in this process (one core)."""
    init_worker(b"bench-key")
    batch = [RawEvent("flow-events", 0, i, None, raw) for i, raw in enumerate(events)]
    process_batch(batch[:200], "dlq")  # warm caches
    t0 = time.perf_counter()
    process_batch(batch, "dlq")
    return len(batch) / (time.perf_counter() - t0)


def run_pipeline(stack: Stack, events: list[bytes], warm: list[bytes], timeout: float) -> dict[str, Any]:
    bootstrap, layout = stack.state.kafka_bootstrap, stack.topics()
    es = Elasticsearch(stack.state.es_url, request_timeout=30)
    prefix = stack.state.index_prefix
    say(f"warming the detector group with {len(warm)} events")
    produce(bootstrap, layout.flow_events, warm)
    wait_for_es(es, prefix, len(warm), timeout)
    say(f"end to end: {len(events)} events")
    counter = count_on(bootstrap, layout.findings, layout.partitions, run_prefix(events), len(events))
    cpu_before = cpu_seconds_by_group()
    t0 = time.monotonic()
    produce(bootstrap, layout.flow_events, events)
    t_produced = time.monotonic()
    t_findings = counter.wait(timeout)
    if stack.broker == "noida":
        t_indexed = wait_indexed(bootstrap, layout.findings, layout.partitions, "flowwatch-indexer", timeout)
    else:  # Tansu's watermarks are unreliable (docs/engines.md): ask Elasticsearch
        t_indexed = wait_for_es(es, prefix, len(warm) + len(events), timeout)
    cpu = cpu_by_component(stack, cpu_before, cpu_seconds_by_group())
    es.indices.refresh(index=findings_pattern(prefix))
    indexed = es.count(index=findings_pattern(prefix))["count"]
    if indexed != len(warm) + len(events):
        raise RuntimeError(f"{indexed} findings indexed, expected {len(warm) + len(events)}")
    return {"produce_s": t_produced - t0, "to_findings_topic_s": t_findings - t0, "to_indexed_s": t_indexed - t0,
            "cpu_seconds": cpu}


def run_passthrough(stack: Stack, workers: int, events: list[bytes], warm: list[bytes], timeout: float) -> float:
    bootstrap = stack.state.kafka_bootstrap
    partitions = stack.state.partitions
    ensure_topics(bootstrap, {"bench-in": partitions, "bench-out": partitions})
    env = {**os.environ, "FLOWWATCH_KAFKA_BOOTSTRAP": bootstrap, "FLOWWATCH_TOPIC_PARTITIONS": str(partitions)}
    procs = []
    for i in range(workers):
        log = open(stack.home / "logs" / f"passthrough-{i}.log", "ab")  # noqa: SIM115
        procs.append(subprocess.Popen(
            [sys.executable, str(HERE / "passthrough_app.py"), "worker", "--without-web", "-l", "warn"],
            env={**env, "FLOWWATCH_INSTANCE_ID": f"pt-{i}",
                 "FLOWWATCH_DETECTOR_DATADIR": str(stack.home / f"passthrough-{i}")},
            stdout=log, stderr=subprocess.STDOUT, cwd=HERE, start_new_session=True))
    try:
        say(f"warming the pass-through group with {len(warm)} events")
        warm_counter = count_on(bootstrap, "bench-out", partitions, run_prefix(warm), len(warm))
        produce(bootstrap, "bench-in", warm)
        warm_counter.wait(timeout)
        say(f"pass-through: {len(events)} events")
        counter = count_on(bootstrap, "bench-out", partitions, run_prefix(events), len(events))
        t0 = time.monotonic()
        produce(bootstrap, "bench-in", events)
        return counter.wait(timeout) - t0
    finally:
        for p in procs:
            stop_process_group(p.pid, grace=10)


def run_prefix(events: list[bytes]) -> str:
    """The event-id prefix shared by a list of bench events (``<run>-``)."""
    return str(orjson.loads(events[0])["event_id"]).rsplit("-", 1)[0] + "-"


def run_config(broker: str, workers: int, args: argparse.Namespace, events: list[bytes],
               warm: list[bytes]) -> dict[str, Any]:  # fmt: skip
    """One configuration: the pipeline end to end, then (``--baseline``) the pass-through on the same broker
    with as many workers."""
    home = Path(tempfile.mkdtemp(prefix="flowwatch-bench-"))
    stack = Stack(home=home, workers=workers, broker=broker, api=False, partitions=args.partitions)
    say(f"[{broker}] starting the stack ({workers} detector workers, {args.partitions} partitions) in {home}")
    stack.up()
    baseline_s = None
    try:
        e2e = run_pipeline(stack, events, warm, args.timeout)
        say(f"[{broker}] end to end: {e2e}")
        if broker in args.baseline.split(","):
            # the pass-through baseline runs on the same broker, after the pipeline is stopped
            for name in [n for n in stack.state.components if n.startswith(("detector-", "indexer"))]:
                stop_process_group(stack.state.components[name].pid)
            baseline_s = run_passthrough(stack, workers, events, warm, args.timeout)
    except BaseException:
        say(f"[{broker}] failed; logs kept in {home / 'logs'}")
        raise
    else:
        shutil.rmtree(home, ignore_errors=True)
    finally:
        stack.down()
    n = len(events)
    result: dict[str, Any] = {
        "kafka_engine": "noida-db" if broker == "noida" else "tansu",
        "workers": workers,
        "partitions": args.partitions,
        "elasticsearch_engine": "noida-db",
        "end_to_end_events_per_s": round(n / e2e["to_indexed_s"]),
        "detector_stage_events_per_s": round(n / e2e["to_findings_topic_s"]),
        "produce_events_per_s": round(n / e2e["produce_s"]),
        "indexing_tail_s": round(e2e["to_indexed_s"] - e2e["to_findings_topic_s"], 2),
        "end_to_end_seconds": round(e2e["to_indexed_s"], 2),
        "cpu_seconds_end_to_end": e2e["cpu_seconds"],
        "cpu_ms_per_event": {k: round(v * 1000 / n, 3) for k, v in e2e["cpu_seconds"].items()},
    }
    if baseline_s is not None:
        result["passthrough_events_per_s"] = round(n / baseline_s)
        result["ratio_end_to_end_vs_passthrough"] = round(result["end_to_end_events_per_s"] / (n / baseline_s), 3)
    return result


def report(result: dict[str, Any]) -> None:
    """Print the figures of every configuration."""
    print("\nFlowwatch end-to-end benchmark")
    print(f"  {result['events']} events x ~{result['mean_event_bytes']} B, {result['cores']} cores; target end to "
          f"end >= {result['target_end_to_end_events_per_s']:,}/s and >= "
          f"{result['target_ratio_vs_passthrough']} x the pass-through agent")
    print(f"  detector CPU ceiling, in-process, 1 core: {result['detector_cpu_ceiling_events_per_s_per_core']:,} "
          "events/s (validation + scan + finding)")
    for cfg in result["configurations"]:
        print(f"\n  Kafka = {cfg['kafka_engine']}, Elasticsearch = {cfg['elasticsearch_engine']}, "
              f"{cfg['workers']} detector workers, {cfg['partitions']} partitions")
        print(f"    produce (librdkafka, acks=all)            {cfg['produce_events_per_s']:>9,} events/s")
        if "passthrough_events_per_s" in cfg:
            print(f"    pass-through Faust agent (baseline)       {cfg['passthrough_events_per_s']:>9,} events/s")
        print(f"    detector stage (produce → findings topic) {cfg['detector_stage_events_per_s']:>9,} events/s")
        print(f"    end to end (produce → indexed in ES)      {cfg['end_to_end_events_per_s']:>9,} events/s")
        if "ratio_end_to_end_vs_passthrough" in cfg:
            print(f"    ratio end-to-end / pass-through           {cfg['ratio_end_to_end_vs_passthrough']:>9}")
        print(f"    indexing tail after the last finding      {cfg['indexing_tail_s']:>9} s")
        wall = cfg["end_to_end_seconds"]
        print(f"    where the time goes ({wall} s wall x {result['cores']} cores = "
              f"{wall * result['cores']:.1f} core-seconds available):")
        for name, secs in sorted(cfg["cpu_seconds_end_to_end"].items(), key=lambda kv: -kv[1]):
            print(f"      {name:<36} {secs:>7.2f} CPU s  {cfg['cpu_ms_per_event'][name]:>7.3f} ms/event")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 20000)))
    ap.add_argument("--workers", default="2", help="Detector workers; comma-separated for several runs (1,2,4).")
    ap.add_argument("--partitions", type=int, default=4, help="Partitions of every topic (the demo's: 4).")
    ap.add_argument("--brokers", default="noida", help="Comma-separated Kafka engines to run (noida, tansu).")
    ap.add_argument("--baseline", default="noida",
                    help="Kafka engines on which to also run the pass-through baseline (on Tansu it saw 19,997 "
                         "of 20,000 events once; see docs/engines.md).")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args()
    # SIGTERM (e.g. from `timeout`) must still run the finally blocks that stop every process we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rng = random.Random(2026)
    run = f"r{int(time.time())}"
    events = [make_event(i, run, rng) for i in range(args.events)]
    warm = [make_event(i, run + "w", rng) for i in range(200)]  # ids "<run>w-…": a prefix of their own

    say("measuring the detector's CPU ceiling in-process (one core)")
    result: dict[str, Any] = {
        "events": args.events,
        "mean_event_bytes": round(sum(map(len, events)) / len(events)),
        "cores": os.cpu_count() or 1,
        "detector_cpu_ceiling_events_per_s_per_core": round(cpu_ceiling(events[:5000])),
        "target_end_to_end_events_per_s": 3000,
        "target_ratio_vs_passthrough": 0.5,
        "configurations": [run_config(b, int(w), args, events, warm)
                           for b in args.brokers.split(",") for w in args.workers.split(",")],
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "e2e.json").write_text(json.dumps(result, indent=2) + "\n")
    report(result)


if __name__ == "__main__":
    main()
