"""Where hot-reloaded detection settings travel: one record on a compacted Kafka topic (issue 16).

The API produces the whole validated settings document (hashes only, no plain list values) under
``SETTINGS_KEY`` (a JSON string key, like the processor registry's) to ``SETTINGS_TOPIC``; every detector
worker follows the topic with the registry reader (``flowwatch_detector.registry_reader.RegistryReader``)
and installs the latest record (``flowwatch.detection.custom.follow``). The last record wins; a restarted
worker reads it again from the beginning, so nothing is lost across a restart.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from flowwatch.kafka_client import confluent_config, kafka_settings

log = logging.getLogger("flowwatch.detection")
SETTINGS_TOPIC = "detection-settings"
SETTINGS_KEY = "detection-settings"
"""Registry-style key (decoded JSON string) of the one settings record."""


def encoded_key() -> bytes:
    """The Kafka message key: ``SETTINGS_KEY`` as a JSON string."""
    return json.dumps(SETTINGS_KEY).encode()


def read_latest(bootstrap: str, topic: str = SETTINGS_TOPIC, timeout: float = 10.0) -> dict[str, Any] | None:
    """The last settings record on ``topic`` (None: none, or the topic does not exist). Reads every
    partition from the beginning to the end offsets seen at the call. Raises ``confluent_kafka.KafkaException``
    when the broker does not answer."""
    consumer = Consumer(confluent_config(kafka_settings(bootstrap), **{
        "group.id": "flowwatch-settings-read", "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            return None
        ends: dict[int, int] = {}
        for p in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)
            if high > low:
                ends[p] = high
        if not ends:
            return None
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        latest: dict[str, Any] | None = None
        key = encoded_key()
        while ends:
            msg = consumer.poll(timeout)
            if msg is None:
                break
            if msg.error():
                continue
            if msg.key() == key:
                value = msg.value()
                latest = json.loads(value) if value else None
            partition, offset = msg.partition(), msg.offset()
            if partition in ends and offset is not None and offset + 1 >= ends[partition]:
                del ends[partition]
        return latest
    finally:
        consumer.close()


def ensure_topic(bootstrap: str, timeout: float = 10.0) -> bool:
    """Create ``SETTINGS_TOPIC`` (one partition) when it is missing, so followers can assign it at once.
    Returns False (and logs) when the broker does not answer: the follower keeps trying on its own, and a
    worker must not fail to start over its settings topic."""
    from flowwatch.cluster import ClusterError, ensure_topics

    try:
        ensure_topics(bootstrap, {SETTINGS_TOPIC: 1}, timeout=timeout)
    except ClusterError as exc:
        log.warning("cannot create %s yet (%s); the settings follower will wait for it", SETTINGS_TOPIC, exc)
        return False
    return True
