"""The detector's event-loop lag and heartbeat monitor (flowwatch_detector.loopmon)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import time
from pathlib import Path

import pytest

from flowwatch.settings import DetectorSettings
from flowwatch_detector.loopmon import (
    HeartbeatWatch,
    LagProbe,
    LagRing,
    LoopMonitor,
    lag_summary,
    percentile,
    stats_path,
)

# ------------------------------------------------------------------ ring buffer and percentiles


def test_ring_keeps_the_newest_samples_and_counts_all() -> None:
    ring = LagRing(capacity=4)
    for v in range(1, 7):
        ring.add(float(v))
    assert ring.total == 6 and len(ring) == 4
    assert ring.values() == [3.0, 4.0, 5.0, 6.0]
    assert ring.since(4) == ([5.0, 6.0], 6)
    assert ring.since(0) == ([3.0, 4.0, 5.0, 6.0], 6)  # older samples were overwritten
    assert ring.since(6) == ([], 6)


def test_ring_rejects_zero_capacity() -> None:
    with pytest.raises(ValueError):
        LagRing(0)


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 100 … 1, unordered input
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([0.5], 99) == 0.5
    with pytest.raises(ValueError):
        percentile([], 50)
    summary = lag_summary([0.001] * 98 + [0.2, 0.9])
    assert summary == {"loop_lag_p50": 0.001, "loop_lag_p99": 0.2, "loop_lag_max": 0.9}
    assert lag_summary([], "x") == {"x_p50": None, "x_p99": None, "x_max": None}


# ------------------------------------------------------------------ the probe sees a blocked loop


def test_probe_measures_a_loop_blocked_by_time_sleep() -> None:
    interval, block = 0.02, 0.3
    probe = LagProbe(interval)

    async def blocker() -> None:
        await asyncio.sleep(0.15)
        time.sleep(block)  # deliberately blocks the event loop

    async def main() -> None:
        task = asyncio.ensure_future(probe.run())
        await blocker()
        await asyncio.sleep(0.15)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    lags = probe.ring.values()
    assert len(lags) >= 10
    # the probe that was sleeping when the loop blocked woke up block − (up to one interval) late
    assert block - interval - 0.01 <= max(lags) <= block + 0.1
    assert sum(1 for v in lags if v > 0.1) == 1  # exactly one late wake-up
    assert percentile(lags, 50) < 0.015  # the others were on time
    assert min(lags) >= 0.0


def test_probe_on_an_idle_loop_is_on_time() -> None:
    probe = LagProbe(0.01)
    asyncio.run(probe.run(iterations=20))
    lags = probe.ring.values()
    assert len(lags) == 20
    assert percentile(lags, 50) < 0.01


def test_probe_rejects_non_positive_interval() -> None:
    with pytest.raises(ValueError):
        LagProbe(0)


# ------------------------------------------------------------------ heartbeats


class FakeCoordinator:
    """Stands in for aiokafka's GroupCoordinator: ``_do_heartbeat`` answers from a script."""

    def __init__(self, answers: list[bool | Exception]) -> None:
        self.answers = answers
        self.calls = 0

    async def _do_heartbeat(self) -> bool:
        answer = self.answers[self.calls]
        self.calls += 1
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_heartbeat_watch_records_successes_failures_and_gaps() -> None:
    watch = HeartbeatWatch()
    coord = FakeCoordinator([True, False, True, RuntimeError("boom"), True])
    assert watch.install(coord) and watch.install(coord)  # idempotent: wrapped once

    async def beat(pause: float) -> None:
        for _ in range(5):
            with contextlib.suppress(RuntimeError):
                await coord._do_heartbeat()
            await asyncio.sleep(pause)

    asyncio.run(beat(0.05))
    assert coord.calls == 5
    win = watch.window()
    assert win["heartbeat_observed"] is True
    assert win["heartbeats_ok"] == 3 and win["heartbeats_failed"] == 2
    # successes at calls 1, 3 and 5: two gaps of two pauses each
    assert 0.09 <= win["heartbeat_gap_max"] < 0.3
    assert win["heartbeat_rtt_max"] < 0.05
    assert win["heartbeat_age"] is not None
    again = watch.window()  # the window was reset; totals remain
    assert again["heartbeats_ok"] == 0 and again["heartbeat_gap_max"] is None
    assert again["heartbeat_gap_max_total"] == win["heartbeat_gap_max"]
    assert again["heartbeats_failed_total"] == 2


