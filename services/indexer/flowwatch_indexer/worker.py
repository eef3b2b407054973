"""The indexer loop: poll a batch, bulk-index it, commit offsets only after Elasticsearch accepted it.

At-least-once with deterministic ids: a crash between the bulk and the commit re-indexes the same ids,
which changes nothing. Elasticsearch unavailable → exponential back-off; nothing is committed meanwhile.
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message
from elasticsearch import Elasticsearch
from elasticsearch import exceptions as es_exc

from flowwatch.es_indices import ensure_templates
from flowwatch.settings import IndexerSettings, topics
from flowwatch_indexer.documents import Action, BadRecord, dead_letter_action, finding_action

log = logging.getLogger("flowwatch.indexer")


class Indexer:
    """Consumes ``findings`` and ``flow-events-dlq`` and writes them to Elasticsearch in bulk."""

    def __init__(self, settings: IndexerSettings | None = None) -> None:
        self.settings = settings or IndexerSettings()
        self.topics = topics()
        s = self.settings
        auth = (s.es_username, s.es_password.get_secret_value()) if s.es_username and s.es_password else None
        self.es = Elasticsearch(s.es_url, basic_auth=auth, request_timeout=30)
        self.consumer = Consumer({
            "bootstrap.servers": s.kafka_bootstrap,
            "group.id": s.group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": False,
        })
        self.running = True
        self.indexed = 0

    def stop(self, *_: Any) -> None:
        """Finish the current batch and exit the loop."""
        self.running = False

    def run(self) -> None:
        """Poll-index-commit until stopped."""
        self._wait_for_es()
        ensure_templates(self.es, self.settings.es_index_prefix)
        self.consumer.subscribe([self.topics.findings, self.topics.dead_letters])
        log.info("indexer started", extra={"topics": [self.topics.findings, self.topics.dead_letters]})
        try:
            while self.running:
                messages = self.consumer.consume(self.settings.bulk_max_docs, self.settings.bulk_max_wait)
                if not messages:
                    continue
                actions = self._actions(messages)
                if actions:
                    self._bulk_with_retry(actions)
                self.consumer.commit(asynchronous=False)
                self.indexed += len(actions)
        finally:
            self.consumer.close()

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
                if msg.topic() == self.topics.dead_letters:
                    action = dead_letter_action(prefix, msg.headers(), msg.partition(), msg.offset())
                else:
                    action = finding_action(prefix, msg.value() or b"")
            except BadRecord as exc:
                # Output topics are written by our detector only; log loudly, keep the message on Kafka.
                log.error("skipping unreadable record %s[%d]@%d: %s",
                          msg.topic(), msg.partition(), msg.offset(), exc)
                continue
            actions[(action.index, action.id)] = action  # last write wins within a batch
        return list(actions.values())

    def _bulk_with_retry(self, actions: list[Action]) -> None:
        body: list[dict[str, Any]] = []
        for a in actions:
            body.append({"index": {"_index": a.index, "_id": a.id}})
            body.append(a.source)
        delay = 0.5
        while True:
            try:
                resp = self.es.bulk(operations=body, refresh=False)
                failed = [i for i in resp["items"] if i["index"].get("status", 500) >= 300]
                retryable = [i for i in failed if i["index"].get("status") in (429, 503, 500)]
                for item in failed:
                    if item not in retryable:
                        log.error("document rejected: %s", item["index"].get("error"))
                if not retryable:
                    return
                log.warning("%d documents to retry", len(retryable))
            except (es_exc.ConnectionError, es_exc.TransportError, es_exc.ApiError) as exc:
                log.warning("Elasticsearch unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            if not self.running:
                raise SystemExit(1)  # stop without committing: the batch is re-read on restart

    def _wait_for_es(self) -> None:
        delay = 0.5
        while self.running:
            try:
                if self.es.ping():
                    return
            except Exception:
                pass
            log.warning("waiting for Elasticsearch at %s", self.settings.es_url)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def main() -> None:
    """Run one indexer until SIGTERM/SIGINT."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    indexer = Indexer()
    signal.signal(signal.SIGTERM, indexer.stop)
    signal.signal(signal.SIGINT, indexer.stop)
    indexer.run()
