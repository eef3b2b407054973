"""Incident rule packs: the YAML schema (pydantic), the loader and date-effective selection.

A pack file holds one :class:`IncidentRulePack`. Packs are data: a new legal regime is a new YAML file with
its own ``effective_from`` (and ``effective_until``), not a code change. Each pack says whether it is
binding **law** in force (``kind: law``) or Flowwatch **policy** (``kind: policy``: e.g. the 2021 draft
Network Data Security Regulations' clocks, kept because users asked for them). Every pack whose window
contains the incident's selection instant applies, law and policy side by side (docs/law.md).
Policy packs are loaded unless the deployment setting ``FLOWWATCH_POLICY_PACKS=false``.
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
from pydantic_settings import BaseSettings, SettingsConfigDict

from flowwatch.rules.pack_files import load_pack_dirs

ObligationId = Literal[
    "regulator_report",
    "followup_report",
    "notify_individuals",
    "supplementary_report",
    "summary_report",
    "vulnerability_report",
]
ClockField = Literal["occurred_at", "detected_at", "handling_completed_at", "reported_at"]
PackKind = Literal["law", "policy"]
OperatorClass = Literal["cii_operator", "central_state_organ", "other"]
"""Reporting class of the processor (2025 Reporting Measures Art. 4): a critical information infrastructure
operator, a central or state organ (中央和国家机关各部门及其直属单位), or any other network operator."""
GRADE_ORDER: tuple[str, ...] = ("一般", "较大", "重大", "特别重大")
"""Incident grades of the 2025 Reporting Measures' grading guide (附件), lowest first."""


class LawSettings(BaseSettings):
    """Deployment settings of the rule packs. ``FLOWWATCH_POLICY_PACKS`` (default ``true``): load the packs
    of ``kind: policy`` (the 2021 draft's 8-hour / 3- and 5-working-day clocks) beside the law in force."""

    model_config = SettingsConfigDict(env_prefix="FLOWWATCH_", extra="ignore")

    policy_packs: bool = True


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
    "N以上" includes N), ``grade_at_least: 较大`` (the incident's grade under the pack's ``grades``),
    ``report_incomplete: true`` (the first report to the regulator was made while report items were still
    missing), ``security_defect: true`` (the incident is a product or service defect or vulnerability that
    endangers national security or the public interest), ``always: true`` (every incident).
    Combinators: ``any_of: [...]`` and ``all_of: [...]`` (non-empty lists of nodes).
    """

    any_of: list[Trigger] | None = Field(default=None, min_length=1)
    all_of: list[Trigger] | None = Field(default=None, min_length=1)
    important_data: Literal[True] | None = None
    harm_to_individuals: Literal[True] | None = None
    persons_at_least: int | None = Field(default=None, ge=1)
    grade_at_least: str | None = None
    report_incomplete: Literal[True] | None = None
    security_defect: Literal[True] | None = None
    always: Literal[True] | None = None

    @model_validator(mode="before")
    @classmethod
    def _known_grade(cls, data: object) -> object:
        grade = data.get("grade_at_least") if isinstance(data, dict) else None
        if grade is not None and grade not in GRADE_ORDER:
            raise ValueError(f"grade_at_least must be one of {list(GRADE_ORDER)}, got {grade!r}")
        return data

    @model_validator(mode="after")
    def _exactly_one_key(self) -> Trigger:
        keys = [k for k, v in self.__dict__.items() if v is not None]
        if len(keys) != 1:
            raise ValueError(f"a trigger node needs exactly one key, got {keys or 'none'}")
        return self


class Period(_Strict):
    """Length of a deadline: exactly one of ``hours`` (from the exact starting instant), ``working_days``
    (starting day not counted; ends 24:00 local of the last working day), ``days`` (calendar days, starting
    day not counted, ends 24:00 of the last day; a last day that is a rest day or statutory holiday moves to
    the next working day, PRC Civil Code Arts. 201 and 203) or ``immediately: true`` (the text says 立即 /
    及时 and sets no figure: no deadline instant is computed)."""

    hours: int | None = Field(default=None, ge=1)
    working_days: int | None = Field(default=None, ge=1)
    days: int | None = Field(default=None, ge=1)
    immediately: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one_unit(self) -> Period:
        units = [u for u in (self.hours, self.working_days, self.days, self.immediately) if u is not None]
        if len(units) != 1:
            raise ValueError("period needs exactly one of 'hours', 'working_days', 'days' or 'immediately'")
        return self

    def describe(self) -> str:
        """Human-readable length, e.g. ``8 hours``, ``5 working days``, ``30 days`` or ``immediately``."""
        if self.hours is not None:
            return f"{self.hours} hours"
        if self.working_days is not None:
            return f"{self.working_days} working days"
        if self.days is not None:
            return f"{self.days} days"
        return "immediately (no figure in the text)"


class Variant(_Strict):
    """Period, recipients and citation of an obligation for one reporting class of processor
    (``when``; 2025 Reporting Measures Art. 4). The first variant matching the processor's class applies."""

    when: OperatorClass
    period: Period
    recipients: list[str] = Field(min_length=1)
    legal_basis: Citation