def test_heartbeat_watch_without_coordinator_method() -> None:
    watch = HeartbeatWatch()
    assert watch.install(object()) is False
    assert watch.window()["heartbeat_observed"] is False


def test_aiokafka_heartbeat_routine_still_calls_the_wrapped_method() -> None:
    """Guard for upgrades: the monitor relies on these private names of aiokafka and faust-streaming."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.consumer.group_coordinator import GroupCoordinator
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread, Consumer

    assert "self._do_heartbeat()" in inspect.getsource(GroupCoordinator._heartbeat_routine)
    assert inspect.iscoroutinefunction(GroupCoordinator._do_heartbeat)
    assert "self._coordinator = GroupCoordinator(" in inspect.getsource(AIOKafkaConsumer.start)
    assert "self._consumer = self._create_consumer(loop=self.thread_loop)" in inspect.getsource(
        AIOKafkaConsumerThread.on_start)
    assert "self._thread = self._new_consumer_thread()" in inspect.getsource(Consumer.__mro__[1].__init__)


# ------------------------------------------------------------------ reports


def test_report_logs_json_and_appends_to_stats_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "stats-{instance}.jsonl"
    mon = LoopMonitor(probe_interval=0.01, report_interval=1.0, stats_file=stats_path(str(path), "w-1"),
                      instance="w-1", heartbeat_interval=3.0, session_timeout=10.0)
    for v in [0.001] * 99 + [0.5]:
        mon.main.ring.add(v)
    with caplog.at_level(logging.INFO, logger="flowwatch.detector.loopmon"):
        first = mon.report(now=100.0)
    assert first["samples"] == 100
    assert (first["loop_lag_p50"], first["loop_lag_p99"], first["loop_lag_max"]) == (0.001, 0.001, 0.5)
    assert first["heartbeat_interval_s"] == 3.0 and first["rebalances"] == 0
    logged = json.loads(caplog.records[-1].getMessage())
    assert logged["loop_lag_max"] == 0.5 and logged["instance"] == "w-1"

    asyncio.run(mon.on_partitions_assigned(type("App", (), {"consumer_generation_id": 7})(), set()))
    mon.main.ring.add(0.002)
    second = mon.report(now=101.0)
    assert second["samples"] == 1 and second["loop_lag_max"] == 0.002 and second["window_s"] == 1.0
    assert second["loop_lag_max_total"] == 0.5
    assert second["rebalances"] == 1 and second["generation"] == 7

    lines = [json.loads(line) for line in (tmp_path / "stats-w-1.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    assert len(lines[0]["loop_lag_samples"]) == 100 and lines[1]["loop_lag_samples"] == [0.002]
    assert lines[0]["loop_lag_p99"] == first["loop_lag_p99"]


def test_monitor_run_reports_a_blocked_loop(tmp_path: Path) -> None:
    stats = tmp_path / "s.jsonl"
    mon = LoopMonitor(probe_interval=0.01, report_interval=0.2, stats_file=stats)

    async def main() -> None:
        task = asyncio.ensure_future(mon.run())
        await asyncio.sleep(0.25)
        time.sleep(0.25)  # block the loop inside the second report window
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    lines = [json.loads(line) for line in stats.read_text().splitlines()]
    assert len(lines) >= 2
    assert max(line["loop_lag_max"] for line in lines) >= 0.2
    assert lines[-1]["loop_lag_max_total"] >= 0.2
    assert all(line["heartbeat_observed"] is False for line in lines)  # no Kafka consumer here


def test_stats_path_and_settings_defaults() -> None:
    assert stats_path(None, "x") is None
    assert stats_path("/tmp/a-{instance}.jsonl", "detector-2") == Path("/tmp/a-detector-2.jsonl")
    assert str(stats_path("/tmp/a-{instance}.jsonl", None)).startswith("/tmp/a-pid")
    s = DetectorSettings()
    assert s.loop_probe_interval == 0.1 and s.loop_stats_interval == 10.0
