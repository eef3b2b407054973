"""Incident obligations: which duties an incident triggers under a rule pack, their deadlines and status.

Rules come from the pack (data); this module only evaluates them. Deadline arithmetic (DESIGN.md "Rules",
PRC Civil Code Arts. 200–204): a period in hours runs from the exact starting instant; a period in working
days does not count the starting day and ends at 24:00 local time of its last working day.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from flowwatch.rules.incident_pack import (
    Citation,
    ClockField,
    IncidentRulePack,
    ObligationId,
    ObligationRule,
    Trigger,
)
from flowwatch.workdays import add_working_days, end_of_day, is_working_day

Status = Literal["pending", "done", "overdue", "waived", "not_applicable"]

DONE_FIELD: dict[str, str] = {
    "regulator_report": "reported_at",
    "followup_report": "followup_reported_at",
    "notify_individuals": "notified_at",
}
"""Which ``IncidentFacts`` field records that an obligation was fulfilled."""


class IncidentFacts(BaseModel):
    """Facts about one incident needed to evaluate its obligations. All instants are timezone-aware.

    ``persons``: distinct natural persons whose PI is involved (not records; REGULATIONS.md B6 item 4);
    ``persons_basis``: ``counted`` (de-duplicated by Flowwatch) or ``declared`` (reported by the platform).
    ``waivers``: obligation id → reason for not performing it (PIPL Art. 57 para 2; only obligations whose
    rule has a ``waiver_basis`` may be waived). ``regulator_required_notice``: the department performing PI
    protection duties required notice to individuals (PIPL Art. 57 para 2, second half), voiding a waiver.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    incident_id: str = Field(min_length=1)
    occurred_at: AwareDatetime
    detected_at: AwareDatetime
    persons: int = Field(ge=0)
    persons_basis: Literal["counted", "declared"]
    important_data: bool
    harm_to_individuals: bool
    handling_completed_at: AwareDatetime | None = None
    reported_at: AwareDatetime | None = None
    followup_reported_at: AwareDatetime | None = None
    notified_at: AwareDatetime | None = None
    waivers: dict[ObligationId, str] = Field(default_factory=dict)
    regulator_required_notice: bool = False


class Obligation(BaseModel):
    """One evaluated obligation of an incident.

    ``clock_started_by``: the facts field that starts the clock; ``clock_start`` is ``None`` while that
    instant is unknown (e.g. follow-up before handling completes) or the obligation is not triggered.
    ``due_at``: aware deadline instant (exclusive: anything before it is in time), ``None`` without a clock.
    ``calendar_known``: ``False`` when a working-day deadline used the Monday–Friday fallback (see ``notes``).
    ``late_at_detection``: the deadline had already passed when the incident was detected.
    """

    model_config = ConfigDict(frozen=True)

    id: ObligationId
    pack_id: str
    legal_basis: Citation
    triggered: bool
    trigger_reason: str
    recipients: list[str]
    report_contents: list[str]
    period: str
    clock_started_by: ClockField
    clock_start: datetime | None
    due_at: datetime | None
    calendar_known: bool = True
    status: Status
    done_at: datetime | None = None
    done_late: bool = False
    waived_reason: str | None = None
    late_at_detection: bool = False
    notes: list[str] = Field(default_factory=list)


def _evaluate(trigger: Trigger, facts: IncidentFacts) -> tuple[bool, str]:
    """Evaluate a trigger node; returns ``(matched, reason)``."""
    if trigger.important_data:
        return facts.important_data, "important data involved" if facts.important_data else "no important data"
    if trigger.harm_to_individuals:
        return (
            facts.harm_to_individuals,
            "incident harms individuals" if facts.harm_to_individuals else "no harm to individuals",
        )
    if trigger.persons_at_least is not None:
        n, limit = facts.persons, trigger.persons_at_least
        # 以上 includes the stated number (REGULATIONS.md A11): exactly the threshold triggers.
        op = ">=" if n >= limit else "<"
        return n >= limit, f"{n:,} persons ({facts.persons_basis}) {op} {limit:,}"
    children = [_evaluate(t, facts) for t in (trigger.any_of or trigger.all_of or [])]
    if trigger.any_of is not None:
        hits = [r for ok, r in children if ok]
        return (True, " and ".join(hits)) if hits else (False, "none of: " + "; ".join(r for _, r in children))
    misses = [r for ok, r in children if not ok]
    return (False, "not all of: " + "; ".join(misses)) if misses else (True, " and ".join(r for _, r in children))


def _deadline(rule: ObligationRule, start: datetime, tz: str) -> tuple[datetime, bool, list[str]]:
    """Deadline for a clock starting at ``start``: ``(due_at, calendar_known, notes)``."""
    if rule.period.hours is not None:
        return start + timedelta(hours=rule.period.hours), True, []
    assert rule.period.working_days is not None
    local_start = start.astimezone(ZoneInfo(tz)).date()
    last_day, known = add_working_days(local_start, rule.period.working_days)
    notes = []
    if not known:
        years = range(local_start.year, last_day.year + 1)
        unknown = [y for y in years if not is_working_day(date(y, 1, 1))[1]]
        notes = [f"PRC holiday calendar unknown for {y}; Monday–Friday assumed" for y in unknown]
    return end_of_day(last_day, tz), known, notes


def _one(rule: ObligationRule, pack: IncidentRulePack, facts: IncidentFacts, as_of: datetime) -> Obligation:
    triggered, reason = _evaluate(rule.trigger, facts)
    base: dict[str, Any] = {
        "id": rule.id,
        "pack_id": pack.id,
        "legal_basis": rule.legal_basis,
        "triggered": triggered,
        "trigger_reason": reason,
        "recipients": list(rule.recipients),
        "report_contents": list(rule.report_contents),
        "period": rule.period.describe(),
        "clock_started_by": rule.clock_starts_at,
    }
    if not triggered:
        return Obligation(**base, clock_start=None, due_at=None, status="not_applicable")

    start: datetime | None = getattr(facts, rule.clock_starts_at)
    due_at, known, notes = (None, True, []) if start is None else _deadline(rule, start, pack.timezone)
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
        status=status,
        done_at=done_at,
        done_late=done_at is not None and due_at is not None and done_at >= due_at,
        waived_reason=waived if status == "waived" else None,
        late_at_detection=due_at is not None and facts.detected_at > due_at,
        notes=notes,
    )


def compute_obligations(pack: IncidentRulePack, facts: IncidentFacts, as_of: datetime) -> list[Obligation]:
    """Evaluate every obligation of ``pack`` for ``facts``, with status as of the aware instant ``as_of``.

    Returns one :class:`Obligation` per pack rule, in pack order (untriggered ones as ``not_applicable``).
    Status precedence: ``done`` (fulfilment instant set and not after ``as_of``; ``done_late`` when at or after
    ``due_at``) > ``waived`` > ``overdue`` (``as_of >= due_at``) > ``pending``. Deadlines follow the pack,
    e.g. Draft Network Data Security Regulations (征求意见稿) Art. 11: 8 hours from ``occurred_at``,
    5 working days from ``handling_completed_at``, 3 working days from ``occurred_at``.
    Raises ``ValueError`` for a naive ``as_of`` or a waiver of an obligation the pack does not let be waived.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    return [_one(rule, pack, facts, as_of) for rule in pack.obligations]
