"""The indexer loop: poll a batch, bulk-index it, commit its offsets only after Elasticsearch accepted it.

One bulk request is in flight (in a helper thread) while the next batch is consumed, so Elasticsearch is
never idle waiting for Kafka. Offsets are committed explicitly per batch, after its bulk succeeded.
At-least-once with deterministic ids: a crash between the bulk and the commit re-indexes the same ids,
which changes nothing. Elasticsearch unavailable → exponential back-off; nothing is committed meanwhile.

Topics: findings, dead letters, incidents, alerts, the export ledger and the processor registry. Incident
and ledger records carry an external version (their ``updated_at``): a stale one (replayed, or older than
the stored state) is answered 409 by Elasticsearch, which the indexer counts as done (``stale``), not as a
failure. Registry records are indexed by their key; a tombstone deletes (an already missing document is
not a failure).

Observability: Prometheus metrics (``flowwatch_indexer.metrics``) and ``/readyz`` on ``FLOWWATCH_METRICS_PORT``
when it is set; ready while a Kafka metadata request and an Elasticsearch request succeeded within the last
``READY_MAX_AGE`` seconds (checked every ``OBSERVE_INTERVAL`` s between batches, and by every bulk request).
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from elasticsearch import exceptions as es_exc

from flowwatch.es_client import ElasticsearchConfigError, check_es, make_es
from flowwatch.es_indices import ensure_templates
from flowwatch.kafka_client import confluent_config, security_problem, settings_problem
from flowwatch.kafka_idle import IdleFetchGuard
from flowwatch.observability import Readiness, metrics_port, setup_logging, start_metrics_server
from flowwatch.settings import IndexerSettings, topics
from flowwatch_indexer import metrics
from flowwatch_indexer.documents import (
    Action,
    BadRecord,
    alert_action,
    dead_letter_action,
    finding_action,
    incident_action,
    ledger_action,
    registry_action,
)

log = logging.getLogger("flowwatch.indexer")

OBSERVE_INTERVAL = 10.0
"""Seconds between consumer-lag and dependency checks (between batches)."""
READY_MAX_AGE = 3 * OBSERVE_INTERVAL
"""/readyz: not ready when a dependency check is older than this (seconds) or failed."""


class Indexer:
    """Consumes ``findings``, ``flow-events-dlq``, ``incidents``, ``alerts``, ``export-ledger`` and
    ``processor-registry`` and writes them to Elasticsearch in bulk."""

    def __init__(self, settings: IndexerSettings | None = None) -> None:
        self.settings = settings or IndexerSettings()
        self.topics = topics()
        s = self.settings
        self.es = make_es(s, request_timeout=30)
        self.consumer = Consumer(confluent_config(s, **{
            "group.id": s.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        }))
        # a caught-up consumer is paused and probed instead of fetching empty batches (flowwatch.kafka_idle)
        self.fetch = IdleFetchGuard(self.consumer, probe_interval=s.kafka_idle_probe or 1.0,
                                    enabled=s.kafka_idle_probe > 0)
        self.running = True
        self.readiness = Readiness(("kafka", "elasticsearch"), max_age=READY_MAX_AGE)
        self._observed_at = float("-inf")
        self.indexed = 0
        self.stale = 0
        t = self.topics
        self.subscribed = [t.findings, t.dead_letters, t.incidents, t.alerts, t.export_ledger, t.registry]
        self._by_value: dict[str, Callable[[str, bytes], Action]] = {
            t.findings: partial(finding_action, partition=s.findings_partition),
            t.incidents: incident_action, t.alerts: alert_action,
            t.export_ledger: ledger_action,
        }

    def stop(self, *_: Any) -> None:
        """Finish the current batch and exit the loop."""
        self.running = False

    def run(self) -> None:
        """Poll-index-commit until stopped."""
        self._wait_for_es()
        ensure_templates(self.es, self.settings.es_index_prefix)
        self.consumer.subscribe(self.subscribed)
        log.info("indexer started", extra={"topics": self.subscribed})
        inflight: tuple[Future[None], list[TopicPartition], int] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="bulk") as pool:
            try:
                while self.running:
                    messages = self.fetch.consume(self.settings.bulk_max_docs, self.settings.bulk_max_wait)
                    if time.monotonic() - self._observed_at >= OBSERVE_INTERVAL:
                        self.observe()
                    if not messages and inflight is None:
                        continue
                    actions, offsets = self._actions(messages), _next_offsets(messages)
                    if inflight is not None:
                        self._finish(inflight)
                        inflight = None
                    if offsets:
                        inflight = (pool.submit(self._bulk_with_retry, actions), offsets, len(actions))
                if inflight is not None:
                    self._finish(inflight)
            finally:
                self.consumer.close()

    def observe(self) -> None:
        """Check Kafka (metadata, consumer lag) and Elasticsearch (ping): metrics and readiness."""
        self._observed_at = time.monotonic()
        try:
            self.consumer.list_topics(timeout=2.0)
            metrics.update_consumer_lag(self.consumer)
            kafka_ok = True
        except KafkaException as exc:
            log.warning("Kafka metadata request failed: %s", exc)
            kafka_ok = False
        self.readiness.mark("kafka", kafka_ok)
        metrics.KAFKA_UP.set(1 if kafka_ok else 0)
        self._mark_es(self._ping())

    def _ping(self) -> bool:
        try:
            return bool(self.es.options(request_timeout=2.0, max_retries=0).ping())
        except Exception:
            return False

    def _mark_es(self, ok: bool) -> None:
        self.readiness.mark("elasticsearch", ok)
        metrics.ES_UP.set(1 if ok else 0)

    def _finish(self, inflight: tuple[Future[None], list[TopicPartition], int]) -> None:
        """Wait for a bulk request, then commit the offsets of the messages it covered."""
        future, offsets, count = inflight
        future.result()  # raises (SystemExit on stop during an outage): nothing is committed then
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # the broker restarted or the group rebalanced under us (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
            # REBALANCE_IN_PROGRESS, transport errors): the documents are indexed, the offsets are not
            # committed, so the messages come again after the rejoin and are re-indexed by id (no duplicate).
            # Before this, the exception ended the indexer for good (issue 17 point 1).
            log.warning("offset commit failed, messages will be delivered again: %s", exc)
            metrics.COMMIT_FAILURES.inc()
        self.indexed += count

    def _actions(self, messages: list[Message]) -> list[Action]:
        actions: dict[tuple[str, str], Action] = {}
        prefix = self.settings.es_index_prefix
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer error: %s", err)
                continue
            try:
                topic = msg.topic() or ""
                if topic == self.topics.dead_letters:
                    action = dead_letter_action(prefix, msg.headers(), msg.partition() or 0, msg.offset() or 0)
                elif topic == self.topics.registry:
                    action = registry_action(prefix, msg.key(), msg.value())
                elif topic in self._by_value:
                    action = self._by_value[topic](prefix, msg.value() or b"")
                else:
                    raise BadRecord(f"message of unexpected topic {topic!r}")
            except BadRecord as exc:
                # Output topics are written by our detector only; log loudly, keep the message on Kafka.
                log.error("skipping unreadable record %s[%d]@%d: %s",
                          msg.topic(), msg.partition(), msg.offset(), exc)
                continue
            key = (action.index, action.id)
            previous = actions.get(key)
            if previous is None or action.supersedes(previous):
                actions[key] = action  # last write wins within a batch; for versioned records, the newest
        return list(actions.values())

    def _bulk_with_retry(self, actions: list[Action]) -> None:
        if not actions:
            return
        body = b"".join(a.ndjson() for a in actions)
        delay = 0.5
        while True:
            try:
                # NDJSON bytes are sent as they are (the client's type hints only name the list form)
                with metrics.BULK_SECONDS.time():
                    resp = self.es.bulk(operations=body, refresh=False)  # type: ignore[arg-type]
                self._mark_es(True)
                results = [_result(i) for i in resp["items"] if not _already_deleted(i)]
                failed = [r for r in results if r.get("status", 500) >= 300]
                stale = [r for r in failed if _is_stale(r)]
                failed = [r for r in failed if not _is_stale(r)]
                # a fold (update) still conflicting after its retries on conflict is tried again
                retryable = [r for r in failed if r.get("status") in (429, 503, 500)
                             or (r.get("status") == 409 and r.get("_op") == "update")]
                rejected = [item for item in failed if item not in retryable]
                for item in rejected:
                    log.error("document rejected: %s", item.get("error"))
                if rejected:
                    metrics.BULK_FAILURES.labels(reason="rejected").inc()
                if not retryable:
                    if stale:  # a newer state of these records is already indexed: nothing to do
                        self.stale += len(stale)
                        metrics.STALE.inc(len(stale))
                        log.info("%d stale records skipped (a newer state is indexed)", len(stale))
                    metrics.count_documents(self.settings.es_index_prefix, (a.index for a in actions))
                    return
                metrics.BULK_FAILURES.labels(reason="retryable").inc()
                log.warning("%d documents to retry", len(retryable))
            except (es_exc.ConnectionError, es_exc.TransportError, es_exc.ApiError) as exc:
                metrics.BULK_FAILURES.labels(reason="unavailable").inc()
                self._mark_es(False)
                log.warning("Elasticsearch unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
            metrics.BULK_RETRIES.inc()
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            if not self.running:
                raise SystemExit(1)  # stop without committing: the batch is re-read on restart

    def _wait_for_es(self) -> None:
        delay = 0.5
        while self.running:
            ok = self._ping()
            self._mark_es(ok)
            if ok:
                return
            try:  # says what to fix on 401/403/TLS errors
                check_es(self.es, self.settings)
                problem = "not ready"
            except ElasticsearchConfigError as exc:
                problem = str(exc)
            log.warning("waiting for Elasticsearch at %s: %s", self.settings.es_url, problem)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def _result(item: dict[str, Any]) -> dict[str, Any]:
    """The result of one bulk item, whatever its operation (``{"index": {...}}`` or ``{"delete": {...}}``)."""
    op, result = next(iter(item.items()), (None, None))
    return {**result, "_op": op} if isinstance(result, dict) else {}


def _already_deleted(item: dict[str, Any]) -> bool:
    """A delete of a document (or index) that is not there, e.g. a replayed tombstone: nothing to do."""
    result = item.get("delete")
    return isinstance(result, dict) and result.get("status") == 404


def _is_stale(item: dict[str, Any]) -> bool:
    """A bulk item refused because the stored document has a higher external version (409)."""
    error = item.get("error")
    kind = error.get("type") if isinstance(error, dict) else None
    return item.get("status") == 409 and kind == "version_conflict_engine_exception" and item.get("_op") == "index"


def _next_offsets(messages: list[Message]) -> list[TopicPartition]:
    """Per topic-partition, the offset after the last consumed message (what to commit)."""
    last: dict[tuple[str, int], int] = {}
    for msg in messages:
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        if msg.error() is None and topic is not None and partition is not None and offset is not None:
            last[(topic, partition)] = max(last.get((topic, partition), -1), offset)
    return [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]


def main() -> None:
    """Run one indexer until SIGTERM/SIGINT."""
    setup_logging("indexer")  # FLOWWATCH_LOG_FORMAT: json (default) or text
    settings, problem = settings_problem(IndexerSettings)
    problem = problem or (security_problem(settings) if settings is not None else None)
    if problem:  # settings that cannot work, or refused credentials/TLS: one line, exit 2 (no traceback)
        log.error("%s", problem)
        raise SystemExit(2)
    indexer = Indexer(settings)
    port = metrics_port()
    if port is not None:
        start_metrics_server(port, readiness=indexer.readiness)
        log.info("metrics and /readyz on port %d", port)
    signal.signal(signal.SIGTERM, indexer.stop)
    signal.signal(signal.SIGINT, indexer.stop)
    indexer.run()
