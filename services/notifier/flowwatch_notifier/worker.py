"""The notifier: consumes the ``alerts`` topic and delivers one notification per alert and route.

Every alert message — a new alert, a repeated occurrence of one, an escalation (an obligation turning
overdue is its own alert) or a replay of any of these — is matched against the enabled routes (reloaded from
Elasticsearch every ``routes_refresh`` seconds). For each match the notification id
(``models.notification_id``: route, alert, severity) is claimed in ``<prefix>-notifications`` before the first
try, so only the first message of an alert at a severity notifies; replays and repeated occurrences find the
claim and send nothing. Deliveries of one batch run in a small thread pool; offsets are committed after the
whole batch was handled (at-least-once input, effects deduplicated by the claim).

An unreadable alert message is never dropped: it becomes a ``DeadLetter`` record (reason ``invalid_alert``,
the error, and as pointer the message's own topic/partition/offset, where the original stays) in
``<prefix>-deadletters``, visible in ``GET /v1/dead-letters``. A notification whose last try failed is kept
as ``dead_lettered`` with its attempts and the alert (``GET /v1/notifications?state=dead_lettered``).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from elasticsearch import Elasticsearch
from prometheus_client import Counter, Histogram
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from flowwatch.alert_texts import localized
from flowwatch.alerts import Alert
from flowwatch.es_indices import dead_letters_index
from flowwatch.ids import dead_letter_id
from flowwatch.kafka_client import confluent_config
from flowwatch.kafka_idle import IdleFetchGuard
from flowwatch.models import DeadLetter
from flowwatch.notifications import store
from flowwatch.notifications.models import Notification, Route, notification_id
from flowwatch.observability import metrics_port, setup_logging, start_metrics_server
from flowwatch.settings import ElasticsearchSettings, KafkaSettings, topics
from flowwatch_notifier.delivery import RetryPolicy, deliver

log = logging.getLogger("flowwatch_notifier")
NOTIFICATIONS = Counter("flowwatch_notifications_total",
                        "Notifications by channel kind and outcome (delivered, dead_lettered, duplicate).",
                        ["channel", "outcome"])
DELIVERY_SECONDS = Histogram("flowwatch_notification_delivery_seconds",
                             "Time from claim to final state of one notification, tries and back-off included.",
                             ["channel"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
RETRY_PAUSE = 2.0
"""Seconds between retries of a message whose handling failed (Elasticsearch unreachable)."""


class NotifierSettings(KafkaSettings, ElasticsearchSettings):
    """Notifier settings (``FLOWWATCH_NOTIFY_*`` besides the Kafka and Elasticsearch ones)."""

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="ignore")

    notify_group_id: str = "flowwatch-notifier"
    notify_attempts: int = Field(default=5, ge=1, le=20, description="Tries per notification.")
    notify_backoff: float = Field(default=1.0, ge=0, description="Seconds before the 2nd try; doubles after.")
    notify_max_backoff: float = Field(default=60.0, ge=0)
    notify_timeout: float = Field(default=10.0, gt=0, description="Seconds per HTTP or SMTP try.")
    notify_routes_refresh: float = Field(default=5.0, ge=0, description="Seconds a loaded route list is reused.")
    notify_concurrency: int = Field(default=8, ge=1, le=64)


class Notifier:
    """Route matching, claiming and delivery (``handle``) and the consume loop (``run``)."""

    def __init__(self, settings: NotifierSettings | None = None, es: Elasticsearch | None = None) -> None:
        self.settings = settings or NotifierSettings()
        s = self.settings
        self.prefix = s.es_index_prefix
        self.es = es or Elasticsearch(s.es_url, request_timeout=30)
        self.policy = RetryPolicy(attempts=s.notify_attempts, base=s.notify_backoff, max_delay=s.notify_max_backoff,
                                  timeout=s.notify_timeout)
        self.client = httpx.Client(follow_redirects=False)
        self.pool = ThreadPoolExecutor(max_workers=s.notify_concurrency, thread_name_prefix="notify")
        self._routes: list[Route] = []
        self._routes_at = float("-inf")
        self._stop = threading.Event()
        store.ensure_indices(self.es, self.prefix)

    def routes(self) -> list[Route]:
        """The enabled routes (cached ``notify_routes_refresh`` seconds)."""
        if time.monotonic() - self._routes_at >= self.settings.notify_routes_refresh:
            self._routes = [r for r in store.load_routes(self.es, self.prefix) if r.enabled]
            self._routes_at = time.monotonic()
        return self._routes

    def notify(self, route: Route, alert: Alert, raw: dict[str, Any]) -> str:
        """Claim and deliver the notification of ``alert`` over ``route``. Returns ``delivered``,
        ``dead_lettered`` or ``duplicate`` (already claimed: nothing sent)."""
        nid = notification_id(route.route_id, alert.alert_id, str(alert.severity))
        texts = localized(alert)
        now = datetime.now(UTC)
        record = Notification(notification_id=nid, route_id=route.route_id, channel_kind=route.channel.kind,
                              alert_id=alert.alert_id, alert_type=alert.type, severity=alert.severity,
                              processor_id=alert.processor_id, incident_id=alert.incident_id,
                              title=texts["en"].title, title_zh=texts["zh"].title, state="sending",
                              created_at=now, updated_at=now, alert=raw)
        if not store.claim(self.es, self.prefix, record):
            NOTIFICATIONS.labels(channel=route.channel.kind, outcome="duplicate").inc()
            return "duplicate"
        started = time.monotonic()
        ok, attempts = deliver(route, alert, texts, nid, self.client, self.policy)
        DELIVERY_SECONDS.labels(channel=route.channel.kind).observe(time.monotonic() - started)
        final = record.model_copy(update={
            "state": "delivered" if ok else "dead_lettered", "attempts": attempts, "updated_at": datetime.now(UTC),
            "last_error": None if ok else attempts[-1].error})
        store.finish(self.es, self.prefix, final)
        NOTIFICATIONS.labels(channel=route.channel.kind, outcome=final.state).inc()
        if ok:
            log.info("notified %s over %s (%s)", alert.alert_id, route.route_id, route.channel.kind,
                     extra={"processor_id": alert.processor_id})
        else:
            log.warning("notification %s dead-lettered after %d tries: %s", nid, len(attempts), final.last_error,
                        extra={"processor_id": alert.processor_id, "reason": "delivery_failed"})
        return final.state

    def handle(self, alert: Alert, raw: dict[str, Any]) -> dict[str, str]:
        """Notify every matching route of ``alert`` concurrently. Returns route id → outcome."""
        matching = [r for r in self.routes() if r.match.matches(alert)]
        futures = {r.route_id: self.pool.submit(self.notify, r, alert, raw) for r in matching}
        return {rid: f.result() for rid, f in futures.items()}

    def dead_letter(self, msg: Message, reason: str, error: str) -> None:
        """Keep an unreadable alert message as a dead letter pointing at its own position."""
        value = msg.value() or b""
        record = DeadLetter(dead_letter_id=dead_letter_id(value), reason=reason, error=error[:2000],
                            size_bytes=len(value), source_topic=msg.topic() or "", source_partition=msg.partition()
                            or 0, source_offset=msg.offset() or 0, dlq_topic=msg.topic() or "",
                            dlq_partition=msg.partition(), dlq_offset=msg.offset(), received_at=datetime.now(UTC))
        self.es.index(index=dead_letters_index(self.prefix), id=record.dead_letter_id,
                      document=record.model_dump(mode="json"), refresh="wait_for")
        log.warning("unreadable alert dead-lettered: %s", error, extra={"reason": reason})

    def handle_message(self, msg: Message) -> dict[str, str]:
        """Parse and handle one alerts-topic message (bad input → dead letter)."""
        try:
            alert = Alert.model_validate_json(msg.value() or b"")
        except ValidationError as exc:
            self.dead_letter(msg, "invalid_alert", "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in exc.errors()[:5]))
            return {}
        return self.handle(alert, alert.model_dump(mode="json"))

    def _handle_until_done(self, msg: Message) -> None:
        """``handle_message``, retried every ``RETRY_PAUSE`` seconds while Elasticsearch (the claims) fails, so
        an outage delays notifications but loses none; returns early only when asked to stop (the offset is
        then not committed and the message is handled again after the restart)."""
        while True:
            try:
                self.handle_message(msg)
                return
            except Exception:
                log.exception("handling an alert failed; retrying in %.0f s", RETRY_PAUSE)
                if self._stop.wait(RETRY_PAUSE):
                    raise

    def stop(self, *_: Any) -> None:
        """Ask ``run`` to return after the current batch."""
        self._stop.set()

    @staticmethod
    def _commit(consumer: Consumer) -> bool:
        """Commit the consumer's position; False (logged) when the broker refuses it because the group moved on
        under us (a broker restart or a rebalance: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, REBALANCE_IN_PROGRESS,
        transport errors). The batch then comes again to whoever owns its partitions after the rejoin, and its
        notifications are not sent twice (``notification_id`` claims, ``store.claim``). Before this, the
        exception ended the notifier during a broker restart (``bench/chaos.py`` broker-restart)."""
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed, the batch will be delivered again: %s", exc)
            return False
        return True

    def run(self, topic: str | None = None) -> None:
        """Consume ``topic`` (default: the alerts topic) until ``stop``; commit after each handled batch."""
        s = self.settings
        consumer = Consumer(confluent_config(s, **{"group.id": s.notify_group_id, "enable.auto.commit": False,
                                                   "auto.offset.reset": "earliest"}))
        # a caught-up consumer is paused and probed instead of fetching empty batches (flowwatch.kafka_idle)
        fetch = IdleFetchGuard(consumer, probe_interval=s.kafka_idle_probe or 1.0, enabled=s.kafka_idle_probe > 0)
        consumer.subscribe([topic or topics().alerts])
        log.info("notifier consuming %s", topic or topics().alerts)
        try:
            while not self._stop.is_set():
                batch = fetch.consume(200, 1.0)
                handled = False
                for msg in batch:
                    error = msg.error()
                    if error is not None:
                        if error.code() != KafkaError._PARTITION_EOF:
                            log.warning("consumer error: %s", error)
                        continue
                    self._handle_until_done(msg)
                    handled = True
                if handled:
                    self._commit(consumer)
        finally:
            consumer.close()
            self.pool.shutdown(wait=True)
            self.client.close()


def main() -> None:
    """Run one notifier until SIGTERM/SIGINT."""
    setup_logging("notifier")
    notifier = Notifier()
    port = metrics_port()
    if port is not None:
        start_metrics_server(port)
        log.info("metrics on port %d", port)
    signal.signal(signal.SIGTERM, notifier.stop)
    signal.signal(signal.SIGINT, notifier.stop)
    notifier.run()
