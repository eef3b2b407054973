"""The Faust application of the detector: one app, three agents, the loop monitor and the metrics server.

Run: ``faust -A flowwatch_detector.app worker --without-web`` (``python -m flowwatch_detector`` does it with
our defaults; ``flowwatch up`` starts it for you). The agents live in their own modules and are declared on
the app by their ``register()``:

- ``pii_agent``: flow events → findings, dead letters, incident and export updates;
- ``incidents``: incident updates → incident records and deadline alerts (2025 reporting measures);
- ``egress``: export updates → the export ledger and cross-border alerts (2024 Provisions).

Delivery is at-least-once: a micro-batch is acknowledged only after every output it produced was
acknowledged by the broker, so a killed worker loses nothing; replays produce the same ids, which the
indexer writes idempotently.
"""

from __future__ import annotations

import logging
import os

import faust

from flowwatch.kafka_client import faust_broker, faust_credentials
from flowwatch.observability import logging_config, metrics_port, start_metrics_server
from flowwatch.settings import DETECTOR_APP_ID, DetectorSettings, topics
from flowwatch_detector import egress, fetch_backoff, incidents, metrics, pii_agent
from flowwatch_detector.gap_reader import install_seek_snapshot
from flowwatch_detector.loopmon import LoopMonitor, make_probe_task, stats_path

log = logging.getLogger("flowwatch.detector")

settings = DetectorSettings()
TOPICS = topics()
fetch_backoff.install(settings.empty_fetch_backoff)  # long-poll on the client when the broker does not
install_seek_snapshot()  # the committed offsets of each seek: the pii agent's ContiguityGuard checks against them

app = faust.App(
    DETECTOR_APP_ID,
    broker=faust_broker(settings),
    broker_credentials=faust_credentials(settings),  # SASL / TLS from FLOWWATCH_KAFKA_* (flowwatch.kafka_client)
    store=settings.faust_store,
    topic_partitions=TOPICS.partitions,
    topic_allow_declare=False,  # topics are created with their partition counts before workers start
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    broker_session_timeout=settings.session_timeout,
    broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
    broker_rebalance_timeout=settings.rebalance_timeout,
    consumer_group_instance_id=settings.instance_id,
    web_enabled=False,
    table_standby_replicas=0,  # a worker's tables hold only its active partitions (the deadline timer scans them)
    datadir=os.environ.get("FLOWWATCH_DETECTOR_DATADIR", "/tmp/flowwatch-detector"),
    logging_config=logging_config("detector"),  # FLOWWATCH_LOG_FORMAT=json (default): one JSON object per line
)

pii_agent.register(app, settings, TOPICS)
incidents.register(app, settings, TOPICS)
egress.register(app, settings, TOPICS)

# Event-loop lag and heartbeat monitor: one JSON log line every loop_stats_interval seconds; the same figures
# (plus the window's raw lag samples) are appended to FLOWWATCH_LOOP_STATS_FILE when it is set ("{instance}"
# in it becomes the instance id, for one file per worker).
monitor: LoopMonitor | None = None
if settings.loop_probe_interval > 0:
    monitor = LoopMonitor(
        probe_interval=settings.loop_probe_interval,
        report_interval=settings.loop_stats_interval,
        stats_file=stats_path(os.environ.get("FLOWWATCH_LOOP_STATS_FILE"), settings.instance_id),
        instance=settings.instance_id,
        heartbeat_interval=app.conf.broker_heartbeat_interval,
        session_timeout=app.conf.broker_session_timeout,
        sample_sink=metrics.observe_loop_lag,
    )
    # mode's SignalHandlerT alias rejects every handler under mypy (even a plain ``def f(sender, *a, **kw)``)
    app.on_partitions_revoked.connect(monitor.on_partitions_revoked)  # type: ignore[arg-type]
    app.on_partitions_assigned.connect(monitor.on_partitions_assigned)  # type: ignore[arg-type]
    app.task(make_probe_task(monitor, app))

CONSUMER_LAG_INTERVAL = 10.0
"""Seconds between updates of ``flowwatch_consumer_lag``."""

# Prometheus: /metrics on FLOWWATCH_METRICS_PORT (unset: no server) once the worker runs.
_metrics_port = metrics_port()
if _metrics_port is not None:
    port = _metrics_port

    @app.task
    async def serve_metrics() -> None:
        """Start the Prometheus HTTP server of this worker (a daemon thread)."""
        try:
            start_metrics_server(port)
        except OSError as exc:  # e.g. two local workers given one port: run without metrics, loudly
            log.error("cannot serve metrics on port %d: %s", port, exc)

    @app.timer(interval=CONSUMER_LAG_INTERVAL)
    async def consumer_lag() -> None:
        """Refresh ``flowwatch_consumer_lag`` of the partitions assigned to this worker."""
        metrics.update_consumer_lag(app.consumer)
