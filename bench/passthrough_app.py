"""Baseline for `make bench`: a Faust agent that forwards raw events unchanged, batched and acknowledged
exactly like the detector's pii agent (take_events, force-send, await delivery). Same broker, same
partitions, same worker count, and the same client-side long poll as the detector
(``flowwatch_detector.fetch_backoff``, FLOWWATCH_EMPTY_FETCH_BACKOFF): the ratio to it isolates what
Flowwatch's own work costs."""

from __future__ import annotations

import asyncio
import os

import faust

from flowwatch.kafka_client import faust_broker, faust_credentials
from flowwatch.settings import KafkaSettings
from flowwatch_detector import fetch_backoff

BOOTSTRAP = os.environ["FLOWWATCH_KAFKA_BOOTSTRAP"]
KAFKA = KafkaSettings(kafka_bootstrap=BOOTSTRAP)
PARTITIONS = int(os.environ.get("FLOWWATCH_TOPIC_PARTITIONS", "4"))
fetch_backoff.install(float(os.environ.get("FLOWWATCH_EMPTY_FETCH_BACKOFF", "0.05")))

app = faust.App(
    "flowwatch-bench-passthrough",
    broker=faust_broker(KAFKA),
    broker_credentials=faust_credentials(KAFKA),  # the detector's client configuration, for a fair baseline
    store="memory://",
    topic_partitions=PARTITIONS,
    topic_allow_declare=False,
    consumer_auto_offset_reset="earliest",
    producer_acks=-1,
    web_enabled=False,
    consumer_group_instance_id=os.environ.get("FLOWWATCH_INSTANCE_ID"),
    datadir=os.environ.get("FLOWWATCH_DETECTOR_DATADIR", "/tmp/flowwatch-bench"),
)
source = app.topic("bench-in", key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)
sink = app.topic("bench-out", key_serializer="raw", value_serializer="raw", partitions=PARTITIONS)


@app.agent(source)
async def passthrough(stream: faust.StreamT) -> None:
    """Forward every event; ack a batch after the broker acknowledged its outputs."""
    async for events in stream.take_events(500, within=0.2):
        futs = [await sink.send(key=e.message.key, value=e.message.value, force=True) for e in events]
        await asyncio.gather(*futs)


if __name__ == "__main__":
    app.main()
