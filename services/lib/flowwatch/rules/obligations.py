"""Incident obligations: which duties an incident triggers under a rule pack, their deadlines and status.

Rules come from the pack (data); this module only evaluates them. Every obligation record says which pack
it comes from and whether that pack is binding law or Flowwatch policy (``binding``), the article, the
instant that started its clock, why it applies or not, and whether its deadline is ``estimated`` (computed
without the State Council's published holiday arrangement for a year it spans).

Deadline arithmetic (PRC Civil Code Arts. 200–204): a period in hours runs from the exact starting
instant; a period in working days does not count the starting day and ends at 24:00 local time of its
last working day; a period in days ends at 24:00 of its last day, moved to the next working day when that
is a rest day or holiday (Art. 203); an "immediately" duty (立即 / 及时, no figure) has no deadline instant.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.rules.incident_pack import (
    GRADE_ORDER,
    Citation,
    ClockField,
    IncidentRulePack,
    ObligationId,
    OperatorClass,
    Period,
    Trigger,
)
from flowwatch.workdays import add_days, add_working_days, end_of_day, is_working_day

Status = Literal["pending", "done", "overdue", "waived", "not_applicable"]

DONE_FIELD: dict[str, str] = {
    "regulator_report": "reported_at",
    "followup_report": "followup_reported_at",
    "notify_individuals": "notified_at",
    "supplementary_report": "supplementary_reported_at",
    "summary_report": "summary_reported_at",
    "vulnerability_report": "vulnerability_reported_at",
}
"""Which ``IncidentFacts`` field records that an obligation was fulfilled (one report to the regulator
fulfils the ``regulator_report`` of every pack: the law's and the policy's)."""


class IncidentFacts(BaseModel):
    """Facts about one incident needed to evaluate its obligations. All instants are timezone-aware.

    ``persons``: distinct natural persons whose PI is involved (not records); ``persons_basis``: ``counted``
    (de-duplicated by Flowwatch) or ``declared`` (reported by the platform). ``waivers``: obligation id →
    reason for not performing it (only obligations whose rule has a ``waiver_basis`` may be waived).
    ``regulator_required_notice``: the department performing PI protection duties required notice to
    individuals (PIPL Art. 57 para 2, second half), voiding a waiver. ``cii_operator`` /
    ``central_state_organ``: the processor's registry profile (``None``: no profile; 2025 Reporting Measures
    Art. 4). ``report_incomplete``: the report to the regulator was made while report items were missing
    (Art. 7 para 2). ``security_defect``: a product or service defect or vulnerability endangering national
    security or the public interest (Decree 790 Art. 10). ``type``: the incident type (leak, loss, …).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_id: str = Field(min_length=1)
    occurred_at: AwareDatetime
    detected_at: AwareDatetime
    persons: int = Field(ge=0)
    persons_basis: Literal["counted", "declared"]
    important_data: bool
    harm_to_individuals: bool
    type: str | None = None
    handling_completed_at: AwareDatetime | None = None
    reported_at: AwareDatetime | None = None
    followup_reported_at: AwareDatetime | None = None
    notified_at: AwareDatetime | None = None
    supplementary_reported_at: AwareDatetime | None = None
    summary_reported_at: AwareDatetime | None = None
    vulnerability_reported_at: AwareDatetime | None = None
    waivers: dict[ObligationId, str] = Field(default_factory=dict)
    regulator_required_notice: bool = False
    cii_operator: bool | None = None
    central_state_organ: bool | None = None
    report_incomplete: bool = False
    security_defect: bool = False

    def operator_class(self) -> tuple[OperatorClass, str]:
        """``(class, reason)``: CII operator first, then central/state organ, else other."""
        if self.cii_operator:
            return "cii_operator", "the processor's profile says it is a CII operator (关键信息基础设施运营者)"
        if self.central_state_organ:
            return "central_state_organ", "the processor's profile says it is a central or state organ"
        if self.cii_operator is None and self.central_state_organ is None:
            return "other", ("no processor profile in the registry: treated as an 'other' network operator; a CII "
                             "operator or a central/state organ has a shorter time limit")
        return "other", "the processor's profile says it is neither a CII operator nor a central/state organ"


