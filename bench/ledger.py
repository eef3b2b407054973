"""Export-ledger bench (issue 5 item 7): ledger updates per second, memory and disk per million persons.

In one process, on one core, it feeds ``flowwatch.exports.step.process_update`` (the egress agent's step,
without Kafka) with export flows of ``--batch`` distinct persons until ``--persons`` persons are counted,
and reports persons/s and flows/s beside a baseline measured in the same run: decoding the same
``ExportUpdate`` JSON (what a pass-through agent does with each message). Memory: the growth of the
Python heap (tracemalloc) holding the person store as a dict, per million persons. Disk: the same
person-year keys written to a RocksDB store (``rocksdict``, the library behind Faust's ``rocksdb://``
store) and compacted, per million persons. Results go to ``bench/results/ledger.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rocksdict import Rdict

from flowwatch.exports.models import ExportUpdate
from flowwatch.exports.step import process_update
from flowwatch.rules.export_pack import load_export_packs

RESULTS = Path(__file__).parent / "results" / "ledger.json"


def flows(persons: int, batch: int) -> list[bytes]:
    """Serialised export updates of ``batch`` distinct persons each (one in ten of them sensitive)."""
    out = []
    now = datetime(2026, 6, 1, tzinfo=UTC).isoformat()
    for i, start in enumerate(range(0, persons, batch)):
        keys = [hashlib.sha256(f"person-{j}".encode()).hexdigest() for j in range(start, min(persons, start + batch))]
        out.append(json.dumps({
            "processor_id": "p-bench", "event_id": f"e{i}", "occurred_at": now, "activity": "export",
            "recipient": "Acme", "destination_region": "US", "resolution_basis": "declared", "is_export": True,
            "export_reason": "destination outside mainland", "has_pi": True, "persons_in_flow": len(keys),
            "person_keys": keys, "sensitive_person_keys": keys[::10],
        }).encode())  # fmt: skip
    return out


def disk_per_million(keys: list[str]) -> float:
    """MB on disk of ``keys`` in a compacted RocksDB store, scaled to one million persons."""
    path = tempfile.mkdtemp(prefix="fw-ledger-rocks-")
    try:
        db = Rdict(path)
        for k in keys:
            db[k.encode()] = b"1"
        db.flush()
        db.compact_range(None, None)
        db.close()
        size = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return size / 1e6


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=1_000_000, help="distinct persons to count")
    parser.add_argument("--batch", type=int, default=1_000, help="persons per export flow")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    packs = load_export_packs()
    print(f"[bench-ledger] building {args.persons:,} persons in flows of {args.batch:,} …", flush=True)
    messages = flows(args.persons, args.batch)

    start = time.perf_counter()
    for m in messages:
        ExportUpdate.model_validate_json(m)
    baseline = time.perf_counter() - start

    states: dict[str, Any] = {}
    store: dict[str, int] = {}
    tracemalloc.start()
    now = datetime.now(UTC)
    start = time.perf_counter()
    for i, m in enumerate(messages):
        process_update(ExportUpdate.model_validate_json(m), packs, states, store, None, None, now)
        if i and i % max(1, len(messages) // 10) == 0:
            print(f"[bench-ledger] {i * args.batch:,} persons …", flush=True)
    elapsed = time.perf_counter() - start
    heap, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    window = next(iter(states.values()))
    assert window["persons"] == args.persons, window
    millions = args.persons / 1e6
    entries = len(store)
    print(f"[bench-ledger] writing {entries:,} keys to RocksDB …", flush=True)
    disk = disk_per_million(list(store)) / millions

    result = {
        "persons": args.persons, "batch": args.batch, "flows": len(messages), "store_entries": entries,
        "seconds": round(elapsed, 3), "persons_per_s": round(args.persons / elapsed),
        "flows_per_s": round(len(messages) / elapsed, 1),
        "baseline_decode_flows_per_s": round(len(messages) / baseline, 1),
        "cost_vs_baseline": round(elapsed / baseline, 2),
        "heap_mb_per_million_persons": round(heap / 1e6 / millions, 1),
        "rocksdb_disk_mb_per_million_persons": round(disk, 1),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
