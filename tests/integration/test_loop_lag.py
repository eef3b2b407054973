"""A real detector worker reports its event-loop lag and observes its consumer-group heartbeats."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from flowwatch_tools.replay import account, produce
from tests.flows import encode, event
from tests.integration.conftest import es_of

pytestmark = pytest.mark.integration


def _reports(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_worker_reports_loop_lag_and_heartbeats(make_stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    stats = tmp_path / "loop-{instance}.jsonl"
    stack = make_stack(broker="noida", workers=1, api=False, extra_env={
        "FLOWWATCH_LOOP_STATS_FILE": str(stats), "FLOWWATCH_LOOP_STATS_INTERVAL": "1",
        "FLOWWATCH_LOOP_PROBE_INTERVAL": "0.05",
    })
    rng = random.Random(11)
    expected = produce(stack.state.kafka_bootstrap, stack.topics().flow_events,
                       [encode(event(i, f"l-{i % 4}", rng)) for i in range(300)])
    _, _, missing = account(es_of(stack), stack.state.index_prefix, expected, timeout=60)
    assert missing == []

    # heartbeats are 3 s apart: wait until two successful ones were seen by the monitor
    path = tmp_path / "loop-detector-1.jsonl"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and sum(r["heartbeats_ok"] for r in _reports(path)) < 2:
        time.sleep(0.5)
    reports = _reports(path)

    assert reports, "the worker wrote no loop stats"
    last = reports[-1]
    assert last["instance"] == "detector-1" and last["probe_interval_s"] == 0.05
    assert all(r["heartbeat_observed"] for r in reports[1:])  # attached at the first report
    assert sum(r["heartbeats_ok"] for r in reports) >= 2 and last["heartbeats_failed_total"] == 0
    assert last["heartbeat_gap_max_total"] is not None
    assert last["heartbeat_gap_max_total"] < last["session_timeout_s"]
    assert last["rebalances"] >= 1  # the first assignment
    samples = [s for r in reports for s in r["loop_lag_samples"]]
    assert len(samples) >= 20 and all(s >= 0 for s in samples)
    # scanning runs in the executor: once started, the loop never stalls near a second (bench/loop_lag.py
    # measures it properly). The first report's window holds the worker's start: the first batch builds the
    # recognizers in the scan thread, which holds the GIL (1.08 s seen on a loaded 2-core machine)
    steady = [s for r in reports[1:] for s in r["loop_lag_samples"]]
    assert steady and max(steady) < 1.0, f"event loop stalled {max(steady or [0]):.3f} s"
    assert max(samples) < 5.0, f"event loop stalled {max(samples):.3f} s at the start"
    # the same figures are in the worker's log as one JSON line per report
    log = Path(stack.state.components["detector-1"].log).read_text()
    assert '"event": "loop_stats"' in log and '"loop_lag_p99"' in log
