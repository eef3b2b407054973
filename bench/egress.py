"""Egress-agent bench (issue 5 item 7): export flows per second through the detector's egress agent vs
the pass-through Faust agent, on the same broker, in the same run, with the same messages.

It starts the embedded stack, produces ``--flows`` serialised ``ExportUpdate`` messages (``--persons`` keyed
person hashes each, all distinct, spread over 8 processors) to ``export-updates`` and times until the ledger
records on ``export-ledger`` count every flow (the agent sends the latest record of each window once per
micro-batch, so it is the records' ``flows`` that are summed, per processor). The final records must show
exactly ``flows x persons`` distinct persons per processor: the bench fails otherwise.
Then it stops the detectors and runs ``passthrough_app.py``
(forwarding the same messages, batched and acknowledged the same way) as the baseline. Results go to
``bench/results/egress.json``. ``bench/ledger.py`` measures the step itself in process, with memory and disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import run_passthrough, say  # noqa: E402

from flowwatch_tools.engines import stop_process_group  # noqa: E402
from flowwatch_tools.stack import Stack  # noqa: E402

RESULTS = HERE / "results" / "egress.json"


def updates(run: str, flows: int, persons: int) -> list[bytes]:
    """``flows`` export updates to the US of ``persons`` distinct keyed persons each (one in ten sensitive)."""
    now = datetime.now(UTC).isoformat()
    out = []
    for i in range(flows):
        keys = [hashlib.sha256(f"{run}-{i}-{j}".encode()).hexdigest() for j in range(persons)]
        out.append(json.dumps({
            "processor_id": f"proc-{i % 8}", "event_id": f"{run}-{i}", "occurred_at": now, "activity": "export",
            "recipient": "Acme", "destination_region": "US", "resolution_basis": "declared", "is_export": True,
            "export_reason": "destination outside mainland", "has_pi": True, "persons_in_flow": persons,
            "person_keys": keys, "sensitive_person_keys": keys[::10],
        }).encode())  # fmt: skip
    return out


class LedgerProgress(threading.Thread):
    """Follows ``export-ledger`` from the beginning: the latest record of each processor's window (by its
    ``flows``); ``wait(total)`` returns the monotonic time at which the flows of all of them reached ``total``."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.latest: dict[str, dict[str, Any]] = {}
        self.stopped = False
        self.changed = threading.Condition()
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-ledger",
                                  "enable.auto.commit": False})
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])

    def run(self) -> None:
        try:
            while not self.stopped:
                msgs = self.consumer.consume(1000, 0.1)
                with self.changed:
                    for msg in msgs:
                        if msg.error() is None:
                            rec = orjson.loads(msg.value() or b"{}")
                            key = f"{rec.get('processor_id')}/{rec.get('window_id')}"
                            if rec.get("flows", 0) >= self.latest.get(key, {}).get("flows", -1):
                                self.latest[key] = rec
                    self.changed.notify_all()
        finally:
            self.consumer.close()

    def flows(self) -> int:
        """Flows counted by the latest records."""
        return sum(int(r.get("flows", 0)) for r in self.latest.values())

    def wait(self, total: int, timeout: float) -> float:
        """Monotonic time when ``flows() >= total``. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.flows() < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"ledger counts {self.flows()} of {total} flows")
                self.changed.wait(min(left, 0.5))
        return time.monotonic()


def produce_keyed(bootstrap: str, topic: str, messages: list[bytes]) -> None:
    """Produce export updates keyed by their ``processor_id``, as the pii agent does (one processor's flows on
    one partition, so one worker owns its ledger), and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    errors: list[Any] = []
    for i, raw in enumerate(messages):
        key = orjson.loads(raw)["processor_id"].encode()
        while True:
            try:
                producer.produce(topic, value=raw, key=key,
                                 on_delivery=lambda err, _m: errors.append(err) if err else None)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 1000 == 0:
            producer.poll(0)
    if producer.flush(60) or errors:
        raise RuntimeError(f"could not deliver every update: {errors[:3] or 'flush timed out'}")


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=5_000)
    parser.add_argument("--persons", type=int, default=20, help="persons per flow")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--broker", choices=("tansu", "noida"), default="noida",
                        help="Kafka engine (default: the demo's, noida-db)")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    # SIGTERM (e.g. from `timeout`) must still run the finally blocks that stop every process we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    run = f"eg{int(time.time())}"
    events, warm = updates(run, args.flows, args.persons), updates(f"{run}w", 16, args.persons)
    home = Path(tempfile.mkdtemp(prefix="flowwatch-bench-egress-"))
    stack = Stack(home=home, workers=args.workers, broker=args.broker, api=False)
    say(f"[egress] starting the stack ({args.workers} detector workers, {args.broker}) in {home}")
    stack.up()
    try:
        bootstrap, layout = stack.state.kafka_bootstrap, stack.topics()
        progress = LedgerProgress(bootstrap, layout.export_ledger, layout.partitions)
        progress.start()
        produce_keyed(bootstrap, layout.export_updates, warm)
        progress.wait(len(warm), args.timeout)
        say(f"[egress] {len(events)} export flows of {args.persons} persons")
        t0 = time.monotonic()
        produce_keyed(bootstrap, layout.export_updates, events)
        egress_s = progress.wait(len(warm) + len(events), args.timeout) - t0
        progress.stopped = True
        exact = all(r["persons"] == r["flows"] * args.persons for r in progress.latest.values())
        say(f"[egress] persons exact (flows x {args.persons} per processor): {exact}")
        if not exact:
            raise SystemExit(f"ledger person counts are not exact: {progress.latest}")
        for name in [n for n in stack.state.components if n.startswith(("detector-", "indexer"))]:
            stop_process_group(stack.state.components[name].pid)
        baseline_s = run_passthrough(stack, args.workers, events, warm, args.timeout)
    finally:
        stack.down()
    shutil.rmtree(home, ignore_errors=True)
    result: dict[str, Any] = {
        "broker": args.broker, "workers": args.workers, "flows": len(events), "persons_per_flow": args.persons,
        "egress_flows_per_s": round(len(events) / egress_s), "egress_persons_per_s": round(
            len(events) * args.persons / egress_s),
        "passthrough_flows_per_s": round(len(events) / baseline_s),
        "egress_vs_passthrough": round(baseline_s / egress_s, 3), "persons_exact": exact,
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
