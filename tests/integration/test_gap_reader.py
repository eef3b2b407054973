"""``flowwatch_detector.gap_reader.read_range`` against the embedded noida-db: it returns exactly the records
of the asked offsets, in order, with keys and values, and gives up with ``TimeoutError`` when the range lies
beyond the end of the partition (the egress agent then retries its batch); ``read_holes`` keeps only the
records of the holes it was given; the tools' ``replay.read_topic`` reads a whole topic back."""

from __future__ import annotations

import asyncio

import pytest

from flowwatch.cluster import ensure_topics
from flowwatch.settings import KafkaSettings
from flowwatch_detector import metrics
from flowwatch_detector.gap_reader import read_holes, read_range, read_skipped
from flowwatch_tools.engines import Engine
from flowwatch_tools.replay import read_topic
from tests.integration.conftest import produce_keyed

pytestmark = pytest.mark.integration


@pytest.fixture
def noida(noida: Engine) -> Engine:
    """The conftest's noida-db with this module's topics."""
    ensure_topics(noida.kafka_bootstrap, {"g": 1})
    return noida


def test_reads_exactly_the_asked_offsets(noida: Engine) -> None:
    produce_keyed(noida.kafka_bootstrap, "g", [(f"k{i}".encode(), f"v{i}".encode()) for i in range(50)])
    settings = KafkaSettings(kafka_bootstrap=noida.kafka_bootstrap)

    middle = read_range(settings, "g", 0, 10, 20)
    assert [e.message.offset for e in middle] == list(range(10, 20))
    assert [(e.key, e.value) for e in middle] == [(f"k{i}".encode(), f"v{i}".encode()) for i in range(10, 20)]
    assert [e.message.offset for e in read_range(settings, "g", 0, 45, 50)] == list(range(45, 50))
    assert read_range(settings, "g", 0, 7, 7) == []

    counted = metrics.GAP_RECORDS.labels(topic="g")._value.get()
    skipped = asyncio.run(read_skipped(settings, "g", 0, 30, 33))  # what an agent calls: a thread, counted
    assert [e.message.offset for e in skipped] == [30, 31, 32]
    assert metrics.GAP_RECORDS.labels(topic="g")._value.get() == counted + 3

    holes = asyncio.run(read_holes(settings, "g", 0, [(12, 13), (15, 18), (40, 41)]))  # one read, the holes kept
    assert [(e.message.offset, e.value) for e in holes] == [(o, f"v{o}".encode()) for o in (12, 15, 16, 17, 40)]
    assert metrics.GAP_RECORDS.labels(topic="g")._value.get() == counted + 8
    assert asyncio.run(read_holes(settings, "g", 0, [])) == []


def test_gives_up_on_a_range_past_the_end(noida: Engine) -> None:
    produce_keyed(noida.kafka_bootstrap, "g", [(b"k", b"v")] * 5)
    with pytest.raises(TimeoutError, match="not done"):
        read_range(KafkaSettings(kafka_bootstrap=noida.kafka_bootstrap), "g", 0, 3, 9, timeout=3)


def test_read_topic_reads_back_every_record_of_every_partition(noida: Engine) -> None:
    ensure_topics(noida.kafka_bootstrap, {"back": 3})
    records = [(f"k{i % 5}".encode(), f"v{i}".encode()) for i in range(40)]
    produce_keyed(noida.kafka_bootstrap, "back", records)
    got = read_topic(noida.kafka_bootstrap, "back", 3)
    assert sorted(v for _, _, v in got) == sorted(v for _, v in records)
    by_partition: dict[int, list[int]] = {}
    for partition, offset, _ in got:
        by_partition.setdefault(partition, []).append(offset)
    assert len(by_partition) > 1 and all(offs == list(range(len(offs))) for offs in by_partition.values())
