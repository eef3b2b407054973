"""Event-loop lag and consumer-heartbeat monitor of a detector worker.

Why: the pii agent scans in an executor so that the Faust event loop stays free for timers, commits and the
Kafka client. This module measures that instead of assuming it:

* ``LagProbe``: a coroutine that sleeps ``interval`` seconds, again and again, and records how late it woke
  up (actual − expected, seconds) in a fixed-size ring buffer (``LagRing``). A loop blocked by CPU work
  (or the GIL) shows up as lag. One probe runs on the Faust main loop, one on the loop of aiokafka's
  consumer thread (faust-streaming runs the aiokafka consumer, and so its heartbeats, in its own thread).
* ``HeartbeatWatch``: wraps the aiokafka group coordinator's ``_do_heartbeat`` (aiokafka 0.14: the
  heartbeat task calls ``self._do_heartbeat()`` every ``heartbeat_interval``; the time of the last
  successful heartbeat is a local variable of ``_heartbeat_routine``, so it is not readable otherwise) and
  records successes, failures, the round-trip time and the largest gap between two successful heartbeats.
* Rebalances: counted from Faust's ``on_partitions_revoked`` / ``on_partitions_assigned`` signals.

``LoopMonitor.report`` emits one JSON object per ``report_interval`` (figures of that window, seconds) to
the log and, when a stats file is configured, appends it with the window's raw lag samples to that file
(JSON lines), so a bench can compute exact percentiles over any phase. Overhead: one wake-up per probe
interval per loop and one short write per report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("flowwatch.detector.loopmon")

_WRAPPED_MARK = "_flowwatch_heartbeat_watch"


class LagRing:
    """Fixed-size ring buffer of lag samples (seconds); thread-safe, keeps the newest ``capacity``."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._values = [0.0] * capacity
        self._total = 0  # samples ever added
        self._lock = threading.Lock()

    def add(self, value: float) -> None:
        """Record one sample (seconds), overwriting the oldest when full."""
        with self._lock:
            self._values[self._total % self.capacity] = value
            self._total += 1

    @property
    def total(self) -> int:
        """Number of samples ever added (not capped by the capacity)."""
        return self._total

    def __len__(self) -> int:
        return min(self._total, self.capacity)

    def since(self, total_before: int) -> tuple[list[float], int]:
        """Samples added after ``total`` was ``total_before`` (oldest first, at most ``capacity``), and ``total``.

        Both are read under one lock, so ``since(previous_total)`` in a loop misses no sample that is retained.
        """
        with self._lock:
            n = max(0, min(self._total - total_before, self.capacity))
            start = self._total - n
            return [self._values[i % self.capacity] for i in range(start, self._total)], self._total

    def values(self) -> list[float]:
        """Every retained sample, oldest first."""
        return self.since(0)[0]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100) of ``values`` (any order). Raises ValueError when empty."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def lag_summary(values: Sequence[float], prefix: str = "loop_lag") -> dict[str, float | None]:
    """``{prefix_p50, prefix_p99, prefix_max}`` in seconds (rounded to 0.1 ms); None when no samples."""
    if not values:
        return {f"{prefix}_p50": None, f"{prefix}_p99": None, f"{prefix}_max": None}
    return {f"{prefix}_p50": round(percentile(values, 50), 4), f"{prefix}_p99": round(percentile(values, 99), 4),
            f"{prefix}_max": round(max(values), 4)}


class LagProbe:
    """Measures how late the running event loop wakes a coroutine that sleeps ``interval`` seconds."""

    def __init__(self, interval: float, capacity: int = 4096) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive (seconds)")
        self.interval = interval
        self.ring = LagRing(capacity)

    async def run(self, iterations: int | None = None) -> None:
        """Probe forever (or ``iterations`` times): lag = time actually slept − ``interval``, ≥ 0, seconds."""
        loop = asyncio.get_running_loop()
        done = 0
        while iterations is None or done < iterations:
            start = loop.time()
            await asyncio.sleep(self.interval)
            self.ring.add(max(0.0, loop.time() - start - self.interval))
            done += 1