class Obligation(BaseModel):
    """One evaluated obligation of an incident.

    ``binding``: the pack is binding law (``pack_kind = law``) rather than Flowwatch policy.
    ``applies_reason``: why the pack applies (its window and the instant that selected it);
    ``trigger_reason``: why the obligation applies or not. ``clock_started_by``: the facts field that starts
    the clock; ``clock_start`` is ``None`` while that instant is unknown or the obligation is not triggered.
    ``due_at``: aware deadline instant (exclusive: anything before it is in time), ``None`` without a clock
    or for a duty with no figure (``period`` says "immediately"). ``calendar_known`` / ``estimated``: a
    working-day or day deadline used computed statutory holidays without the year's published arrangement.
    ``late_at_detection``: the deadline had already passed when the incident was detected.
    ``grade``: the incident's grade under the pack (``None`` when the pack grades nothing).
    """

    model_config = ConfigDict(frozen=True)

    id: ObligationId
    pack_id: str
    pack_kind: Literal["law", "policy"] = "law"
    binding: bool = True
    pack_title: str | None = None
    applies_reason: str | None = None
    legal_basis: Citation
    triggered: bool
    trigger_reason: str
    recipients: list[str]
    report_contents: list[str]
    channels: list[str] = Field(default_factory=list)
    period: str
    period_hours: int | None = None
    operator_class: OperatorClass | None = None
    grade: str | None = None
    clock_started_by: ClockField
    clock_start: datetime | None
    due_at: datetime | None
    calendar_known: bool = True
    estimated: bool = False
    status: Status
    done_at: datetime | None = None
    done_late: bool = False
    waived_reason: str | None = None
    late_at_detection: bool = False
    notes: list[str] = Field(default_factory=list)
    open_questions: list[str] = Field(default_factory=list)


def _evaluate(trigger: Trigger, facts: IncidentFacts, grade: str | None) -> tuple[bool, str]:
    """Evaluate a trigger node; returns ``(matched, reason)``."""
    if trigger.always:
        return True, "every incident"
    if trigger.important_data:
        return facts.important_data, "important data involved" if facts.important_data else "no important data"
    if trigger.harm_to_individuals:
        return (
            facts.harm_to_individuals,
            "incident harms individuals" if facts.harm_to_individuals else "no harm to individuals",
        )
    if trigger.report_incomplete:
        return (facts.report_incomplete, "the report was made with items missing" if facts.report_incomplete
                else "no report made with items missing")
    if trigger.security_defect:
        return (facts.security_defect, "a defect or vulnerability endangering national security or the public "
                "interest" if facts.security_defect else "not flagged as a defect endangering national security")
    if trigger.grade_at_least is not None:
        if grade is None:
            return False, "the pack has no grading guide"
        ok = GRADE_ORDER.index(grade) >= GRADE_ORDER.index(trigger.grade_at_least)
        return ok, f"grade {grade} {'>=' if ok else '<'} {trigger.grade_at_least}"
    if trigger.persons_at_least is not None:
        n, limit = facts.persons, trigger.persons_at_least
        # 以上 includes the stated number: exactly the threshold triggers.
        op = ">=" if n >= limit else "<"
        return n >= limit, f"{n:,} persons ({facts.persons_basis}) {op} {limit:,}"
    children = [_evaluate(t, facts, grade) for t in (trigger.any_of or trigger.all_of or [])]
    if trigger.any_of is not None:
        hits = [r for ok, r in children if ok]
        return (True, " and ".join(hits)) if hits else (False, "none of: " + "; ".join(r for _, r in children))
    misses = [r for ok, r in children if not ok]
    return (False, "not all of: " + "; ".join(misses)) if misses else (True, " and ".join(r for _, r in children))


def _unknown_years(first: date, last: date) -> list[int]:
    return [y for y in range(first.year, last.year + 1) if not is_working_day(date(y, 1, 1))[1]]


def _deadline(period: Period, start: datetime, tz: str) -> tuple[datetime | None, bool, list[str]]:
    """Deadline for a clock starting at ``start``: ``(due_at, calendar_known, notes)``."""
    if period.hours is not None:
        return start + timedelta(hours=period.hours), True, []
    if period.immediately:
        return None, True, ["the text sets no time limit (立即/及时): no deadline instant is computed"]
    local_start = start.astimezone(ZoneInfo(tz)).date()
    notes: list[str] = []
    if period.working_days is not None:
        last_day, known = add_working_days(local_start, period.working_days)
    else:
        assert period.days is not None
        last_day, known, moved = add_days(local_start, period.days)
        if moved is not None:
            notes.append(f"day {period.days} ({moved}) is a rest day or holiday: the period ends on {last_day} "
                         "(PRC Civil Code Art. 203)")
    if not known:
        notes += [f"estimated: no published holiday arrangement for {y}; statutory holidays computed from the "
                  "全国年节及纪念日放假办法, make-up working days unknown"
                  for y in _unknown_years(local_start, last_day)]
    return end_of_day(last_day, tz), known, notes


