"""Deadline alerts of incident obligations: due soon, overdue, and late at detection — each raised once.

Lead times (issue 4; override per call): 2 hours before an hour-based deadline (the 8-hour report to the
regulator, Draft Network Data Security Regs Art. 11 para 2(1)); one working day — 24 hours before the end
of the last working day — for working-day deadlines (follow-up report, notice to individuals). An
obligation done or waived raises nothing more. An incident detected after its deadline raises the overdue
alert at once, saying so, with severity critical. Each alert's dedup key is recorded in the incident state
(a changelogged Faust table), so a restarted worker does not raise it again; its id is a hash of that key,
so a replayed alert overwrites itself in Elasticsearch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flowwatch.ids import alert_id
from flowwatch.incidents.aggregate import IncidentState
from flowwatch.incidents.models import Alert, Severity
from flowwatch.rules.incident_pack import IncidentRulePack
from flowwatch.rules.obligations import Obligation

HOURS_LEAD = timedelta(hours=2)
WORKING_DAY_LEAD = timedelta(days=1)
"""A working-day deadline ends at 24:00 of its last working day: one day earlier is that day's start."""

_NAMES = {
    "regulator_report": "report to the regulator",
    "followup_report": "follow-up report to the regulator",
    "notify_individuals": "notice to affected individuals",
}


def lead_time(obligation: Obligation, pack: IncidentRulePack) -> timedelta:
    """How long before ``due_at`` the due-soon alert fires for this obligation's period."""
    rule = next(r for r in pack.obligations if r.id == obligation.id)
    return HOURS_LEAD if rule.period.hours is not None else WORKING_DAY_LEAD


def dedup_key(state: IncidentState, obligation: Obligation, kind: str) -> str:
    """``processor|incident|obligation|kind`` — one alert per kind per obligation per incident."""
    return f"{state.processor_id}|{state.incident_id}|{obligation.id}|{kind}"


def due_alerts(
    state: IncidentState, obligations: list[Obligation], pack: IncidentRulePack, now: datetime
) -> list[Alert]:
    """Alerts that are due at ``now`` (aware) and not yet in ``state.alerts_raised``. Does not record them:
    the caller appends their dedup keys to the state once the alerts are sent."""
    out: list[Alert] = []
    for ob in obligations:
        if not ob.triggered or ob.due_at is None or ob.status in ("done", "waived", "not_applicable"):
            continue
        critical = ob.id == "regulator_report"
        if now >= ob.due_at:
            key = dedup_key(state, ob, "overdue")
            if key in state.alerts_raised:
                continue
            late = ob.late_at_detection
            title = f"{'Detected after the deadline' if late else 'Overdue'}: {_NAMES.get(ob.id, ob.id)}"
            message = (
                f"Incident {state.incident_id} of {state.processor_id}: the {_NAMES.get(ob.id, ob.id)} was due at "
                f"{ob.due_at.isoformat()} ({ob.period} from {ob.clock_started_by}) and is not recorded as done. "
                + ("The incident was detected only after that deadline. " if late else "")
                + f"Trigger: {ob.trigger_reason}. Basis: {ob.legal_basis.document} {ob.legal_basis.article}."
            )
            severity = Severity.CRITICAL if critical or late else Severity.HIGH
            out.append(_alert(state, ob, pack, key, "obligation_overdue", severity, title, message, now))
        elif now >= ob.due_at - lead_time(ob, pack):
            key = dedup_key(state, ob, "due_soon")
            if key in state.alerts_raised:
                continue
            left = ob.due_at - now
            title = f"Due soon: {_NAMES.get(ob.id, ob.id)}"
            message = (
                f"Incident {state.incident_id} of {state.processor_id}: the {_NAMES.get(ob.id, ob.id)} is due at "
                f"{ob.due_at.isoformat()}, in {_human(left)}. Trigger: {ob.trigger_reason}. "
                f"Basis: {ob.legal_basis.document} {ob.legal_basis.article}."
            )
            severity = Severity.HIGH if critical else Severity.MEDIUM
            out.append(_alert(state, ob, pack, key, "obligation_due_soon", severity, title, message, now))
    return out


def next_alert_at(state: IncidentState, obligations: list[Obligation], pack: IncidentRulePack) -> datetime | None:
    """The earliest future instant at which ``due_alerts`` could return something new, or None."""
    times = []
    for ob in obligations:
        if not ob.triggered or ob.due_at is None or ob.status in ("done", "waived", "not_applicable"):
            continue
        if dedup_key(state, ob, "due_soon") not in state.alerts_raised:
            times.append(ob.due_at - lead_time(ob, pack))
        if dedup_key(state, ob, "overdue") not in state.alerts_raised:
            times.append(ob.due_at)
    return min(times, default=None)


def _alert(
    state: IncidentState,
    ob: Obligation,
    pack: IncidentRulePack,
    key: str,
    kind: str,
    severity: Severity,
    title: str,
    message: str,
    now: datetime,
) -> Alert:
    return Alert(
        alert_id=alert_id(key),
        dedup_key=key,
        type=kind,
        severity=severity,
        processor_id=state.processor_id,
        incident_id=state.incident_id,
        obligation=ob.id,
        due_at=ob.due_at,
        rule_pack=pack.id,
        legal_basis=ob.legal_basis,
        title=title,
        message=message,
        raised_at=now,
    )


def _human(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
