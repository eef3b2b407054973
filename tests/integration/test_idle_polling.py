"""Idle consumers on the embedded noida-db, which answers empty fetches at once: with Flowwatch's client-side
long poll (aiokafka, ``flowwatch_detector.fetch_backoff``) and pause-and-probe (confluent-kafka,
``flowwatch.kafka_idle``) an idle consumer uses a small fraction of the CPU it spins at without them, and
still receives every message, none twice, promptly."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from confluent_kafka import Consumer

from flowwatch.cluster import ensure_topics
from flowwatch.kafka_idle import IdleFetchGuard
from flowwatch_detector import fetch_backoff
from flowwatch_tools.engines import Engine
from tests.integration.conftest import produce_keyed

pytestmark = pytest.mark.integration


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def noida(noida: Engine) -> Engine:
    """The conftest's noida-db with this module's topics."""
    ensure_topics(noida.kafka_bootstrap, {"t": 4})
    return noida


def _idle_cpu(engine: Engine, step: object, seconds: float) -> float:
    """CPU seconds per second that this process and the engine use while ``step`` is called in a loop."""
    before = cpu_seconds(os.getpid()) + cpu_seconds(engine.pid)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        step()  # type: ignore[operator]
    return (cpu_seconds(os.getpid()) + cpu_seconds(engine.pid) - before) / seconds


def test_paused_confluent_consumer_does_not_spin_and_loses_nothing(noida: Engine) -> None:
    config = {"bootstrap.servers": noida.kafka_bootstrap, "auto.offset.reset": "earliest",
              "enable.auto.commit": False}
    plain = Consumer({**config, "group.id": "plain"})
    plain.subscribe(["t"])
    guarded_consumer = Consumer({**config, "group.id": "guarded"})
    guarded_consumer.subscribe(["t"])
    guard = IdleFetchGuard(guarded_consumer, probe_interval=0.05)
    try:
        for _ in range(8):  # join both groups
            plain.consume(100, 0.5)
            guard.consume(100, 0.5)
        spin = _idle_cpu(noida, lambda: plain.consume(100, 0.5), 4.0)
        plain.close()
        quiet = _idle_cpu(noida, lambda: guard.consume(100, 0.5), 4.0)
        assert guard.paused and guard.pauses >= 1
        assert quiet < spin / 4, (quiet, spin)

        # messages produced while paused arrive, each once, in order per partition
        records = [(f"k{i % 7}".encode(), f"m{i}".encode()) for i in range(300)]
        seen: list[bytes] = []
        started = time.monotonic()
        produce_keyed(noida.kafka_bootstrap, "t", records[:1])
        while not seen and time.monotonic() - started < 10:
            seen += [m.value() for m in guard.consume(100, 0.2) if m.error() is None]
        first_latency = time.monotonic() - started
        produce_keyed(noida.kafka_bootstrap, "t", records[1:])
        deadline = time.monotonic() + 30
        while len(seen) < len(records) and time.monotonic() < deadline:
            seen += [m.value() for m in guard.consume(100, 0.2) if m.error() is None]
        assert sorted(seen) == sorted(v for _, v in records)  # all of them, none twice
        assert first_latency < 3.0, first_latency  # probe 0.05 s + librdkafka's first fetch of a partition (~1 s)
    finally:
        guarded_consumer.close()


def test_aiokafka_long_poll_on_the_client(noida: Engine) -> None:
    ensure_topics(noida.kafka_bootstrap, {"plain": 4, "quiet": 4})

    async def idle_cpu(backoff: float, group: str, expect: int) -> tuple[float, list[bytes]]:
        fetch_backoff.install(backoff)
        consumer = AIOKafkaConsumer(group, bootstrap_servers=noida.kafka_bootstrap, group_id=group,
                                    auto_offset_reset="earliest", fetch_max_wait_ms=1500)
        await consumer.start()
        try:
            got: list[bytes] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3:  # join
                await consumer.getmany(timeout_ms=300)
            before = cpu_seconds(os.getpid()) + cpu_seconds(noida.pid)
            t0 = time.monotonic()
            while time.monotonic() - t0 < 4:
                for msgs in (await consumer.getmany(timeout_ms=300)).values():
                    got += [m.value for m in msgs if m.value is not None]
            used = (cpu_seconds(os.getpid()) + cpu_seconds(noida.pid) - before) / 4
            records = [(f"k{i}".encode(), f"{group}-{i}".encode()) for i in range(50)]
            produce_keyed(noida.kafka_bootstrap, group, records)
            deadline = time.monotonic() + 15
            while len(got) < expect and time.monotonic() < deadline:
                for msgs in (await consumer.getmany(timeout_ms=300)).values():
                    got += [m.value for m in msgs if m.value is not None]
            return used, got
        finally:
            await consumer.stop()

    try:
        spin, got_plain = asyncio.run(idle_cpu(0.0, "plain", 50))
        quiet, got_quiet = asyncio.run(idle_cpu(0.05, "quiet", 50))
    finally:
        fetch_backoff.install(0.0)
    assert fetch_backoff.installed_backoff() == 0.0
    assert quiet < spin / 4, (quiet, spin)
    plain_ids = [f"plain-{i}".encode() for i in range(50)]
    assert sorted(got_plain) == sorted(plain_ids)
    assert sorted(got_quiet) == sorted(f"quiet-{i}".encode() for i in range(50))  # each once
