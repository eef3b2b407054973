"""Prometheus metrics of a detector worker (served on ``FLOWWATCH_METRICS_PORT`` when it is set).

Counters are incremented where the agents send their outputs; ``flowwatch_consumer_lag`` is refreshed by a
timer from the Faust consumer (``highwater(tp)`` − the last committed offset of each assigned partition);
``flowwatch_loop_lag_seconds`` is fed with the loop monitor's probe samples.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from prometheus_client import Counter, Histogram

from flowwatch.observability import set_consumer_lag

log = logging.getLogger("flowwatch.detector.metrics")

EVENTS_IN = Counter("flowwatch_events_in_total", "Records consumed by the detector's agents.", ["topic"])
FINDINGS_OUT = Counter("flowwatch_findings_out_total", "Findings sent to the findings topic.")
GAP_RECORDS = Counter("flowwatch_input_gap_records_total",
                      "Records the Faust consumer skipped, read from the broker and applied (gap_reader).", ["topic"])
DEAD_LETTERS = Counter("flowwatch_dead_letters_total", "Records sent to the dead-letter topic.", ["reason"])
DETECTION_SECONDS = Histogram(
    "flowwatch_detection_seconds",
    "Validation and PI scan time of one micro-batch (seconds, executor queueing included); per event: "
    "rate(flowwatch_detection_seconds_sum) / rate(flowwatch_events_in_total{topic=<flow events>}).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ALERTS = Counter("flowwatch_alerts_total", "Alerts raised (incident and export agents).", ["type", "severity"])
LOOP_LAG = Histogram(
    "flowwatch_loop_lag_seconds", "Event-loop lag samples of the loop monitor (seconds).", ["loop"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


def observe_alert(alert: Any) -> None:
    """Count one raised ``Alert`` by type and severity."""
    severity = getattr(alert.severity, "value", alert.severity)
    ALERTS.labels(type=str(alert.type), severity=str(severity)).inc()


def observe_loop_lag(loop: str, samples: Sequence[float]) -> None:
    """Feed one report window's lag samples (seconds) of ``loop`` ("main" or "consumer")."""
    hist = LOOP_LAG.labels(loop=loop)
    for value in samples:
        hist.observe(value)


def update_consumer_lag(consumer: Any) -> dict[tuple[str, int], int]:
    """Set ``flowwatch_consumer_lag`` for every partition assigned to a Faust ``consumer``; returns the figures.

    Uses ``consumer.assignment()``, ``consumer.highwater(tp)`` and ``consumer._committed_offset[tp]``
    (faust-streaming 0.11+). Partitions without a committed offset yet are skipped; revoked ones are removed.
    """
    lags: dict[tuple[str, int], int] = {}
    try:
        assignment = list(consumer.assignment())
    except Exception:  # consumer not started yet
        return lags
    committed_offsets = getattr(consumer, "_committed_offset", {})
    for tp in assignment:
        committed = committed_offsets.get(tp) if hasattr(committed_offsets, "get") else None
        try:
            highwater = consumer.highwater(tp)
        except Exception:
            continue
        if committed is None or highwater is None:
            continue
        lags[(tp.topic, tp.partition)] = max(0, int(highwater) - int(committed))
    set_consumer_lag(lags)
    return lags
