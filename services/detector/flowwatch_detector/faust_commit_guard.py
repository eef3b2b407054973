"""Never commit an input offset past a message that was not processed.

Two guards on faust-streaming 0.15.3's consumer, both found by ``tests/integration/test_egress_crash.py``
(a SIGKILLed worker whose restarted self resumed after updates nobody had applied):

1. **Skipped messages are not acknowledged.** A stream skips a message that arrives while flow control is
   off (a rebalance or a table recovery is under way) or that was fetched in an older consumer generation —
   it expects to fetch it again after seeking to the committed offset — but it *acknowledges* the skipped
   message (``Stream._py_aiter``: "we want to ack the filtered message"), so the next commit moves past it
   and the message is never processed. The restarted worker of the crash test skipped 22 such updates, and
   committed past them. ``Consumer.ack`` now ignores an acknowledgement while flow control is off or of a
   message from another generation: the message comes again from the committed offset (at least once; every
   agent's outputs are idempotent).
2. **No commit over the message at the head.**

faust-streaming's ``Consumer._new_offset`` (0.15.3) finds the offset to commit from the acknowledged offsets
of a partition. Its guard against a hole at the head of that list only holds back when the hole is larger
than one message (``min(acked) - committed > 1``), and it skips the guard when the committed offset is 0.
When the one message at the committed head is still in flight — a take_events batch being applied — and
later offsets are acknowledged, Faust commits over it, and a SIGKILL then loses it: the restarted worker
resumes after it (faust-streaming issue #606, fix proposed in PR #707). Flowwatch's source topics
(``flow-events``, ``incident-updates``, ``export-updates``) are neither compacted nor written by
transactional producers, so a real hole at the head (an offset without a message) does not occur; where one
would, Faust's own gap tracking (``Consumer._gap``) fills it before this check.

``install()`` wraps ``Consumer.ack`` (guard 1) and ``_new_offset`` (guard 2: when offsets are acknowledged
but the smallest is beyond the committed offset, nothing is committed for that partition until the head is
acknowledged too). They are private methods, so it checks that they exist and refuses (returns False, logs a
warning) otherwise; ``tests/unit/test_faust_commit_guard.py`` pins the behaviour against the installed Faust.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faust.transport import consumer as _consumer
from mode.utils.futures import notify

log = logging.getLogger("flowwatch.detector.commit")

_ORIGINAL: Callable[[Any, Any], int | None] | None = None
_ORIGINAL_ACK: Callable[[Any, Any], bool] | None = None


def _ack(self: Any, message: Any) -> bool:
    """Faust's ``Consumer.ack``, except for a message the stream skipped: flow control off, or fetched in
    another consumer generation (guard 1 of the module doc). Returns False for those (not acknowledged)."""
    assert _ORIGINAL_ACK is not None
    app = self.app
    if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
        # no longer in flight (a rebalance waits for that), but not committable either
        self._unacked_messages.discard(message)
        notify(self._waiting_for_ack)
        return False
    return _ORIGINAL_ACK(self, message)


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
    """Install both guards on faust's ``Consumer`` (idempotent). Returns False when this Faust lacks
    ``Consumer._new_offset`` or ``Consumer.ack`` (nothing changed)."""
    global _ORIGINAL, _ORIGINAL_ACK
    cls = getattr(_consumer, "Consumer", None)
    current = getattr(cls, "_new_offset", None)
    current_ack = getattr(cls, "ack", None)
    if cls is None or current is None or current_ack is None:
        log.warning("faust has no Consumer._new_offset / ack: the commit guard is not installed")
        return False
    if _ORIGINAL is None:
        _ORIGINAL, _ORIGINAL_ACK = current, current_ack
        cls._new_offset = _new_offset
        cls.ack = _ack
    return True
