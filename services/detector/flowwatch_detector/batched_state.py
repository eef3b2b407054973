"""Agent state as a log of batch records: one changelog message per applied batch and source partition,
holding the batch's new set members (person hashes, applied event ids, packed 8 bytes each), the "windows"
after it (the egress agent's window counts, the incident agent's ``IncidentState``s) and the source offset
after its last input (``"o"``). Used for the export ledger (``export-persons``) and the incident person sets
(``incident-state``: the incident persons and states); both agents run it through ``batch_agent``.

Why a log: a Faust table write is one changelog message. The agents used to write one entry per new person
(a 10,000-person event was 10,000 messages, and a rebalance replayed one message per person ever seen:
issue 18's 716,972 offsets of ``incident-persons``), with the window counts in another table that could
disagree with the persons after a crash. A batch record is one message, so it lands whole or not at all,
and the counts in it always agree with the members in it. Recovery reads one message per batch.

- ``SetLog.keys`` is a ``KeyStore`` / ``PersonStore`` (membership, insert, ``add``) and ``SetLog.windows``
  the mapping of window counts (``flowwatch.exports.step.process_update`` takes both). Reads see every record
  of the worker's partitions plus what the current batch added; writes stay in memory until ``flush``.
- Members are 64-bit (``flowwatch.person_sets``: the collision bound is there, ≤ 2.7 × 10⁻⁶ for a set of
  10 million persons), grouped by namespace (processor and year, processor and incident).
- ``flush(partition, next_offset)`` writes one record ``batch\\x1f<partition>\\x1f<seq>`` → ``{"p", "seq", "o", "sets",
  "windows"}`` (``sets``: namespace → base64 of the packed members), ``seq`` one more than the partition's
  last, and returns the broker acknowledgement to await. A record holds at most ``RECORD_KEYS`` new members
  or one event's (≤ 10,000 subject keys of each kind, the event contract's limit): ≤ ~220 KB, below
  Kafka's 1 MB message limit.
- After a recovery or rebalance (``invalidate``) the index is rebuilt from the table: the union of the
  members, and for each window the state of the record with the highest ``seq``. Window states compare
  ``seq`` within one partition, which holds because every update of a processor is keyed by its processor
  id (the pii agent does so, and Faust tables require it anyway).

Crash safety (``durable_write``): Faust's own table writes go through its producer buffer, and the
consumer's offset commit flushes that buffer for at most 0.1 s (``faust.transport.producer.ProducerBuffer
.flush_atmost``) before committing, so a commit can overtake a changelog message still in the buffer; a
SIGKILL then loses the record while its input offsets are committed — the ledger undercounted ~5 % of the
flows of ``tests/integration/test_egress_crash.py`` that way. ``durable_write`` puts the value in the store
and sends the changelog message itself, and the agents acknowledge their input only after the broker
acknowledged it. So a crash replays the batch: records that landed are recovered and their event ids make
the replay skip those events; a record that did not land took its members and its window counts with it,
and the replay applies them again. Every flow and every person counts once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import faust.streams
import numpy as np

from flowwatch.person_sets import GroupedSets, pack, unpack

log = logging.getLogger("flowwatch.detector.state")

RECORD_KEYS = 20_000
"""Most new members in one record, unless one event alone has more (then the record holds that event)."""

RECORD_PREFIX = "batch\x1f"


async def durable_write(table: Any, key: Any, value: Any, partition: int) -> Awaitable[Any]:
    """Set ``table[key] = value`` in the local store and send the changelog message to changelog partition
    ``partition`` (the source partition of the events that produced it) at once, bypassing Faust's
    producer buffer (see the module doc). Returns the broker acknowledgement (await it before
    acknowledging the input). ``table`` is a Faust table; a plain dict stands in for it in unit tests."""
    if not hasattr(table, "changelog_topic"):  # a dict (unit tests): acknowledged at once
        table[key] = value
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done
    table.data[key] = value
    return await table.changelog_topic.send(key=key, value=value, partition=partition,
                                            callback=table._on_changelog_sent, force=True)  # fmt: skip


ACK_WARN_AFTER = 30.0
"""Seconds an agent waits for broker acknowledgements before it logs which ones are still pending."""


RETRY_FIRST, RETRY_MAX = 0.5, 30.0
"""Seconds before the first retry of a failed batch, and the most between retries (doubling)."""


async def until_applied(attempt: Callable[[], Awaitable[None]], rollback: Callable[[], None], what: str) -> None:
    """Run ``attempt`` until it returns; after each failure call ``rollback``, log and wait (``RETRY_FIRST``
    seconds, doubling up to ``RETRY_MAX``). An agent must not let a failure escape its ``take_events``
    loop: Faust then acknowledges the batch it was in and restarts the agent after it, losing the batch
    (a broker restart did that: ``bench/chaos.py``). A batch that keeps failing holds its partitions (their
    lag shows in the metrics) instead of being dropped. Cancellation (shutdown, rebalance) is not retried."""
    delay, failures = RETRY_FIRST, 0
    while True:
        try:
            await attempt()
            return
        except asyncio.CancelledError:
            rollback()
            raise
        except Exception as exc:
            rollback()
            failures += 1
            log.error("%s failed (attempt %d), applying it again in %.1f s: %r", what, failures, delay, exc)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)


async def await_acks(acks: list[Any], what: str) -> None:
    """Wait for every broker acknowledgement in ``acks`` (futures or awaitables); every ``ACK_WARN_AFTER``
    seconds without all of them, log a warning naming ``what`` and how many are pending, so a broker that
    never answers shows in the log instead of as a silent stall. Raises what a failed send raised."""
    futures = [asyncio.ensure_future(a) for a in acks]
    if not futures:
        return
    waited = 0.0
    while True:
        done, pending = await asyncio.wait(futures, timeout=ACK_WARN_AFTER)
        if not pending:
            for fut in done:
                fut.result()
            return
        waited += ACK_WARN_AFTER
        log.warning("%s: %d of %d broker acknowledgements still pending after %.0f s: %s", what, len(pending),
                    len(futures), waited, "; ".join(repr(f)[:300] for f in list(pending)[:3]))


@dataclass
class _Index:
    sets: GroupedSets
    windows: dict[str, tuple[int, Any]] = field(default_factory=dict)  # window key → (seq, state)
    last_seq: dict[int, int] = field(default_factory=dict)  # partition → highest seq seen
    next_offset: dict[int, int] = field(default_factory=dict)  # partition → source offset after the last applied


class SetLog:
    """Set members and window counts over a Faust table of batch records; see the module doc.

    ``secret``: the deployment's hash key (``FLOWWATCH_HASH_KEY``), which keys the 64-bit hash of members
    that are not already keyed hashes (event ids)."""

    def __init__(self, table: Any, secret: bytes) -> None:
        self.table = table
        self.secret = secret
        self._index: _Index | None = None
        self._new: dict[str, list[int]] = {}
        self._pending = 0
        self._new_windows: dict[str, Any] = {}
        self._written: list[str] = []  # record keys written since the last ``settle``
        self.keys = _KeysView(self)
        self.windows = _WindowsView(self)

    def index(self) -> _Index:
        """The in-memory view of the table's records (built on first use after ``invalidate``)."""
        if self._index is None:
            index = _Index(GroupedSets(self.secret))
            packed: dict[str, list[Any]] = {}
            records = 0
            for key, value in self.table.items():
                if not (isinstance(key, str) and key.startswith(RECORD_PREFIX) and isinstance(value, dict)):
                    continue
                seq, partition = int(value.get("seq", 0)), int(value.get("p", -1))
                records += 1
                for group, members in (value.get("sets") or {}).items():
                    packed.setdefault(group, []).append(unpack(base64.b64decode(members)))
                for group, suffixes in (value.get("keys") or {}).items():  # records of the 2026-12 format
                    for suffix in suffixes:
                        index.sets.add_key(f"{group}\x1f{suffix.ljust(64, '0') if len(suffix) == 32 else suffix}")
                for wkey, state in (value.get("windows") or {}).items():
                    if wkey not in index.windows or index.windows[wkey][0] < seq:
                        index.windows[wkey] = (seq, state)
                index.last_seq[partition] = max(index.last_seq.get(partition, 0), seq)
                if isinstance(value.get("o"), int):
                    index.next_offset[partition] = max(index.next_offset.get(partition, 0), value["o"])
            for group, arrays in packed.items():  # one sort per namespace, not one merge per record
                index.sets.load(group, np.concatenate(arrays))
            log.info("%s index rebuilt: %d records, %d members in %d sets, %d windows, last seq %s, next offset %s",
                     getattr(self.table, "name", "state"), records, len(index.sets), len(index.sets.groups),
                     len(index.windows), dict(index.last_seq), dict(index.next_offset))
            self._index = index
        return self._index

    @property
    def pending_keys(self) -> int:
        """New members not written yet."""
        return self._pending

    def size(self, group: str) -> int:
        """Members of one namespace (e.g. ``processor\\x1fincident\\x1fp``)."""
        return self.index().sets.size(group)

    def next_offset(self, partition: int) -> int | None:
        """The source offset after the last input of ``partition`` the records hold (everything before it was
        applied), or None when no record of the partition holds one."""
        return self.index().next_offset.get(partition)

    def check_offset(self, partition: int, offset: int) -> int | None:
        """The source offset the last record of ``partition`` expects next, when ``offset`` (the first of a
        batch) lies beyond it — input the agent never saw, which the caller logs — else None."""
        expected = self.index().next_offset.get(partition)
        return expected if expected is not None and offset > expected else None

    async def flush(self, partition: int, next_offset: int | None = None) -> Awaitable[Any] | None:
        """Write what the batch added as one record for source ``partition``; returns the broker
        acknowledgement to await, or None when there was nothing to write. ``next_offset``: the source
        offset after the batch's last event (recorded, for ``check_offset``; a batch that only skipped
        replayed or invalid input still writes a record when it moves the offset on)."""
        index = self.index()
        moved = next_offset is not None and next_offset > index.next_offset.get(partition, -1)
        if not self._new and not self._new_windows and not moved:
            return None
        seq = index.last_seq.get(partition, 0) + 1
        if next_offset is not None:
            index.next_offset[partition] = max(index.next_offset.get(partition, 0), next_offset)
        record = {
            "p": partition, "seq": seq, "o": index.next_offset.get(partition),
            "sets": {group: base64.b64encode(pack(members)).decode() for group, members in self._new.items()},
            "windows": self._new_windows,
        }  # fmt: skip
        record_key = f"{RECORD_PREFIX}{partition}\x1f{seq:012d}"
        self._written.append(record_key)
        ack = await durable_write(self.table, record_key, record, partition)
        index.last_seq[partition] = seq
        for wkey, state in self._new_windows.items():
            index.windows[wkey] = (seq, state)
        self._new, self._pending, self._new_windows = {}, 0, {}
        return ack

    def invalidate(self) -> None:
        """Forget the index and anything not flushed (after a recovery or a rebalance)."""
        self._index = None
        self._new, self._pending, self._new_windows = {}, 0, {}
        self._written = []

    def settle(self) -> None:
        """The records written so far are acknowledged by the broker: ``rollback`` keeps them."""
        self._written = []

    def rollback(self) -> None:
        """A batch failed before every acknowledgement came: remove its records from the local store (their
        changelog messages may or may not have landed) and forget the index, so that applying the batch
        again recomputes them. Safe either way: a landed copy holds the same members, and the new record's
        higher or equal ``seq`` carries the window counts."""
        data = getattr(self.table, "data", self.table)
        for key in self._written:
            data.pop(key, None)
        self.invalidate()

    def _add_many(self, keys: list[str]) -> list[bool]:
        out = []
        for added in self.index().sets.add_keys(keys):
            if added is None:
                out.append(False)
            else:
                group, member = added
                self._new.setdefault(group, []).append(member)
                out.append(True)
        self._pending += sum(out)
        return out

    def _add(self, key: str) -> bool:
        added = self.index().sets.add_key(key)
        if added is None:
            return False
        group, member = added
        self._new.setdefault(group, []).append(member)
        self._pending += 1
        return True


