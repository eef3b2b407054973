"""Incident rule packs: the YAML schema (pydantic), the loader and date-effective selection.

A pack file holds one :class:`IncidentRulePack`. Packs are data: a new legal regime is a new YAML file with
its own ``effective_from``, not a code change (REGULATIONS.md E3; DESIGN.md "Rules").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from flowwatch.rules.pack_files import load_pack_dirs

ObligationId = Literal["regulator_report", "followup_report", "notify_individuals"]
ClockField = Literal["occurred_at", "handling_completed_at"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    """Where a rule lives: document (Chinese title), article (e.g. ``Art. 11 para 2(1)``) and the quoted wording."""

    document: str = Field(min_length=1)
    article: str = Field(min_length=1)
    quote: str | None = None


class Trigger(_Strict):
    """Trigger condition as data. Exactly one key per node.

    Leaves: ``important_data: true``, ``harm_to_individuals: true``, ``persons_at_least: N`` (distinct persons;
    "N以上" includes N). Combinators: ``any_of: [...]`` and ``all_of: [...]`` (non-empty lists of nodes).
    """

    any_of: list[Trigger] | None = Field(default=None, min_length=1)
    all_of: list[Trigger] | None = Field(default=None, min_length=1)
    important_data: Literal[True] | None = None
    harm_to_individuals: Literal[True] | None = None
    persons_at_least: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one_key(self) -> Trigger:
        keys = [k for k, v in self.__dict__.items() if v is not None]
        if len(keys) != 1:
            raise ValueError(f"a trigger node needs exactly one key, got {keys or 'none'}")
        return self


class Period(_Strict):
    """Length of a deadline: exactly one of ``hours`` (from the exact starting instant) or ``working_days``
    (starting day not counted; ends 24:00 local of the last working day)."""

    hours: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _exactly_one_unit(self) -> Period:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("period needs exactly one of 'hours' or 'working_days'")
        return self

    def describe(self) -> str:
        """Human-readable length, e.g. ``8 hours`` or ``5 working days``."""
        return f"{self.hours} hours" if self.hours is not None else f"{self.working_days} working days"


class ObligationRule(_Strict):
    """One obligation of a pack: trigger, clock, period, recipients, citation and required contents.

    ``waiver_basis`` set: the obligation may be waived with a reason (e.g. PIPL Art. 57 para 2 for the notice
    to individuals); without it a waiver is refused.
    """

    id: ObligationId
    trigger: Trigger
    clock_starts_at: ClockField
    period: Period
    recipients: list[str] = Field(min_length=1)
    legal_basis: Citation
    report_contents: list[str] = Field(default_factory=list)
    waiver_basis: Citation | None = None


class IncidentRulePack(_Strict):
    """A date-effective incident rule pack. ``effective_until`` is the last day (inclusive) it applies;
    dates are local dates in ``timezone``."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str = Field(min_length=1)
    source_document: str = Field(min_length=1)
    effective_from: date
    effective_until: date | None = None
    timezone: str = "Asia/Shanghai"
    obligations: list[ObligationRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> IncidentRulePack:
        if self.effective_until is not None and self.effective_until < self.effective_from:
            raise ValueError("effective_until is before effective_from")
        ids = [o.id for o in self.obligations]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate obligation ids in {ids}")
        ZoneInfo(self.timezone)  # raises for an unknown zone
        return self

    def applies_on(self, day: date) -> bool:
        """Whether ``day`` (a local date) lies in ``[effective_from, effective_until]``."""
        return self.effective_from <= day and (self.effective_until is None or day <= self.effective_until)


def _builtin_dir() -> Traversable:
    return resources.files("flowwatch.rules") / "packs"


def load_packs(
    directory: str | Path | Iterable[str | Path] | None = None, *, include_builtin: bool = True
) -> list[IncidentRulePack]:
    """Load incident rule packs, sorted by ``effective_from``.

    ``directory``: extra folder(s) of ``*.yaml`` packs, loaded in addition to the packaged ``packs/`` folder
    (unless ``include_builtin=False``). Raises :class:`PackError` for an unreadable or invalid file (the
    message names the file and field), a missing directory, or two packs with the same ``id``.
    """
    return load_pack_dirs(_builtin_dir(), directory, include_builtin, IncidentRulePack, "rule pack")


def pack_for(occurred_at: datetime, packs: Iterable[IncidentRulePack]) -> IncidentRulePack:
    """The pack governing an incident: among packs whose effective window contains the local date of
    ``occurred_at`` (in the pack's timezone), the one with the latest ``effective_from``.

    Raises ``ValueError`` for a naive ``occurred_at`` and :class:`LookupError` when no pack applies.
    """
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    candidates = [p for p in packs if p.applies_on(occurred_at.astimezone(ZoneInfo(p.timezone)).date())]
    if not candidates:
        raise LookupError(f"no incident rule pack is effective for an incident that occurred at {occurred_at}")
    return max(candidates, key=lambda p: (p.effective_from, p.id))
