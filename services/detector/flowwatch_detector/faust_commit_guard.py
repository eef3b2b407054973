"""Never commit an input offset past a message that is still being processed.

faust-streaming's ``Consumer._new_offset`` (0.15.3) finds the offset to commit from the acknowledged offsets
of a partition. Its guard against a hole at the head of that list only holds back when the hole is larger
than one message (``min(acked) - committed > 1``), and it skips the guard when the committed offset is 0.
When the one message at the committed head is still in flight — a take_events batch being applied — and
later offsets are acknowledged, Faust commits over it, and a SIGKILL then loses it: the restarted worker
resumes after it (faust-streaming issue #606, fix proposed in PR #707). Flowwatch's source topics
(``flow-events``, ``incident-updates``, ``export-updates``) are neither compacted nor written by
transactional producers, so a real hole at the head (an offset without a message) does not occur; where one
would, Faust's own gap tracking (``Consumer._gap``) fills it before this check.

``install()`` wraps ``_new_offset``: when offsets are acknowledged but the smallest is beyond the committed
offset, nothing is committed for that partition until the head is acknowledged too. It touches a private
method, so it checks that the method exists and refuses (returns False, logs a warning) otherwise;
``tests/unit/test_faust_commit_guard.py`` pins the behaviour against the installed Faust.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faust.transport import consumer as _consumer

log = logging.getLogger("flowwatch.detector.commit")

_ORIGINAL: Callable[[Any, Any], int | None] | None = None


def _new_offset(self: Any, tp: Any) -> int | None:
    """Faust's ``_new_offset``, but ``None`` while the message at the committed head is not acknowledged."""
    assert _ORIGINAL is not None
    acked = self._acked[tp]
    committed = self._committed_offset[tp]
    if acked and committed is not None:
        gaps = self._gap.get(tp) if hasattr(self._gap, "get") else None
        head_is_gap = gaps is not None and bool(gaps) and bool(gaps.overlaps(committed))
        if min(acked) > committed and not head_is_gap:
            return None
    return _ORIGINAL(self, tp)


def install() -> bool:
    """Install the guard on faust's ``Consumer`` (idempotent). Returns False when this Faust has no
    ``Consumer._new_offset`` (nothing changed)."""
    global _ORIGINAL
    cls = getattr(_consumer, "Consumer", None)
    current = getattr(cls, "_new_offset", None)
    if cls is None or current is None:
        log.warning("faust has no Consumer._new_offset: the commit guard is not installed")
        return False
    if _ORIGINAL is None:
        _ORIGINAL = current
        cls._new_offset = _new_offset
    return True
