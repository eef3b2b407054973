"""Fixtures that start the real pipeline (embedded engines + services) in a temporary folder."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from flowwatch.es_indices import ensure_templates
from flowwatch_tools.engines import Engine, start_noida
from flowwatch_tools.replay import Expected, produce
from flowwatch_tools.stack import Stack


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """Factory: ``make_stack(broker="noida", workers=2)`` → a started Stack; all stopped at teardown."""
    stacks: list[Stack] = []

    def factory(broker: str = "noida", workers: int = 2, api: bool = True, **kw: object) -> Stack:
        stack = Stack(home=tmp_path / f"stack-{len(stacks)}", workers=workers, broker=broker, api=api, **kw)
        stacks.append(stack)
        stack.up()
        return stack

    yield factory
    for stack in stacks:
        logs = {name: Path(c.log) for name, c in stack.state.components.items()}
        stack.down()
        for name, log in logs.items():  # keep service logs as test artifacts
            if log.exists():
                dest = Path("test-artifacts") / tmp_path.name / f"{name}.log"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(log.read_bytes()[-200_000:])


def es_of(stack: Stack) -> Elasticsearch:
    """Elasticsearch client of a stack."""
    return Elasticsearch(stack.state.es_url, request_timeout=30)


class PacedProducer(threading.Thread):
    """Produces ``raws`` to ``topic`` in the background at ``rate`` events/s (a tenth of a second at a time),
    so a stream is still flowing when a test kills something; ``expected`` collects what was produced."""

    def __init__(self, bootstrap: str, topic: str, raws: list[bytes], rate: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.raws, self.step = bootstrap, topic, raws, max(1, rate // 10)
        self.expected: list[Expected] = []

    def run(self) -> None:
        for i in range(0, len(self.raws), self.step):
            self.expected.extend(produce(self.bootstrap, self.topic, self.raws[i : i + self.step]))
            time.sleep(0.1)


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def indexed(es: Elasticsearch, index: str, size: int = 100) -> list[dict[str, Any]]:
    """The ``_source`` of up to ``size`` documents of ``index`` after a refresh; [] while it does not exist."""
    try:
        es.indices.refresh(index=index)
        return [h["_source"] for h in es.search(index=index, size=size)["hits"]["hits"]]
    except Exception:  # not created yet
        return []


def produce_keyed(bootstrap: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
    """Produce ``(key, value)`` records and wait for every acknowledgement."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    errors: list[Any] = []
    for key, value in records:
        producer.produce(topic, value=value, key=key, on_delivery=lambda err, _m: errors.append(err) if err else None)
    assert producer.flush(30) == 0 and not errors, errors


@dataclass
class NoidaIndex:
    """A running noida-db (Kafka and Elasticsearch in one process) with a fresh index prefix whose index
    templates are in place: what the API-level test modules start from."""

    engine: Engine
    es: Elasticsearch
    prefix: str


@pytest.fixture(scope="module")
def noida_es(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NoidaIndex]:
    """One noida-db per test module, its ES client and an index prefix named after the module
    (``fw<module>…``) with the index templates put; stopped after the module."""
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "")
    engine = start_noida(tmp_path_factory.mktemp(f"noida-{module}") / "data")
    assert engine.es_url is not None and engine.kafka_bootstrap
    es = Elasticsearch(engine.es_url, request_timeout=30)
    try:
        prefix = f"fw{module[:12]}{uuid.uuid4().hex[:8]}"
        ensure_templates(es, prefix)
        yield NoidaIndex(engine, es, prefix)
    finally:
        es.close()
        engine.stop()


@pytest.fixture
def noida(tmp_path: Path) -> Iterator[Engine]:
    """A noida-db of its own for one test (its data in the test's folder), stopped after it."""
    engine = start_noida(tmp_path / "noida" / "data")
    yield engine
    engine.stop()
