"""Prometheus metrics of the indexer (served on ``FLOWWATCH_METRICS_PORT`` with ``/readyz`` when it is set)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from flowwatch.observability import set_consumer_lag

DOCUMENTS = Counter("flowwatch_indexer_documents_total",
                    "Documents written (or found already newer: stale) by kind.", ["kind"])
BULK_SECONDS = Histogram(
    "flowwatch_indexer_bulk_seconds", "Duration of one bulk request to Elasticsearch (seconds).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
BULK_FAILURES = Counter(
    "flowwatch_indexer_bulk_failures_total",
    "Failed bulk attempts: unavailable (connection/transport error), retryable (items answered 429/500/503), "
    "rejected (items refused for good; logged).", ["reason"],
)
BULK_RETRIES = Counter("flowwatch_indexer_bulk_retries_total", "Bulk requests sent again after a back-off.")
COMMIT_FAILURES = Counter("flowwatch_indexer_commit_failures_total",
                          "Offset commits refused (broker restart, rebalance): the messages come again.")
STALE = Counter("flowwatch_indexer_stale_total", "Versioned records skipped because a newer state is indexed.")
ES_UP = Gauge("flowwatch_elasticsearch_up", "1 when the last Elasticsearch request or ping succeeded.")
KAFKA_UP = Gauge("flowwatch_kafka_up", "1 when the last Kafka metadata request succeeded.")


def kind_of(prefix: str, index: str) -> str:
    """``findings``, ``deadletters``, ``incidents``, ``alerts``, ``ledger``, ``registry`` … from an index name."""
    rest = index[len(prefix) + 1:] if index.startswith(prefix + "-") else index
    return rest.split("-", 1)[0] or "unknown"


def count_documents(prefix: str, indices: Iterable[str]) -> None:
    """Count one indexed document per index name."""
    counts: dict[str, int] = {}
    for index in indices:
        kind = kind_of(prefix, index)
        counts[kind] = counts.get(kind, 0) + 1
    for kind, n in counts.items():
        DOCUMENTS.labels(kind=kind).inc(n)


def update_consumer_lag(consumer: Any, timeout: float = 1.0) -> dict[tuple[str, int], int]:
    """Set ``flowwatch_consumer_lag`` for the partitions assigned to a confluent-kafka ``consumer``.

    Lag = high watermark (``get_watermark_offsets``) − committed offset (``committed``); a partition without a
    committed offset counts from its low watermark. Revoked partitions are removed. Raises KafkaException
    when the broker does not answer.
    """
    assignment = consumer.assignment()
    lags: dict[tuple[str, int], int] = {}
    if assignment:
        for tp in consumer.committed(assignment, timeout=timeout):
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            committed = tp.offset if tp.offset is not None and tp.offset >= 0 else low
            lags[(tp.topic, tp.partition)] = max(0, int(high) - int(committed))
    set_consumer_lag(lags)
    return lags
