"""Egress-agent bench (issue 5 item 7): export flows per second through the detector's egress agent vs
the pass-through Faust agent, on the same broker, in the same run, with the same messages.

It starts the embedded stack, produces ``--flows`` serialised ``ExportUpdate`` messages (``--persons`` keyed
person hashes each, spread over 8 processors) to ``export-updates`` and times until as many ledger records
are on ``export-ledger`` (one per applied flow). Then it stops the detectors and runs ``passthrough_app.py``
(forwarding the same messages, batched and acknowledged the same way) as the baseline. Results go to
``bench/results/egress.json``. ``bench/ledger.py`` measures the step itself in process, with memory and disk.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import count_on, run_passthrough, say  # noqa: E402

from flowwatch.engines import stop_process_group  # noqa: E402
from flowwatch.replay import produce  # noqa: E402
from flowwatch.stack import Stack  # noqa: E402

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


def main() -> None:
    """Run the bench and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=5_000)
    parser.add_argument("--persons", type=int, default=20, help="persons per flow")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--broker", choices=("tansu", "noida"), default="tansu")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    run = f"eg{int(time.time())}"
    events, warm = updates(run, args.flows, args.persons), updates(f"{run}w", 16, args.persons)
    home = Path(tempfile.mkdtemp(prefix="flowwatch-bench-egress-"))
    stack = Stack(home=home, workers=args.workers, broker=args.broker, api=False)
    say(f"[egress] starting the stack ({args.workers} detector workers, {args.broker}) in {home}")
    stack.up()
    try:
        bootstrap, layout = stack.state.kafka_bootstrap, stack.topics()
        counter = count_on(bootstrap, layout.export_ledger, layout.partitions, None, len(warm))
        produce(bootstrap, layout.export_updates, warm)
        counter.wait(args.timeout)
        say(f"[egress] {len(events)} export flows of {args.persons} persons")
        counter = count_on(bootstrap, layout.export_ledger, layout.partitions, None, len(warm) + len(events))
        t0 = time.monotonic()
        produce(bootstrap, layout.export_updates, events)
        egress_s = counter.wait(args.timeout) - t0
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
        "egress_vs_passthrough": round(baseline_s / egress_s, 3),
    }  # fmt: skip
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