class HeartbeatWatch:
    """Successful/failed consumer-group heartbeats and the largest gap between successes (seconds).

    ``record`` is called from aiokafka's consumer thread, ``window`` from the Faust main loop: a lock
    guards the counters.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.installed = False
        self.ok_total = 0
        self.failed_total = 0
        self.gap_max_total: float | None = None
        self.last_ok: float | None = None
        self._ok = self._failed = 0
        self._gap_max: float | None = None
        self._rtt_max: float | None = None

    def record(self, ok: bool, started: float, finished: float) -> None:
        """One heartbeat request sent at ``started`` and answered at ``finished`` (monotonic seconds)."""
        with self._lock:
            rtt = finished - started
            self._rtt_max = rtt if self._rtt_max is None else max(self._rtt_max, rtt)
            if not ok:
                self._failed += 1
                self.failed_total += 1
                return
            self._ok += 1
            self.ok_total += 1
            if self.last_ok is not None:
                gap = finished - self.last_ok
                self._gap_max = gap if self._gap_max is None else max(self._gap_max, gap)
                self.gap_max_total = gap if self.gap_max_total is None else max(self.gap_max_total, gap)
            self.last_ok = finished

    def window(self) -> dict[str, Any]:
        """Figures since the previous call (then reset): counts, gap and round-trip maxima, age of the last ok."""
        with self._lock:
            now = self._clock()
            out: dict[str, Any] = {
                "heartbeat_observed": self.installed,
                "heartbeats_ok": self._ok,
                "heartbeats_failed": self._failed,
                "heartbeat_gap_max": _r(self._gap_max),
                "heartbeat_rtt_max": _r(self._rtt_max),
                "heartbeat_age": _r(now - self.last_ok) if self.last_ok is not None else None,
                "heartbeat_gap_max_total": _r(self.gap_max_total),
                "heartbeats_failed_total": self.failed_total,
            }
            self._ok = self._failed = 0
            self._gap_max = self._rtt_max = None
            return out

    def install(self, coordinator: Any) -> bool:
        """Wrap ``coordinator._do_heartbeat`` (an aiokafka ``GroupCoordinator``) to record every heartbeat.

        Idempotent; returns True when the coordinator is (now) watched, False when it has no such method.
        """
        original = getattr(coordinator, "_do_heartbeat", None)
        if original is None:
            return False
        if getattr(original, _WRAPPED_MARK, None) is self:
            return True

        async def watched_heartbeat() -> Any:
            started = time.monotonic()
            try:
                ok = await original()
            except asyncio.CancelledError:
                raise
            except BaseException:
                self.record(False, started, time.monotonic())
                raise
            self.record(bool(ok), started, time.monotonic())
            return ok

        setattr(watched_heartbeat, _WRAPPED_MARK, self)
        coordinator._do_heartbeat = watched_heartbeat
        self.installed = True
        return True


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


class LoopMonitor:
    """Lag probes on the main loop (and the consumer thread's loop), heartbeat watch, rebalance counts.

    ``probe_interval`` and ``report_interval`` are seconds. ``stats_file``: JSON-lines file that every report
    is appended to (None: log only). ``heartbeat_interval`` / ``session_timeout`` (seconds) are echoed in
    each report so a reader can judge the heartbeat gap.
    """

    def __init__(
        self,
        probe_interval: float = 0.1,
        report_interval: float = 10.0,
        stats_file: Path | None = None,
        instance: str | None = None,
        heartbeat_interval: float | None = None,
        session_timeout: float | None = None,
        sample_sink: Callable[[str, list[float]], None] | None = None,
    ) -> None:
        if report_interval <= 0:
            raise ValueError("report_interval must be positive (seconds)")
        # the ring holds at least two report windows of samples
        capacity = max(64, math.ceil(2 * report_interval / probe_interval) + 1)
        self.main = LagProbe(probe_interval, capacity)
        self.consumer = LagProbe(probe_interval, capacity)
        self.heartbeats = HeartbeatWatch()
        self.report_interval = report_interval
        self.stats_file = stats_file
        self.instance = instance or f"pid{os.getpid()}"
        self.heartbeat_interval = heartbeat_interval
        self.session_timeout = session_timeout
        self.sample_sink = sample_sink  # e.g. a Prometheus histogram feeder: (loop name, samples of a window)
        self.rebalances = 0
        self.revocations = 0
        self.generation: int | None = None
        self.lag_max_total = 0.0
        self._consumer_probe: Any = None  # concurrent.futures.Future of the probe on the consumer loop
        self._seen_main = 0
        self._seen_consumer = 0
        self._last_report: float | None = None

    # ------------------------------------------------------------------ hooks

    async def on_partitions_revoked(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Faust signal receiver: a rebalance started."""
        self.revocations += 1

    async def on_partitions_assigned(self, sender: Any, *args: Any, **kwargs: Any) -> None:
        """Faust signal receiver: a rebalance completed (the first assignment counts too)."""
        self.rebalances += 1
        self.generation = getattr(sender, "consumer_generation_id", None)

    def attach_consumer(self, app: Any) -> bool:
        """Watch heartbeats and probe the loop of faust-streaming's aiokafka consumer thread, once it exists.

        Reaches ``app.consumer._thread`` (faust-streaming 0.15 ``AIOKafkaConsumerThread``), its ``thread_loop``
        and ``_consumer._coordinator`` (aiokafka 0.14 ``GroupCoordinator``). Returns True when the
        heartbeats are watched; safe to call again (it re-attaches to a new coordinator).
        """
        try:
            thread = app.consumer._thread
            coordinator = thread._consumer._coordinator
            thread_loop = thread.thread_loop
        except Exception:  # consumer not started yet, or another transport
            return False
        if coordinator is None:
            return False
        ok = self.heartbeats.install(coordinator)
        if self._consumer_probe is None and thread_loop is not None and thread_loop.is_running():
            self._consumer_probe = asyncio.run_coroutine_threadsafe(self.consumer.run(), thread_loop)
        return ok

    # ------------------------------------------------------------------ running

    async def run(self, app: Any = None) -> None:
        """Probe the current loop and report every ``report_interval`` seconds until cancelled."""
        probe = asyncio.ensure_future(self.main.run())
        loop = asyncio.get_running_loop()
        self._last_report = loop.time()
        try:
            while True:
                await asyncio.sleep(self.report_interval)
                try:
                    if app is not None:
                        self.attach_consumer(app)
                    self.report(loop.time())
                except Exception:  # a diagnostic must never stop the worker
                    log.exception("loop monitor report failed")
        finally:
            probe.cancel()
            if self._consumer_probe is not None:
                with contextlib.suppress(Exception):  # the consumer thread's loop may be closed already
                    self._consumer_probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    def report(self, now: float | None = None) -> dict[str, Any]:
        """Figures since the previous report (seconds): log one JSON line, append it to the stats file."""
        now = time.monotonic() if now is None else now
        main, self._seen_main = self.main.ring.since(self._seen_main)
        consumer, self._seen_consumer = self.consumer.ring.since(self._seen_consumer)
        if main:
            self.lag_max_total = max(self.lag_max_total, max(main))
        stats: dict[str, Any] = {
            "event": "loop_stats",
            "instance": self.instance,
            "pid": os.getpid(),
            "ts": round(time.time(), 3),
            "mono": round(now, 3),
            "window_s": round(now - self._last_report, 3) if self._last_report is not None else None,
            "probe_interval_s": self.main.interval,
            "samples": len(main),
            **lag_summary(main),
            "loop_lag_max_total": round(self.lag_max_total, 4),
            **lag_summary(consumer, "consumer_loop_lag"),
            "heartbeat_interval_s": self.heartbeat_interval,
            "session_timeout_s": self.session_timeout,
            **self.heartbeats.window(),
            "rebalances": self.rebalances,
            "partitions_revoked": self.revocations,
            "generation": self.generation,
        }
        self._last_report = now
        if self.sample_sink is not None:
            self.sample_sink("main", main)
            self.sample_sink("consumer", consumer)
        # text logs: the JSON object is the message; JSON logs: its fields are merged into the log object
        log.info("%s", json.dumps(stats), extra={"fields": stats})
        if self.stats_file is not None:
            record = {**stats, "loop_lag_samples": [round(v, 5) for v in main]}
            try:
                with open(self.stats_file, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            except OSError as exc:
                log.warning("cannot write loop stats to %s: %s", self.stats_file, exc)
        return stats


def stats_path(template: str | None, instance: str | None) -> Path | None:
    """The stats file of this worker: ``template`` with ``{instance}`` replaced (instance id or ``pid<N>``)."""
    if not template:
        return None
    return Path(template.replace("{instance}", instance or f"pid{os.getpid()}"))


def make_probe_task(monitor: LoopMonitor, app: Any) -> Callable[[], Awaitable[None]]:
    """A nullary coroutine function for ``app.task`` that runs ``monitor`` with ``app``."""

    async def loop_monitor() -> None:
        """Detector loop-lag and heartbeat monitor (see flowwatch_detector.loopmon)."""
        await monitor.run(app)

    return loop_monitor
