"""Fixtures that start the real pipeline (embedded engines + services) in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from flowwatch.stack import Stack


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
