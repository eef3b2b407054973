"""The egress agent's state as a log of batch records: one changelog message per applied batch, holding
both the batch's new keys (person-year entries, applied event ids) and the window counts after it.

Why a log: a Faust table write is one changelog message, and a crash loses the messages still in the
producer's buffer. The egress agent used to write one entry per new person (20 messages for a flow of
20 persons) and the window counts beside them in another table, which held it to ~350 flows/s and left
the two tables able to disagree after a crash. A batch record is one message, so it lands whole or not at
all, and the counts in it always agree with the keys in it.

- ``LedgerLog.keys`` is the ``KeyStore`` the ledger counts against and ``LedgerLog.windows`` the mapping of
  window counts (``flowwatch.exports.step.process_update`` takes both). Reads see every record of the
  worker's partitions plus what the current batch added; writes stay in memory until ``flush``.
- ``flush(partition)`` writes one record, ``batch\\x1f<partition>\\x1f<seq>`` → ``{"p", "seq", "keys",
  "windows"}``, with ``seq`` one more than the partition's last. The agent flushes after each source
  partition's events of a micro-batch, and before a flow that would take the record past ``RECORD_KEYS``
  keys. Keys are stored grouped by their prefix (processor, year, kind) with person hashes cut to 128 bits
  (32 hex digits), ~34 bytes a key: a record holds at most ``RECORD_KEYS`` keys or one flow's (≤ 10,000
  subject keys of each kind, DESIGN's event limit), ≤ ~700 KB, below Kafka's 1 MB message limit.
  128-bit keyed hashes collide with probability ≤ n² / 2¹²⁹ ≈ 1.5 × 10⁻²⁵ at n = 10 million persons.
- After a recovery or rebalance (``invalidate``) the index is rebuilt from the table: the union of the
  keys, and for each window the state of the record with the highest ``seq``. This needs one processor's
  updates on one partition (``seq`` is per partition), which the pii agent ensures by keying every export
  update with its processor id, as Faust tables require anyway.

Crash safety: the input offsets of a batch are acknowledged after its outputs were sent, so a crash replays
the batch. Records that landed are recovered and their event ids make the replay skip those flows; a record
that did not land took its keys and its window counts with it, and the replay applies them again. Either
way every flow and every person counts once (``tests/integration/test_egress_crash.py``).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import faust.streams

RECORD_KEYS = 20_000
"""Most new keys in one record, unless one flow alone has more (then the record holds that flow)."""
HASH_HEX = 32
"""Hex digits kept of a 64-digit person hash (128 bits)."""

RECORD_PREFIX = "batch\x1f"


@dataclass
class _Index:
    keys: set[str] = field(default_factory=set)
    windows: dict[str, tuple[int, Any]] = field(default_factory=dict)  # window key → (seq, state)
    last_seq: dict[int, int] = field(default_factory=dict)  # partition → highest seq seen


class LedgerLog:
    """Keys and window counts over a Faust table of batch records; see the module doc."""

    def __init__(self, table: Any) -> None:
        self.table = table
        self._index: _Index | None = None
        self._new_keys: list[str] = []
        self._new_windows: dict[str, Any] = {}
        self.keys = _KeysView(self)
        self.windows = _WindowsView(self)

    def index(self) -> _Index:
        """The in-memory view of the table's records (built on first use after ``invalidate``)."""
        if self._index is None:
            index = _Index()
            for key, value in self.table.items():
                if not (isinstance(key, str) and key.startswith(RECORD_PREFIX) and isinstance(value, dict)):
                    continue
                seq, partition = int(value.get("seq", 0)), int(value.get("p", -1))
                for group, suffixes in (value.get("keys") or {}).items():
                    index.keys.update(f"{group}\x1f{suffix}" for suffix in suffixes)
                for wkey, state in (value.get("windows") or {}).items():
                    if wkey not in index.windows or index.windows[wkey][0] < seq:
                        index.windows[wkey] = (seq, state)
                index.last_seq[partition] = max(index.last_seq.get(partition, 0), seq)
            self._index = index
        return self._index

    @property
    def pending_keys(self) -> int:
        """New keys not written yet."""
        return len(self._new_keys)

    def flush(self, partition: int) -> bool:
        """Write what the batch added as one record for source ``partition`` (call it inside
        ``as_current_event`` of an event of that partition). Returns False when there was nothing."""
        if not self._new_keys and not self._new_windows:
            return False
        index = self.index()
        seq = index.last_seq.get(partition, 0) + 1
        grouped: dict[str, list[str]] = {}
        for key in self._new_keys:
            group, _, suffix = key.rpartition("\x1f")
            grouped.setdefault(group, []).append(suffix)
        self.table[f"{RECORD_PREFIX}{partition}\x1f{seq:012d}"] = {
            "p": partition, "seq": seq, "keys": grouped, "windows": self._new_windows,
        }
        index.last_seq[partition] = seq
        for wkey, state in self._new_windows.items():
            index.windows[wkey] = (seq, state)
        self._new_keys, self._new_windows = [], {}
        return True

    def invalidate(self) -> None:
        """Forget the index and anything not flushed (after a recovery, a rebalance or a failed batch)."""
        self._index = None
        self._new_keys, self._new_windows = [], {}


class _KeysView:
    """``KeyStore`` (membership and insert) over a ``LedgerLog``."""

    def __init__(self, log: LedgerLog) -> None:
        self.log = log

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and compact_key(key) in self.log.index().keys

    def __setitem__(self, key: str, value: int) -> None:
        keys, short = self.log.index().keys, compact_key(key)
        if short not in keys:
            keys.add(short)
            self.log._new_keys.append(short)


def compact_key(key: str) -> str:
    """A person-year key (``processor\\x1fyear\\x1fn|s\\x1f<64-hex hash>``, ``flowwatch.exports.ledger.person_key``)
    with the hash cut to ``HASH_HEX`` digits; any other key (an event id entry) unchanged."""
    if len(key) > 68 and key[-65] == "\x1f" and key[-67] == "\x1f" and key[-66] in "ns":
        return key[: len(key) - 64 + HASH_HEX]
    return key


class _WindowsView(MutableMapping[str, Any]):
    """Window key → window counts (JSON) over a ``LedgerLog``; writes go into the next record."""

    def __init__(self, log: LedgerLog) -> None:
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
    """Within the block, Faust's "current event" is ``event``, so table writes go to the changelog
    partition of ``event``'s partition (a ``take_events`` batch mixes partitions). Uses faust-streaming's
    context variable ``faust.streams._current_event``."""
    var = faust.streams._current_event
    token = var.set(weakref.ref(event))
    try:
        yield
    finally:
        var.reset(token)