def _one(
    rule: Any, pack: IncidentRulePack, facts: IncidentFacts, as_of: datetime, applies_reason: str | None,
    grade: str | None,
) -> Obligation:
    triggered, reason = _evaluate(rule.trigger, facts, grade)
    operator, operator_reason = facts.operator_class()
    variant = rule.variant_for(operator)
    period: Period = variant.period if variant else rule.period
    notes: list[str] = [f"reporting class: {operator} ({operator_reason})"] if variant else []
    base: dict[str, Any] = {
        "id": rule.id,
        "pack_id": pack.id,
        "pack_kind": pack.kind,
        "binding": pack.kind == "law",
        "pack_title": pack.title,
        "applies_reason": applies_reason,
        "legal_basis": variant.legal_basis if variant else rule.legal_basis,
        "triggered": triggered,
        "trigger_reason": reason,
        "recipients": list(variant.recipients if variant else rule.recipients),
        "report_contents": list(rule.report_contents),
        "channels": list(rule.channels),
        "period": period.describe(),
        "period_hours": period.hours,
        "operator_class": operator if variant else None,
        "grade": grade,
        "clock_started_by": rule.clock_starts_at,
        "open_questions": [*rule.open_questions],
    }
    if not triggered:
        return Obligation(**base, clock_start=None, due_at=None, status="not_applicable", notes=notes)

    start: datetime | None = getattr(facts, rule.clock_starts_at)
    due_at, known, more = (None, True, []) if start is None else _deadline(period, start, pack.timezone)
    notes += more
    if start is None:
        notes.append(f"clock not started: {rule.clock_starts_at} not yet known")
    done_at: datetime | None = getattr(facts, DONE_FIELD[rule.id])
    waived = facts.waivers.get(rule.id)
    if waived is not None:
        if rule.waiver_basis is None:
            raise ValueError(f"obligation {rule.id} of pack {pack.id} cannot be waived (no waiver_basis in the pack)")
        if facts.regulator_required_notice:
            # PIPL Art. 57 para 2: the department may require notice despite effective remedial measures.
            notes.append(f"waiver void: the regulator required notice ({rule.waiver_basis.article})")
            waived = None

    if done_at is not None and done_at <= as_of:
        status: Status = "done"
    elif waived is not None:
        status = "waived"
    elif due_at is not None and as_of >= due_at:
        status = "overdue"
    else:
        status = "pending"
    return Obligation(
        **base,
        clock_start=start,
        due_at=due_at,
        calendar_known=known,
        estimated=not known,
        status=status,
        done_at=done_at,
        done_late=done_at is not None and due_at is not None and done_at >= due_at,
        waived_reason=waived if status == "waived" else None,
        late_at_detection=due_at is not None and facts.detected_at > due_at,
        notes=notes,
    )


def compute_obligations(
    pack: IncidentRulePack, facts: IncidentFacts, as_of: datetime, applies_reason: str | None = None
) -> list[Obligation]:
    """Evaluate every obligation of ``pack`` for ``facts``, with status as of the aware instant ``as_of``.

    Returns one :class:`Obligation` per pack rule, in pack order (untriggered ones as ``not_applicable``),
    each carrying the pack, its kind, ``applies_reason`` (why the pack applies; from
    :func:`flowwatch.rules.incident_pack.packs_for`) and the incident's grade under the pack.
    Status precedence: ``done`` (fulfilment instant set and not after ``as_of``; ``done_late`` when at or after
    ``due_at``) > ``waived`` > ``overdue`` (``as_of >= due_at``) > ``pending``. Deadlines follow the pack,
    e.g. 国家网络安全事件报告管理办法 Art. 4: 4 hours from ``detected_at`` for an "other" operator (1 hour for
    a CII operator, 2 hours for a central or state organ); Art. 8: 30 days from ``handling_completed_at``.
    Raises ``ValueError`` for a naive ``as_of`` or a waiver of an obligation the pack does not let be waived.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    grade, _ = pack.grade_of(facts.persons)
    grade = grade if pack.grades else None
    return [_one(rule, pack, facts, as_of, applies_reason, grade) for rule in pack.obligations]
