"""Client-side long polling for brokers that answer empty fetches at once.

A Kafka broker holds a fetch that finds no data for up to ``fetch.max.wait.ms`` (aiokafka under Faust:
1,500 ms) and answers as soon as data arrives. The embedded development engine noida-db answers an empty
fetch immediately instead, so an idle aiokafka consumer sends the next fetch at once and spins: measured
0.67 core for one idle consumer (noida-db 0.2.3, aiokafka 0.14, docs/engines.md). On a real Kafka cluster
nothing changes, because its fetches only come back early with data.

``install(backoff)`` wraps aiokafka's per-node fetch task: when a fetch brought nothing and came back
earlier than the fetch's own ``max_wait``, the task sleeps for the rest of the wait, capped at ``backoff``
seconds, before the fetcher may send the next one to that node. New data therefore waits at most
``backoff`` seconds longer than it would on a real broker; a partition's first data after a quiet spell
pays that once, a busy partition never does (its fetches return data).

This touches a private method of aiokafka (``Fetcher._proc_fetch_request``), so ``install`` checks that it
exists and refuses (returns False, logs a warning) otherwise; ``tests/unit/test_fetch_backoff.py`` pins the
behaviour against the installed aiokafka.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.consumer import fetcher as _fetcher

log = logging.getLogger("flowwatch.detector.fetch")

_ORIGINAL: Callable[..., Awaitable[bool]] | None = None
_BACKOFF = 0.0


async def _proc_fetch_request(self: Any, assignment: Any, node_id: int, request: Any) -> bool:
    """aiokafka's fetch task, then the rest of the long poll the broker did not do (see module doc)."""
    assert _ORIGINAL is not None
    loop = asyncio.get_running_loop()
    started = loop.time()
    has_data = await _ORIGINAL(self, assignment, node_id, request)
    if not has_data and _BACKOFF > 0:
        max_wait = getattr(request, "_max_wait_ms", None)
        max_wait_s = (max_wait / 1000.0) if isinstance(max_wait, int | float) else _BACKOFF
        rest = min(_BACKOFF, max_wait_s - (loop.time() - started))
        if rest > 0:
            try:
                await asyncio.sleep(rest)
            except asyncio.CancelledError:  # close() or unassignment, as in aiokafka's own task
                return False
    return has_data


def install(backoff: float) -> bool:
    """Make aiokafka consumers of this process wait up to ``backoff`` seconds after an early empty fetch.

    ``backoff``: seconds (0 turns it off: aiokafka's own behaviour). Idempotent; a later call changes the
    cap. Returns False, without changing anything, when the installed aiokafka has no such fetch task.
    """
    global _ORIGINAL, _BACKOFF
    fetcher_cls = getattr(_fetcher, "Fetcher", None)
    current = getattr(fetcher_cls, "_proc_fetch_request", None)
    if fetcher_cls is None or current is None:
        log.warning("aiokafka has no Fetcher._proc_fetch_request: empty-fetch backoff not installed")
        return False
    _BACKOFF = max(0.0, backoff)
    if _ORIGINAL is None:
        _ORIGINAL = current
        fetcher_cls._proc_fetch_request = _proc_fetch_request
    return True


def installed_backoff() -> float:
    """The cap in force (seconds); 0.0 when not installed or off."""
    return _BACKOFF if _ORIGINAL is not None else 0.0
