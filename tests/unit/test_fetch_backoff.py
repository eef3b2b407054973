"""The client-side long poll wraps aiokafka's per-node fetch task: after an empty fetch that came back early
it waits out the rest of the fetch's max wait (capped), after a fetch with data it does not wait."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka.consumer import fetcher

from flowwatch_detector import fetch_backoff


class _Request:
    def __init__(self, max_wait_ms: int) -> None:
        self._max_wait_ms = max_wait_ms


@pytest.fixture
def fake_fetch(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """aiokafka's fetch task replaced by one that answers at once with or without data."""
    state: dict[str, Any] = {"data": False}

    async def original(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
        return bool(state["data"])

    monkeypatch.setattr(fetcher.Fetcher, "_proc_fetch_request", original)
    monkeypatch.setattr(fetch_backoff, "_ORIGINAL", None)
    assert fetch_backoff.install(0.2)
    yield state
    fetch_backoff.install(0.0)
    monkeypatch.setattr(fetch_backoff, "_ORIGINAL", None)


def _timed(max_wait_ms: int) -> tuple[bool, float]:
    async def run() -> tuple[bool, float]:
        t0 = time.monotonic()
        got = await fetcher.Fetcher._proc_fetch_request(object(), None, 1, _Request(max_wait_ms))  # type: ignore[arg-type]
        return got, time.monotonic() - t0
    return asyncio.run(run())


def test_empty_early_fetch_waits_up_to_the_cap(fake_fetch: dict[str, Any]) -> None:
    got, took = _timed(1500)
    assert got is False and 0.18 <= took < 0.6


def test_wait_never_exceeds_the_fetch_max_wait(fake_fetch: dict[str, Any]) -> None:
    got, took = _timed(50)
    assert got is False and 0.03 <= took < 0.15


def test_fetch_with_data_returns_at_once(fake_fetch: dict[str, Any]) -> None:
    fake_fetch["data"] = True
    got, took = _timed(1500)
    assert got is True and took < 0.05


def test_off_means_aiokafka_behaviour(fake_fetch: dict[str, Any]) -> None:
    fetch_backoff.install(0.0)
    assert fetch_backoff.installed_backoff() == 0.0
    got, took = _timed(1500)
    assert got is False and took < 0.05
