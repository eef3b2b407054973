"""The export ledger: exact distinct persons whose PI a processor sent abroad, per counting window.

Counting follows the rule pack's window (2024 Provisions Art. 7–8: "自当年1月1日起累计", the calendar year;
2022 Assessment Measures Art. 4(3): "自上年1月1日起累计", the previous and the current calendar year).
Non-sensitive and sensitive persons are kept apart ("不含敏感个人信息"): a person counts as sensitive when
any of their sensitive PI (PIPL Art. 28) left, and as non-sensitive when any of their non-sensitive PI
left — a person can be in both counts, as the Provisions count the two kinds separately.

Storage (a ``KeyStore``: a changelogged Faust table in the detector, a dict in tests) holds keyed hashes
only: one entry per (processor, calendar year, kind, person). A window's counter is raised when a person
is new to **every** year of that window, so a window spanning two years counts each person once, and a
new calendar year starts the 2024 window from zero while the 2022 window still remembers last year.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["n", "s"]
"""``n``: persons whose non-sensitive PI left; ``s``: persons whose sensitive PI left."""


class KeyStore(Protocol):
    """A set of strings (the person-year entries)."""

    def __contains__(self, key: object) -> bool:
        """Membership."""
        ...

    def __setitem__(self, key: str, value: int) -> None:
        """Insert (value 1)."""
        ...


class AlertTally(BaseModel):
    """Occurrences of one alert (dedup key) in a window: how many, the first instant, and the latest source
    event ids (a replayed event does not count again)."""

    model_config = ConfigDict(extra="forbid")

    count: int = 1
    first: datetime
    recent: list[str] = Field(default_factory=list)


RECENT_KEPT = 20
"""Source event ids remembered per alert: replays after a crash re-read only the last uncommitted batch."""


class WindowCounts(BaseModel):
    """Distinct persons of one processor in one counting window of one rule pack (units: persons)."""

    model_config = ConfigDict(extra="forbid")

    processor_id: str
    pack_id: str
    window_id: str
    years: list[int]
    persons: int = 0
    sensitive_persons: int = 0
    declared_sensitive_categories: list[str] = Field(default_factory=list)
    flows: int = 0
    alerts_raised: list[str] = Field(default_factory=list)
    alert_tally: dict[str, AlertTally] = Field(default_factory=dict)


def person_key(processor_id: str, year: int, kind: Kind, person: str) -> str:
    """Store key of one person-year entry (``person`` is already a keyed hash)."""
    return f"{processor_id}\x1f{year}\x1f{kind}\x1f{person}"


def record_export(
    store: KeyStore,
    windows: Iterable[WindowCounts],
    processor_id: str,
    year: int,
    persons: Iterable[str],
    sensitive_persons: Iterable[str],
) -> None:
    """Add one flow's persons, exported in calendar ``year``, to the store and to every window in
    ``windows`` (the windows that contain ``year``: each must list its ``years``). A person raises a
    window's count only when no year of that window already held them. Not idempotent by itself: the
    caller checks ``event_ids`` first (see ``apply_flow``)."""
    windows = list(windows)
    kinds: tuple[tuple[Kind, Iterable[str]], ...] = (("n", persons), ("s", sensitive_persons))
    for kind, people in kinds:
        keys = list(dict.fromkeys(people))
        if not keys:
            continue
        held = {y: contains_all(store, [person_key(processor_id, y, kind, p) for p in keys])
                for y in sorted({y for w in windows for y in w.years})}  # fmt: skip
        for window in windows:
            new = sum(not any(held[y][i] for y in window.years) for i in range(len(keys)))
            if kind == "n":
                window.persons += new
            else:
                window.sensitive_persons += new
        add_all(store, [person_key(processor_id, year, kind, p) for p in keys])


def contains_all(store: KeyStore, keys: list[str]) -> list[bool]:
    """Membership of each of ``keys``, in one call when the store has ``contains_many`` (the detector's
    batched store does)."""
    many = getattr(store, "contains_many", None)
    return list(many(keys)) if many is not None else [key in store for key in keys]


def add_all(store: KeyStore, keys: list[str]) -> None:
    """Insert ``keys``, in one call when the store has ``add_many``."""
    many = getattr(store, "add_many", None)
    if many is not None:
        many(keys)
        return
    for key in keys:
        store[key] = 1


def apply_flow(
    store: KeyStore,
    windows: list[WindowCounts],
    event_id: str,
    year: int,
    persons: Iterable[str],
    sensitive_persons: Iterable[str],
) -> bool:
    """Record one export flow in ``windows`` (all of one processor, every window of the pack that contains
    ``year``) once: False and no change when ``event_id`` was recorded before (at-least-once delivery,
    replays). The event ids live in the store beside the persons."""
    if not windows:
        return False
    processor_id = windows[0].processor_id
    seen = f"{processor_id}\x1fevent\x1f{event_id}"
    if seen in store:
        return False
    record_export(store, windows, processor_id, year, persons, sensitive_persons)
    for w in windows:
        w.flows += 1
    store[seen] = 1
    return True
