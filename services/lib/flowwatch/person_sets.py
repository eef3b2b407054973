"""Sets of keyed person hashes that hold millions of persons in a few bytes each: 64-bit members in sorted
NumPy arrays, grouped by a namespace (processor and counting year, or processor and incident).

Why 64 bits, and the collision bound. The pii agent's person keys are HMAC-SHA256 hashes keyed with the
deployment's secret (``FLOWWATCH_HASH_KEY``), so their first 64 bits are uniform and cannot be steered by a
platform that does not hold the key. Two distinct persons of one set are counted as one only when their
64-bit prefixes collide. For n persons in one set the probability that any pair collides is at most
n (n - 1) / 2 / 2⁶⁴:

- n = 1,000,000 (a 较大 incident; the export thresholds are 10,000 / 100,000 / 1,000,000): ≤ 2.7 × 10⁻⁸;
- n = 10,000,000 (a large platform's yearly export ledger): ≤ 2.7 × 10⁻⁶,

and a collision lowers a count by one person. An undercount across a legal threshold needs a collision
among exactly the persons that reach it, so the probability that a threshold is decided wrongly is lower
still. Members that are not 64-hex-digit hashes (an applied event id) are hashed with BLAKE2b-64 keyed
with the same secret, so a platform cannot craft event ids that collide either.

Memory: 8 bytes per member in the sorted array, plus up to ``1/16`` of the set (at least 65,536 members)
in a recent-additions Python set (~60 bytes each) that is merged into the array when it fills
(``bench/person_sets.py`` prints memory per million).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

_HEX64 = re.compile("[0-9a-f]{64}")
MERGE_MIN = 65_536
"""Recent additions kept in a Python set before they are merged into the sorted array."""


def member_of(suffix: str, secret: bytes) -> int:
    """The 64-bit member for one key's last component: the first 16 hex digits of a 64-hex-digit keyed hash,
    else BLAKE2b-64 of the text keyed with ``secret`` (at most 64 bytes)."""
    if len(suffix) == 64 and _HEX64.fullmatch(suffix):
        return int(suffix[:16], 16)
    return int.from_bytes(hashlib.blake2b(suffix.encode(), digest_size=8, key=secret[:64]).digest(), "little")


def split_key(key: str, secret: bytes) -> tuple[str, int]:
    """``namespace\\x1f…\\x1fsuffix`` → (namespace, 64-bit member); see ``member_of``."""
    group, _, suffix = key.rpartition("\x1f")
    return group, member_of(suffix, secret)


class U64Set:
    """A set of unsigned 64-bit integers: a sorted ``uint64`` array plus a small set of recent additions."""

    __slots__ = ("base", "recent")

    def __init__(self, members: np.ndarray | None = None) -> None:
        self.base: np.ndarray = sorted_unique(members) if members is not None else _EMPTY
        self.recent: set[int] = set()

    def __contains__(self, member: object) -> bool:
        if not isinstance(member, int):
            return False
        if member in self.recent:
            return True
        base = self.base
        if not len(base):
            return False
        i = int(np.searchsorted(base, np.uint64(member)))
        return i < len(base) and int(base[i]) == member

    def add(self, member: int) -> bool:
        """Add ``member`` (0 ≤ member < 2⁶⁴); True when it was new."""
        if member in self:
            return False
        self.recent.add(member)
        if len(self.recent) >= max(MERGE_MIN, len(self.base) // 16):
            self.compact()
        return True

    def add_many(self, members: Sequence[int]) -> list[bool]:
        """Add ``members`` in order; for each, True when it was new (a repeat within ``members`` is not)."""
        base, recent = self.base, self.recent
        if len(base):
            arr = np.fromiter(members, dtype=np.uint64, count=len(members))
            at = np.minimum(np.searchsorted(base, arr), len(base) - 1)
            in_base = (base[at] == arr).tolist()
        else:
            in_base = [False] * len(members)
        new = []
        for member, held in zip(members, in_base, strict=True):
            if held or member in recent:
                new.append(False)
            else:
                recent.add(member)
                new.append(True)
        if len(recent) >= max(MERGE_MIN, len(base) // 16):
            self.compact()
        return new

    def contains_many(self, members: Sequence[int]) -> list[bool]:
        """Membership of each of ``members``."""
        base, recent = self.base, self.recent
        if not len(base):
            return [m in recent for m in members]
        arr = np.fromiter(members, dtype=np.uint64, count=len(members))
        at = np.minimum(np.searchsorted(base, arr), len(base) - 1)
        return [held or m in recent for m, held in zip(members, (base[at] == arr).tolist(), strict=True)]

    def update(self, members: np.ndarray) -> None:
        """Add many members at once (a recovered record), without telling which were new."""
        if len(members):
            self.compact()
            self.base = sorted_unique(np.concatenate([self.base, members.astype(np.uint64)]))

    def compact(self) -> None:
        """Merge the recent additions into the sorted array."""
        if self.recent:
            recent = np.fromiter(self.recent, dtype=np.uint64, count=len(self.recent))
            self.base = sorted_unique(np.concatenate([self.base, recent]))
            self.recent = set()

    def __len__(self) -> int:
        return len(self.base) + len(self.recent)

    def __iter__(self) -> Iterator[int]:
        self.compact()
        return (int(m) for m in self.base)

    @property
    def nbytes(self) -> int:
        """Bytes held: the array plus an estimate of 60 bytes per recent addition."""
        return int(self.base.nbytes) + 60 * len(self.recent)


_EMPTY = np.empty(0, dtype=np.uint64)


def sorted_unique(members: np.ndarray) -> np.ndarray:
    """The distinct values of ``members`` as a sorted ``uint64`` array. A sort and a comparison of neighbours:
    NumPy 2's ``np.unique`` hashes first and was 7× slower on 3 million members."""
    values = np.sort(members.astype(np.uint64, copy=True))
    if len(values) < 2:
        return values
    keep = np.empty(len(values), dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


class GroupedSets:
    """Namespace → ``U64Set``: the members of every person set of one worker's partitions."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.groups: dict[str, U64Set] = {}

    def add_key(self, key: str) -> tuple[str, int] | None:
        """Add one namespaced key; returns (namespace, member) when it was new, else None."""
        group, member = split_key(key, self.secret)
        sets = self.groups.get(group)
        if sets is None:
            sets = self.groups[group] = U64Set()
        return (group, member) if sets.add(member) else None

    def _by_group(self, keys: Sequence[str]) -> dict[str, tuple[list[int], list[int]]]:
        """Namespace → (members, positions in ``keys``)."""
        by_group: dict[str, tuple[list[int], list[int]]] = {}
        for i, key in enumerate(keys):
            group, member = split_key(key, self.secret)
            members, where = by_group.setdefault(group, ([], []))
            members.append(member)
            where.append(i)
        return by_group

    def add_keys(self, keys: Sequence[str]) -> list[tuple[str, int] | None]:
        """``add_key`` for many keys, in order (vectorised per namespace)."""
        out: list[tuple[str, int] | None] = [None] * len(keys)
        for group, (members, where) in self._by_group(keys).items():
            sets = self.groups.get(group)
            if sets is None:
                sets = self.groups[group] = U64Set()
            for i, member, new in zip(where, members, sets.add_many(members), strict=True):
                if new:
                    out[i] = (group, member)
        return out

    def contains_keys(self, keys: Sequence[str]) -> list[bool]:
        """Membership of each of ``keys`` (vectorised per namespace)."""
        out = [False] * len(keys)
        for group, (members, where) in self._by_group(keys).items():
            sets = self.groups.get(group)
            if sets is not None:
                for i, held in zip(where, sets.contains_many(members), strict=True):
                    out[i] = held
        return out

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        group, member = split_key(key, self.secret)
        sets = self.groups.get(group)
        return sets is not None and member in sets

    def load(self, group: str, members: np.ndarray) -> None:
        """Add recovered members of ``group`` (one sort; load every record of a group at once)."""
        sets = self.groups.get(group)
        if sets is None:
            self.groups[group] = U64Set(members)
        else:
            sets.update(members)

    def size(self, group: str) -> int:
        """Members of ``group`` (0 when it has none)."""
        sets = self.groups.get(group)
        return len(sets) if sets is not None else 0

    @property
    def nbytes(self) -> int:
        """Bytes held by every group's members."""
        return sum(s.nbytes for s in self.groups.values())

    def __len__(self) -> int:
        return sum(len(s) for s in self.groups.values())


def pack(members: Iterable[int]) -> bytes:
    """Members as little-endian ``uint64`` bytes (8 bytes each)."""
    return np.fromiter(members, dtype="<u8").tobytes()


def unpack(data: bytes) -> np.ndarray:
    """Inverse of ``pack``. Raises ValueError when ``len(data)`` is not a multiple of 8."""
    if len(data) % 8:
        raise ValueError(f"packed members must be 8 bytes each, got {len(data)} bytes")
    return np.frombuffer(data, dtype="<u8").astype(np.uint64)