class GradeRule(_Strict):
    """One grade of the pack's grading guide by persons whose PI leaked: ``persons_at_least`` (以上 includes
    the number) gives ``grade``. The highest matching grade wins; below every rule the grade is ``一般``."""

    grade: str
    persons_at_least: int = Field(ge=1)
    legal_basis: Citation

    @model_validator(mode="after")
    def _known(self) -> GradeRule:
        if self.grade not in GRADE_ORDER:
            raise ValueError(f"grade must be one of {list(GRADE_ORDER)}, got {self.grade!r}")
        return self


class ObligationRule(_Strict):
    """One obligation of a pack: trigger, clock, period, recipients, citation and required contents.

    ``waiver_basis`` set: the obligation may be waived with a reason (e.g. PIPL Art. 57 para 2 for the notice
    to individuals); without it a waiver is refused. ``variants``: period, recipients and citation by the
    processor's reporting class (then ``period`` may be omitted). ``channels``: how the duty is performed
    (e.g. phone, SMS, IM, e-mail, public announcement). ``open_questions``: what the source leaves open,
    copied into every obligation record.
    """

    id: ObligationId
    trigger: Trigger
    clock_starts_at: ClockField
    period: Period | None = None
    recipients: list[str] = Field(min_length=1)
    legal_basis: Citation
    report_contents: list[str] = Field(default_factory=list)
    waiver_basis: Citation | None = None
    variants: list[Variant] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_period(self) -> ObligationRule:
        if self.period is None and not self.variants:
            raise ValueError(f"obligation {self.id} needs a 'period' or 'variants'")
        if self.variants and "other" not in {v.when for v in self.variants}:
            raise ValueError(f"obligation {self.id}: variants need one for 'other' processors")
        return self

    def variant_for(self, operator: OperatorClass) -> Variant | None:
        """The variant for ``operator`` (falls back to ``other``), or ``None`` without variants."""
        if not self.variants:
            return None
        return next((v for v in self.variants if v.when == operator),
                    next(v for v in self.variants if v.when == "other"))


