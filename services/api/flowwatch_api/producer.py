"""The API's one Kafka producer: obligation marks go to ``incident-updates`` as ``IncidentUpdate`` records.

The API never writes incidents to Elasticsearch itself: the detector's incident agent owns the state and
re-produces the record. A send waits for the broker's acknowledgement (``acks=all``) up to ``timeout``
seconds; a message not delivered by then expires inside the client (``message.timeout.ms``), so an answered
503 is not followed by a late delivery.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from flowwatch.kafka_client import confluent_config, kafka_settings
from flowwatch.settings import KafkaSettings

log = logging.getLogger(__name__)

PRODUCE_TIMEOUT = 5.0
"""Seconds a mark may take to be acknowledged by the broker (then 503)."""


class BrokerUnavailable(RuntimeError):
    """The broker did not acknowledge a message in time (unreachable, topic missing, queue full)."""


class UpdateProducer:
    """Thread-safe producer of one topic, connected on first use (the API starts without Kafka)."""

    def __init__(self, bootstrap: str | KafkaSettings, topic: str, timeout: float = PRODUCE_TIMEOUT) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.timeout = timeout
        self._producer: Producer | None = None
        self._lock = threading.Lock()

    def _client(self) -> Producer:
        with self._lock:
            if self._producer is None:
                self._producer = Producer(confluent_config(kafka_settings(self.bootstrap), **{
                    "acks": "all",
                    "message.timeout.ms": max(1, int(self.timeout * 1000)),
                    "linger.ms": 0,
                }))
            return self._producer

    def send_many(self, records: list[tuple[str, bytes]]) -> None:
        """Produce every ``(key, value)`` and wait for all acknowledgements (one flush).

        Raises BrokerUnavailable when any is not acknowledged within ``timeout`` seconds or is refused
        (others may have been delivered: producers of idempotent records retry the whole call).
        """
        outcome: list[KafkaError | None] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            outcome.append(err)

        try:
            producer = self._client()
            for key, value in records:
                producer.produce(self.topic, value=value, key=key.encode(), on_delivery=delivered)
            producer.flush(self.timeout + 1.0)
        except (BufferError, KafkaException) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if len(outcome) < len(records):
            raise BrokerUnavailable("no acknowledgement from the broker in time")
        failed = [e for e in outcome if e is not None]
        if failed:
            raise BrokerUnavailable(str(failed[0]))

    def send(self, key: str, value: bytes) -> None:
        """Produce ``value`` with ``key`` and wait for its acknowledgement.

        Raises BrokerUnavailable when it is not acknowledged within ``timeout`` seconds or is refused.
        """
        outcome: list[KafkaError | None] = []

        def delivered(err: KafkaError | None, _msg: Any) -> None:
            outcome.append(err)

        try:
            producer = self._client()
            producer.produce(self.topic, value=value, key=key.encode(), on_delivery=delivered)
            producer.flush(self.timeout + 1.0)  # the message expires after `timeout`: its callback comes
        except (BufferError, KafkaException) as exc:
            raise BrokerUnavailable(str(exc)) from exc
        if not outcome:
            raise BrokerUnavailable("no acknowledgement from the broker in time")
        if outcome[0] is not None:
            raise BrokerUnavailable(str(outcome[0]))

    def close(self) -> None:
        """Deliver what is queued (bounded by ``timeout``) and drop the client."""
        with self._lock:
            if self._producer is not None:
                remaining = self._producer.flush(self.timeout)
                if remaining:
                    log.warning("%d incident updates not delivered at shutdown", remaining)
                self._producer = None
