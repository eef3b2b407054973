"""Does the detector keep its Faust event loop free under full load? Measured, per scan executor.

For each configuration (``thread``: FLOWWATCH_SCAN_PROCESSES=0, the default; ``pool``: a process pool of one)
this starts the embedded stack the way bench/run.py does (Tansu as Kafka by default, Elasticsearch from
noida-db, 2 detector workers, the indexer), warms the consumer group, then measures two phases:

  * idle (baseline): nothing is produced for ``--idle`` seconds;
  * load: N PI-dense ~1 KB events (bench/events.py) are produced as fast as librdkafka can, so the workers
    have a backlog and run CPU-bound until the last finding is on the ``findings`` topic.

The workers' loop monitor (flowwatch_detector.loopmon; FLOWWATCH_LOOP_STATS_FILE, one report per second
here) gives the lateness of a 100 ms probe timer on the Faust main loop (p50/p99/max over every worker's
samples of the phase), the same on aiokafka's consumer-thread loop, the consumer-group heartbeats (ok,
failed, largest gap between two successful ones) and the rebalance count. A reference probe (an idle asyncio
loop in a process of its own) shows what the machine's CPU scheduling alone costs in the same phases.
Criterion, for the load phase: p99 < 100 ms, max < 1 s, no rebalance. Results: bench/results/loop_lag.json.

Overload of large events (issue 12): ``--event-kb 500 --dense --events 200`` produces PII-dense events of
~500 KB each, far more than the workers scan per second; the same criterion applies, and the run also
checks in Elasticsearch that every event has exactly one finding (lost = 0, duplicated = 0).

Usage: python bench/loop_lag.py [--events N] [--workers W] [--broker tansu|noida] [--configs thread,pool]
                                [--event-kb KB] [--dense]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from elasticsearch import Elasticsearch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from events import make_event  # noqa: E402
from run import count_on, cpu_seconds_by_group, run_prefix, say  # noqa: E402

from flowwatch.es_indices import findings_pattern  # noqa: E402
from flowwatch_detector.loopmon import LagProbe, percentile  # noqa: E402
from flowwatch_tools.engines import stop_process_group  # noqa: E402
from flowwatch_tools.replay import account, produce  # noqa: E402
from flowwatch_tools.stack import Stack  # noqa: E402

CONFIGS = {"thread": 0, "pool": 1}  # name → FLOWWATCH_SCAN_PROCESSES
P99_LIMIT_S = 0.100
MAX_LIMIT_S = 1.0
REPORT_INTERVAL_S = 1.0
PROBE_INTERVAL_S = 0.1


def read_windows(home: Path) -> list[dict[str, Any]]:
    """Every report line of every worker's stats file (``loop-<instance>.jsonl`` in ``home``)."""
    out = []
    for path in sorted(home.glob("loop-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                out.append(json.loads(line))
    return out


def window_span(w: dict[str, Any]) -> tuple[float, float]:
    """Monotonic [start, end] seconds that one report window covers."""
    return w["mono"] - (w["window_s"] or REPORT_INTERVAL_S), w["mono"]


def phase_figures(windows: list[dict[str, Any]], start: float, end: float, overlap: bool) -> dict[str, Any]:
    """Figures of the report windows in [start, end] (``overlap``: any window touching it; else only inside)."""
    def inside(w: dict[str, Any]) -> bool:
        lo, hi = window_span(w)
        return (hi > start and lo < end) if overlap else (lo >= start - 0.05 and hi <= end + 0.05)

    chosen = [w for w in windows if inside(w)]
    samples = [s for w in chosen for s in w["loop_lag_samples"]]
    consumer_max = [w["consumer_loop_lag_max"] for w in chosen if w["consumer_loop_lag_max"] is not None]
    consumer_p99 = [w["consumer_loop_lag_p99"] for w in chosen if w["consumer_loop_lag_p99"] is not None]
    gaps = [w["heartbeat_gap_max"] for w in chosen if w["heartbeat_gap_max"] is not None]
    # rebalance counters are cumulative per worker: compare the last report before the phase with the last in it
    rebalances = revocations = 0
    for inst in {w["instance"] for w in chosen}:
        mine = sorted((w for w in windows if w["instance"] == inst), key=lambda w: w["mono"])
        during = [w for w in mine if inside(w)]
        before = [w for w in mine if w["mono"] < during[0]["mono"]]
        ref = before[-1] if before else during[0]
        rebalances += during[-1]["rebalances"] - ref["rebalances"]
        revocations += during[-1]["partitions_revoked"] - ref["partitions_revoked"]
    return {
        "windows": len(chosen),
        "samples": len(samples),
        "loop_lag_p50_ms": round(percentile(samples, 50) * 1000, 2) if samples else None,
        "loop_lag_p99_ms": round(percentile(samples, 99) * 1000, 2) if samples else None,
        "loop_lag_max_ms": round(max(samples) * 1000, 2) if samples else None,
        "consumer_loop_lag_p99_max_ms": round(max(consumer_p99) * 1000, 2) if consumer_p99 else None,
        "consumer_loop_lag_max_ms": round(max(consumer_max) * 1000, 2) if consumer_max else None,
        "heartbeats_ok": sum(w["heartbeats_ok"] for w in chosen),
        "heartbeats_failed": sum(w["heartbeats_failed"] for w in chosen),
        "heartbeat_gap_max_s": round(max(gaps), 3) if gaps else None,
        "heartbeat_interval_s": chosen[0]["heartbeat_interval_s"] if chosen else None,
        "session_timeout_s": chosen[0]["session_timeout_s"] if chosen else None,
        "rebalances": rebalances,
        "partitions_revoked": revocations,
    }


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def reference_probe(path: Path) -> None:
    """``--reference-probe FILE``: an idle asyncio loop in its own process, probing like the detector's monitor.

    Appends ``[monotonic s, lag s]`` per sample to FILE. It does no work of its own, so its lag is what the
    machine's CPU scheduling alone costs: lag the detector shows beyond it comes from inside the detector.
    """
    probe = LagProbe(PROBE_INTERVAL_S, capacity=1)

    async def run() -> None:
        with open(path, "a", encoding="utf-8") as fh:
            while True:
                await probe.run(iterations=1)
                fh.write(json.dumps([round(time.monotonic(), 4), round(probe.ring.values()[-1], 5)]) + "\n")
                fh.flush()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(run())


def start_reference(path: Path) -> subprocess.Popen[bytes]:
    """Start the reference probe process (own process group) writing to ``path``."""
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--reference-probe", str(path)],
                            stdin=subprocess.DEVNULL, start_new_session=True)


def reference_figures(path: Path, start: float, end: float) -> dict[str, Any]:
    """p50/p99/max (ms) of the reference probe's samples taken in [start, end]."""
    samples = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                t, lag = json.loads(line)
                if start <= t <= end:
                    samples.append(lag)
    if not samples:
        return {"ref_samples": 0, "ref_lag_p50_ms": None, "ref_lag_p99_ms": None, "ref_lag_max_ms": None}
    return {"ref_samples": len(samples), "ref_lag_p50_ms": round(percentile(samples, 50) * 1000, 2),
            "ref_lag_p99_ms": round(percentile(samples, 99) * 1000, 2),
            "ref_lag_max_ms": round(max(samples) * 1000, 2)}


def main_thread_sched(stack: Stack) -> tuple[float, float]:
    """Seconds the detector workers' main threads (the Faust loops) ran on a CPU and waited in the run queue.

    From /proc/<pid>/task/<pid>/schedstat. Run-queue wait is time the thread was ready but the machine gave it
    no CPU: lag from CPU starvation, as opposed to the loop being busy (or waiting for the GIL) in-process.
    """
    ran = waited = 0.0
    for name, comp in stack.state.components.items():
        if name.startswith("detector-"):
            with contextlib.suppress(OSError, ValueError):
                on_cpu, runq, _ = Path(f"/proc/{comp.pid}/task/{comp.pid}/schedstat").read_text().split()
                ran += int(on_cpu) / 1e9
                waited += int(runq) / 1e9
    return ran, waited


def detector_cpu(stack: Stack, before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the detector workers (their process groups, pool processes included) used between snapshots."""
    pids = [c.pid for n, c in stack.state.components.items() if n.startswith("detector-")]
    return sum(after.get(p, 0.0) - before.get(p, 0.0) for p in pids)


def run_config(name: str, scan_processes: int, args: argparse.Namespace, events: list[bytes],
               warm: list[bytes]) -> dict[str, Any]:
    """Start a stack with ``scan_processes``, measure the idle and the load phase, stop everything."""
    home = Path(tempfile.mkdtemp(prefix=f"flowwatch-looplag-{name}-"))
    env = {
        "FLOWWATCH_SCAN_PROCESSES": str(scan_processes),
        "FLOWWATCH_LOOP_PROBE_INTERVAL": str(PROBE_INTERVAL_S),
        "FLOWWATCH_LOOP_STATS_INTERVAL": str(REPORT_INTERVAL_S),
        "FLOWWATCH_LOOP_STATS_FILE": str(home / "loop-{instance}.jsonl"),
    }
    stack = Stack(home=home, workers=args.workers, broker=args.broker, api=False, extra_env=env)
    ok = False
    ref: subprocess.Popen[bytes] | None = None
    try:
        say(f"[{name}] starting the stack ({args.workers} detector workers, scan_processes={scan_processes}, "
            f"Kafka={args.broker}) in {home}")
        stack.up()
        bootstrap, layout = stack.state.kafka_bootstrap, stack.topics()
        say(f"[{name}] warming the detector group with {len(warm)} events (Tansu's first join takes ~20-30 s)")
        warm_counter = count_on(bootstrap, layout.findings, layout.partitions, run_prefix(warm), len(warm))
        produce(bootstrap, layout.flow_events, warm)
        warm_counter.wait(args.timeout)
        time.sleep(2 * REPORT_INTERVAL_S)  # let the warm-up batches' windows pass
        ref = start_reference(home / "reference.jsonl")
        time.sleep(1.0)
        say(f"[{name}] idle phase: {args.idle:.0f} s")
        idle0, idle_ticks0 = time.monotonic(), machine_ticks()
        time.sleep(args.idle)
        idle1, idle_ticks1 = time.monotonic(), machine_ticks()
        say(f"[{name}] load phase: {len(events)} events, produced as fast as possible")
        counter = count_on(bootstrap, layout.findings, layout.partitions, run_prefix(events), len(events))
        cpu0, machine0, sched0 = cpu_seconds_by_group(), machine_ticks(), main_thread_sched(stack)
        load0 = time.monotonic()
        expected = produce(bootstrap, layout.flow_events, events)
        produced = time.monotonic()
        load1 = counter.wait(args.timeout)
        cpu1, machine1, sched1 = cpu_seconds_by_group(), machine_ticks(), main_thread_sched(stack)
        time.sleep(2.5 * REPORT_INTERVAL_S)  # the last windows of the load phase get written
        windows = read_windows(home)
        if not windows:
            raise RuntimeError(f"no loop stats written; see {home / 'logs'}")
        idle = phase_figures(windows, idle0, idle1, overlap=False)
        load = phase_figures(windows, load0, load1, overlap=True)
        idle.update(reference_figures(home / "reference.jsonl", idle0, idle1))
        load.update(reference_figures(home / "reference.jsonl", load0, load1))
        load_s = load1 - load0
        load.update({
            "seconds": round(load_s, 2),
            "produce_s": round(produced - load0, 2),
            "events_per_s": round(len(events) / load_s),
            "detector_cpu_cores": round(detector_cpu(stack, cpu0, cpu1) / load_s, 2),
            "machine_cpu_busy": round((machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1]), 3),
            # share of the load phase each worker's main thread spent on a CPU / runnable but not scheduled
            "main_thread_cpu_share": round((sched1[0] - sched0[0]) / (load_s * args.workers), 3),
            "main_thread_runq_share": round((sched1[1] - sched0[1]) / (load_s * args.workers), 3),
        })
        es = Elasticsearch(stack.state.es_url, request_timeout=60)
        findings, dead, missing = account(es, stack.state.index_prefix, expected, timeout=args.timeout)
        es.indices.refresh(index=findings_pattern(stack.state.index_prefix))
        indexed = es.count(index=findings_pattern(stack.state.index_prefix))["count"] - len(warm)
        load.update({"lost": len(missing), "dead_letters": len(dead),
                     "duplicated": max(0, indexed - len(findings))})  # documents beyond one per event
        idle["seconds"] = round(idle1 - idle0, 2)
        idle["machine_cpu_busy"] = round((idle_ticks1[0] - idle_ticks0[0]) / max(1, idle_ticks1[1] - idle_ticks0[1]), 3)
        passed = (load["loop_lag_p99_ms"] is not None and load["loop_lag_p99_ms"] < P99_LIMIT_S * 1000
                  and load["loop_lag_max_ms"] is not None and load["loop_lag_max_ms"] < MAX_LIMIT_S * 1000
                  and load["rebalances"] == 0 and load["partitions_revoked"] == 0
                  and load["lost"] == 0 and load["duplicated"] == 0 and load["dead_letters"] == 0)
        ok = True
        return {"config": name, "scan_processes": scan_processes, "kafka_engine": stack.state.kafka_engine,
                "workers": args.workers, "idle": idle, "load": load, "pass": passed}
    finally:
        if ref is not None:
            stop_process_group(ref.pid, grace=5)
        stack.down()
        if ok and not args.keep:
            shutil.rmtree(home, ignore_errors=True)
        else:
            say(f"[{name}] stack state and logs kept in {home}")


def _ms(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def report(result: dict[str, Any]) -> None:
    """Print one table row per configuration and phase, then the verdicts."""
    print(f"\nDetector event-loop lag: {result['events']} events x ~{result['mean_event_bytes']} B, "
          f"{result['workers']} workers, {result['cores']} cores, probe every {PROBE_INTERVAL_S * 1000:.0f} ms")
    head = (f"{'config':<7} {'phase':<5} {'secs':>5} {'samples':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
            f"{'cons.max ms':>11} {'hb ok/fail':>10} {'hb gap max s':>12} {'rebal.':>6} {'det.cores':>9} "
            f"{'events/s':>8} {'machine busy':>12} {'ref p99/max ms':>14} {'main cpu/runq':>13}")
    print(head)
    print("-" * len(head))
    for cfg in result["configurations"]:
        for phase in ("idle", "load"):
            f = cfg[phase]
            gap = "—" if f["heartbeat_gap_max_s"] is None else f"{f['heartbeat_gap_max_s']:.2f}"
            busy = f"{f['machine_cpu_busy']:.0%}" if "machine_cpu_busy" in f else "—"
            sched = (f"{f['main_thread_cpu_share']:.0%}/{f['main_thread_runq_share']:.0%}"
                     if "main_thread_runq_share" in f else "—")
            print(f"{cfg['config']:<7} {phase:<5} {f['seconds']:>5.1f} {f['samples']:>7} "
                  f"{_ms(f['loop_lag_p50_ms']):>7} {_ms(f['loop_lag_p99_ms']):>7} {_ms(f['loop_lag_max_ms']):>7} "
                  f"{_ms(f['consumer_loop_lag_max_ms']):>11} "
                  f"{str(f['heartbeats_ok']) + '/' + str(f['heartbeats_failed']):>10} {gap:>12} "
                  f"{f['rebalances']:>6} {f.get('detector_cpu_cores', '—'):>9} {f.get('events_per_s', '—'):>8} "
                  f"{busy:>12} {_ms(f.get('ref_lag_p99_ms')) + '/' + _ms(f.get('ref_lag_max_ms')):>14} {sched:>13}")
    hb = result["configurations"][0]["load"] if result["configurations"] else {}
    print(f"\n(heartbeat interval {hb.get('heartbeat_interval_s')} s, session timeout {hb.get('session_timeout_s')} s; "
          "'cons.' = aiokafka consumer-thread loop, where heartbeats run; 'ref' = an idle asyncio loop in a "
          "separate process: what CPU scheduling alone costs; 'main cpu/runq' = share of the load phase the workers' "
          "main threads ran / were runnable but got no CPU)")
    for cfg in result["configurations"]:
        load = cfg["load"]
        verdict = "PASS" if cfg["pass"] else "FAIL"
        print(f"{verdict} {cfg['config']}: load p99 {_ms(load['loop_lag_p99_ms'])} ms (< {P99_LIMIT_S * 1000:.0f}), "
              f"max {_ms(load['loop_lag_max_ms'])} ms (< {MAX_LIMIT_S * 1000:.0f}), "
              f"rebalances {load['rebalances']}, revocations {load['partitions_revoked']} (= 0), "
              f"lost {load['lost']}, duplicated {load['duplicated']}, dead letters {load['dead_letters']} (= 0)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=int(os.environ.get("BENCH_EVENTS", 20000)))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--broker", default="tansu", choices=["tansu", "noida"],
                    help="Kafka engine (noida-db busy-polls, which adds CPU contention even when idle).")
    ap.add_argument("--configs", default="thread,pool", help="Comma-separated: thread (scan_processes=0), pool (1).")
    ap.add_argument("--idle", type=float, default=15.0, help="Seconds of the idle (baseline) phase.")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--keep", action="store_true", help="Keep the stacks' folders (logs, stats files).")
    ap.add_argument("--event-kb", type=int, default=1, help="Size of each event in KB (overload: e.g. 500).")
    ap.add_argument("--dense", action="store_true", help="PII-dense padding text instead of plain prose.")
    ap.add_argument("--reference-probe", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.reference_probe:
        reference_probe(args.reference_probe)
        return
    # SIGTERM (e.g. from `timeout`) must still run the finally blocks that stop every process we started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    rng = random.Random(2026)
    run = f"l{int(time.time())}"
    events = [make_event(i, run, rng, size=args.event_kb * 1024, dense=args.dense) for i in range(args.events)]
    warm = [make_event(i, run + "w", rng) for i in range(200)]
    configs = []
    for name in args.configs.split(","):
        try:
            configs.append(run_config(name, CONFIGS[name], args, events, warm))
        except (RuntimeError, TimeoutError) as exc:
            say(f"[{name}] failed: {exc}")
            configs.append({"config": name, "scan_processes": CONFIGS[name], "error": str(exc), "pass": False})
    result: dict[str, Any] = {
        "events": args.events,
        "mean_event_bytes": round(sum(map(len, events)) / len(events)),
        "workers": args.workers,
        "cores": os.cpu_count() or 1,
        "probe_interval_s": PROBE_INTERVAL_S,
        "criterion": {"load_p99_ms_below": P99_LIMIT_S * 1000, "load_max_ms_below": MAX_LIMIT_S * 1000,
                      "rebalances_during_load": 0},
        "configurations": configs,
    }
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "loop_lag.json").write_text(json.dumps(result, indent=2) + "\n")
    report({**result, "configurations": [c for c in configs if "error" not in c]})
    for c in configs:
        if "error" in c:
            print(f"FAIL {c['config']}: {c['error']}")
    sys.exit(0 if configs and all(c["pass"] for c in configs) else 1)


if __name__ == "__main__":
    main()
