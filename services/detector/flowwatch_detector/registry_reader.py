"""Every worker's copy of the processor registry: a Kafka consumer outside the consumer group that is
assigned every partition of the compacted registry topic, reads it from the beginning and follows it.

Why not a Faust GlobalTable: faust-streaming 0.15's partition assignor only knows changelogs named
``<app id>-<table>-changelog``, and with two workers on a Kafka that follows the group protocol strictly
(Tansu) a worker restarted after SIGKILL never finished rejoining the group while a global table was
declared (tests/integration/test_crash_recovery.py). The registry is small and read-only for the
detector, so a plain reader thread is simpler and independent of the group.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition
from pydantic import BaseModel, ValidationError

from flowwatch.kafka_client import confluent_config, kafka_settings
from flowwatch.kafka_idle import IdleFetchGuard
from flowwatch.settings import KafkaSettings

log = logging.getLogger("flowwatch.detector.registry")

M = TypeVar("M", bound=BaseModel)


class RegistryReader:
    """Follows ``topic`` into an in-memory dict: key (the JSON-string key decoded) → value (decoded JSON
    object; a null value deletes the key). ``ready`` is set once the reader has caught up with the end
    offsets seen at start, or after ``catch_up_timeout`` seconds (then it says so in the log).

    ``idle_probe``: seconds between high-watermark probes once caught up, while the reader's partitions are
    paused (``flowwatch.kafka_idle``; a registry change is seen within about that long); 0 keeps fetching;
    None (default): 0.2 s when ``FLOWWATCH_KAFKA_IDLE_PROBE`` is set (> 0), else 0."""

    def __init__(self, bootstrap: str | KafkaSettings, topic: str, catch_up_timeout: float = 15.0,
                 idle_probe: float | None = None) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.catch_up_timeout = catch_up_timeout
        if idle_probe is None:
            idle_probe = 0.2 if kafka_settings(bootstrap).kafka_idle_probe > 0 else 0.0
        self.idle_probe = idle_probe
        self.entries: dict[str, Any] = {}
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-reader", daemon=True)

    def start(self) -> None:
        """Start the reader thread (idempotent)."""
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop."""
        self._stop.set()

    def get(self, key: str) -> Any:
        """The decoded value of ``key``, or None."""
        return self.entries.get(key)

    def validated(self, key: str, model: type[M]) -> M | None:
        """The value of ``key`` as a ``model`` (e.g. ``flowwatch.exports.registry.RegistryEntry``), or None
        when there is none or it does not validate (then a warning names the key: one unreadable entry
        must not stop an agent)."""
        stored = self.entries.get(key)
        try:
            return model.model_validate(stored) if stored else None
        except ValidationError as exc:
            log.warning("unreadable registry entry %s ignored: %s", key, exc)
            return None

    def _run(self) -> None:
        consumer = Consumer(confluent_config(kafka_settings(self.bootstrap), **{
            "group.id": "flowwatch-registry-reader", "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
        started = time.monotonic()
        try:
            ends = self._assign_all(consumer)
            fetch = IdleFetchGuard(consumer, probe_interval=self.idle_probe or 1.0, enabled=self.idle_probe > 0)
            while not self._stop.is_set():
                for msg in fetch.consume(500, 0.5):
                    if msg.error():
                        continue
                    self._apply(msg.key(), msg.value())
                    partition, offset = msg.partition(), msg.offset()
                    if partition is not None and offset is not None and offset + 1 >= ends.get(partition, offset + 2):
                        del ends[partition]
                if not self.ready.is_set() and (not ends or time.monotonic() - started > self.catch_up_timeout):
                    if ends:
                        log.warning("registry reader: not caught up after %.0f s; going on", self.catch_up_timeout)
                    self.ready.set()
        except KafkaException as exc:
            log.error("registry reader stopped: %s", exc)
            self.ready.set()
        finally:
            consumer.close()

    def _assign_all(self, consumer: Consumer) -> dict[int, int]:
        """Assign every partition from the beginning; return partition → end offset (non-empty ones)."""
        while not self._stop.is_set():
            meta = consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
            if meta is not None and meta.partitions:
                break
            time.sleep(1)
        partitions = sorted(meta.partitions) if meta is not None else []
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=10)
            if high > low:
                ends[p] = high
        return ends

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        try:
            name = json.loads(key)
            if value is None:
                self.entries.pop(name, None)
            else:
                self.entries[name] = json.loads(value)
        except (ValueError, TypeError) as exc:
            log.warning("unreadable registry record ignored: %s", exc)