class IncidentRulePack(_Strict):
    """A date-effective incident rule pack. ``effective_until`` is the last day (inclusive) it applies;
    dates are local dates in ``timezone``, compared with the local date of the incident's ``selected_by``
    instant (``occurred_at`` by default; ``detected_at`` for a duty that arises on discovery).

    ``kind``: ``law`` (binding law in force) or ``policy`` (Flowwatch's internal policy, e.g. a draft's
    clocks). ``source_url``/``promulgated_by``: where the text was read. ``grades``: the grading guide by
    persons (empty: the pack grades nothing). ``open_questions``: what the source leaves open (docs/law.md).
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: PackKind
    title: str = Field(min_length=1)
    source_document: str = Field(min_length=1)
    promulgated_by: str | None = None
    source_url: str | None = None
    effective_from: date
    effective_until: date | None = None
    selected_by: Literal["occurred_at", "detected_at"] = "occurred_at"
    timezone: str = "Asia/Shanghai"
    grades: list[GradeRule] = Field(default_factory=list)
    obligations: list[ObligationRule] = Field(min_length=1)
    open_questions: list[str] = Field(default_factory=list)

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

    def window(self) -> str:
        """``2025-11-01 – open`` or ``2025-01-01 – 2025-10-31`` (last day inclusive)."""
        return f"{self.effective_from} – {self.effective_until or 'open'}"

    def grade_of(self, persons: int) -> tuple[str | None, str]:
        """``(grade, reason)`` of an incident whose PI of ``persons`` distinct persons leaked; ``(None, …)``
        when the pack has no grading guide. Example (2025 Reporting Measures, 附件): 1,000,000 → ``较大``."""
        if not self.grades:
            return None, f"pack {self.id} has no grading guide"
        hits = [g for g in self.grades if persons >= g.persons_at_least]
        if not hits:
            lowest = min(self.grades, key=lambda g: g.persons_at_least)
            return "一般", (f"{persons:,} persons < {lowest.persons_at_least:,} ({lowest.grade} threshold, "
                           f"{lowest.legal_basis.document} {lowest.legal_basis.article})")
        top = max(hits, key=lambda g: GRADE_ORDER.index(g.grade))
        return top.grade, (f"{persons:,} persons >= {top.persons_at_least:,} ({top.grade}, "
                           f"{top.legal_basis.document} {top.legal_basis.article}; 以上 includes the number)")


def _builtin_dir() -> Traversable:
    return resources.files("flowwatch.rules") / "packs"


def load_packs(
    directory: str | Path | Iterable[str | Path] | None = None,
    *,
    include_builtin: bool = True,
    include_policy: bool | None = None,
) -> list[IncidentRulePack]:
    """Load incident rule packs, sorted by ``effective_from``.

    ``directory``: extra folder(s) of ``*.yaml`` packs, loaded in addition to the packaged ``packs/`` folder
    (unless ``include_builtin=False``). ``include_policy``: keep packs of ``kind: policy``; ``None`` reads the
    deployment setting ``FLOWWATCH_POLICY_PACKS`` (default true). Raises :class:`PackError` for an
    unreadable or invalid file (the message names the file and field), a missing directory, or two packs
    with the same ``id``.
    """
    packs = load_pack_dirs(_builtin_dir(), directory, include_builtin, IncidentRulePack, "rule pack")
    keep_policy = LawSettings().policy_packs if include_policy is None else include_policy
    return [p for p in packs if keep_policy or p.kind != "policy"]


def selection_instant(pack: IncidentRulePack, occurred_at: datetime, detected_at: datetime | None) -> datetime:
    """The instant whose local date decides whether ``pack`` applies (``occurred_at`` unless the pack is
    selected by ``detected_at`` and that is known). Raises ``ValueError`` for a naive instant."""
    at = detected_at if pack.selected_by == "detected_at" and detected_at is not None else occurred_at
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{pack.selected_by} must be timezone-aware")
    return at


def packs_for(
    occurred_at: datetime, packs: Iterable[IncidentRulePack], detected_at: datetime | None = None
) -> list[tuple[IncidentRulePack, str]]:
    """Every pack that applies to an incident, law first then policy, each with why it applies:
    ``[(pack, reason)]``. A pack applies when the local date (its timezone) of its selection instant lies in
    its window. Raises ``ValueError`` for naive instants and :class:`LookupError` when no pack applies."""
    out: list[tuple[IncidentRulePack, str]] = []
    for p in packs:
        at = selection_instant(p, occurred_at, detected_at)
        day = at.astimezone(ZoneInfo(p.timezone)).date()
        if p.applies_on(day):
            what = "binding law in force" if p.kind == "law" else "Flowwatch policy (not binding law)"
            basis = p.selected_by if p.selected_by == "occurred_at" or detected_at is not None else "occurred_at"
            out.append((p, f"{what}: {basis} local date {day} lies in the pack's window {p.window()}"))
    if not out:
        raise LookupError(f"no incident rule pack is effective for an incident that occurred at {occurred_at}")
    return sorted(out, key=lambda pr: (pr[0].kind != "law", pr[0].effective_from, pr[0].id))


def pack_for(occurred_at: datetime, packs: Iterable[IncidentRulePack]) -> IncidentRulePack:
    """The latest pack by ``effective_from`` whose window contains the local date of ``occurred_at`` (in
    the pack's timezone) — one pack only; the incident record uses :func:`packs_for` (all that apply).

    Raises ``ValueError`` for a naive ``occurred_at`` and :class:`LookupError` when no pack applies.
    """
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    candidates = [p for p in packs if p.applies_on(occurred_at.astimezone(ZoneInfo(p.timezone)).date())]
    if not candidates:
        raise LookupError(f"no incident rule pack is effective for an incident that occurred at {occurred_at}")
    return max(candidates, key=lambda p: (p.effective_from, p.id))