class _KeysView:
    """``KeyStore`` (membership and insert) and ``PersonStore`` (``add``) over a ``SetLog``."""

    def __init__(self, log: SetLog) -> None:
        self.log = log

    def __contains__(self, key: object) -> bool:
        return key in self.log.index().sets

    def __setitem__(self, key: str, value: int) -> None:
        self.log._add(key)

    def add(self, key: str) -> bool:
        """Add ``key``; True when it was new."""
        return self.log._add(key)

    def add_many(self, keys: list[str]) -> list[bool]:
        """Add ``keys`` in order; for each, True when it was new (vectorised)."""
        return self.log._add_many(keys)

    def contains_many(self, keys: list[str]) -> list[bool]:
        """Membership of each of ``keys`` (vectorised)."""
        return self.log.index().sets.contains_keys(keys)


class _WindowsView(MutableMapping[str, Any]):
    """Window key → window counts (JSON) over a ``SetLog``; writes go into the next record."""

    def __init__(self, log: SetLog) -> None:
        self.log = log

    def __getitem__(self, key: str) -> Any:
        if key in self.log._new_windows:
            return self.log._new_windows[key]
        return self.log.index().windows[key][1]

    def __setitem__(self, key: str, value: Any) -> None:
        self.log._new_windows[key] = value

    def __delitem__(self, key: str) -> None:
        raise NotImplementedError("window counts are never deleted")

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(self.log.index().windows), **self.log._new_windows})

    def __len__(self) -> int:
        return len(set(self.log.index().windows) | set(self.log._new_windows))


@contextlib.contextmanager
def as_current_event(event: Any) -> Iterator[None]:
    """Within the block, Faust's "current event" is ``event``, so sends attach to ``event``'s partition (a
    ``take_events`` batch mixes partitions). Uses faust-streaming's context variable
    ``faust.streams._current_event``."""
    var = faust.streams._current_event
    token = var.set(weakref.ref(event))
    try:
        yield
    finally:
        var.reset(token)
