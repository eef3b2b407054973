"""Deadline alerts of incident obligations: due soon, overdue, and late at detection — each raised once.

Every alert names its pack and says whether the obligation is binding law or Flowwatch policy (title
prefix ``[law]`` / ``[policy]``, and ``rule_pack``). Obligations without a deadline instant (立即/及时, no
figure) raise nothing. Lead times: before an hour-based deadline, 2 hours or half the period if shorter
(the 4-hour report: 2 hours; the 1-hour CII report: 30 minutes); one day — 24 hours before the end of the
last day — for working-day and day deadlines (notice to individuals, follow-up and summary reports). An
obligation done or waived raises nothing more. An incident detected after its deadline raises the overdue
alert at once, saying so, with severity critical. Each alert's dedup key is recorded in the incident state
(a changelogged Faust table), so a restarted worker does not raise it again; its id is a hash of that key,
so a replayed alert overwrites itself in Elasticsearch.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flowwatch.alerts import Alert, Severity
from flowwatch.ids import alert_id
from flowwatch.incidents.aggregate import IncidentState
from flowwatch.rules.incident_pack import IncidentRulePack
from flowwatch.rules.obligations import Obligation

HOURS_LEAD = timedelta(hours=2)
WORKING_DAY_LEAD = timedelta(days=1)
"""A working-day deadline ends at 24:00 of its last working day: one day earlier is that day's start."""

LEGACY_KEY_PACKS = frozenset({"cn_incident_draft_2021"})
"""Packs whose alert dedup keys keep the form they had before several packs applied at once
(``processor|incident|obligation|kind``), so an upgrade raises none of their alerts twice."""

_NAMES = {
    "regulator_report": "report to the regulator",
    "followup_report": "follow-up report to the regulator",
    "notify_individuals": "notice to affected individuals",
    "supplementary_report": "supplementary report to the regulator",
    "summary_report": "handling summary report to the regulator",
    "vulnerability_report": "report of a defect or vulnerability",
}


def lead_time(obligation: Obligation, pack: IncidentRulePack | None = None) -> timedelta:
    """How long before ``due_at`` the due-soon alert fires: for an hour-based period ``min(2 h, period/2)``,
    otherwise one day. ``pack`` is not needed (the obligation carries its period) and kept for callers."""
    if obligation.period_hours is not None:
        return min(HOURS_LEAD, timedelta(hours=obligation.period_hours) / 2)
    return WORKING_DAY_LEAD


def dedup_key(state: IncidentState, obligation: Obligation, kind: str) -> str:
    """``processor|incident|pack|obligation|kind`` — one alert per kind per obligation of each pack per
    incident (``processor|incident|obligation|kind`` for the packs in ``LEGACY_KEY_PACKS``)."""
    if obligation.pack_id in LEGACY_KEY_PACKS:
        return f"{state.processor_id}|{state.incident_id}|{obligation.id}|{kind}"
    return f"{state.processor_id}|{state.incident_id}|{obligation.pack_id}|{obligation.id}|{kind}"


def _label(ob: Obligation) -> str:
    return "[law]" if ob.binding else "[policy]"


def _basis(ob: Obligation) -> str:
    kind = "binding law" if ob.binding else "Flowwatch policy, not binding law"
    text = f"Basis ({kind}, pack {ob.pack_id}): {ob.legal_basis.document} {ob.legal_basis.article}."
    return text + (" Deadline estimated (holiday arrangement not published)." if ob.estimated else "")


def due_alerts(
    state: IncidentState, obligations: list[Obligation], pack: IncidentRulePack | None, now: datetime
) -> list[Alert]:
    """Alerts that are due at ``now`` (aware) and not yet in ``state.alerts_raised``. Does not record them:
    the caller appends their dedup keys to the state once the alerts are sent. ``pack`` is not needed (each
    obligation names its pack) and kept for callers."""
    out: list[Alert] = []
    for ob in obligations:
        if not ob.triggered or ob.due_at is None or ob.status in ("done", "waived", "not_applicable"):
            continue
        critical = ob.id in ("regulator_report", "vulnerability_report")
        if now >= ob.due_at:
            key = dedup_key(state, ob, "overdue")
            if key in state.alerts_raised:
                continue
            late = ob.late_at_detection
            title = f"{_label(ob)} {'Detected after the deadline' if late else 'Overdue'}: {_NAMES.get(ob.id, ob.id)}"
            message = (
                f"Incident {state.incident_id} of {state.processor_id}: the {_NAMES.get(ob.id, ob.id)} was due at "
                f"{ob.due_at.isoformat()} ({ob.period} from {ob.clock_started_by}) and is not recorded as done. "
                + ("The incident was detected only after that deadline. " if late else "")
                + f"Trigger: {ob.trigger_reason}. {_basis(ob)}"
            )
            severity = Severity.CRITICAL if critical or late else Severity.HIGH
            out.append(_alert(state, ob, pack, key, "obligation_overdue", severity, title, message, now))
        elif now >= ob.due_at - lead_time(ob, pack):
            key = dedup_key(state, ob, "due_soon")
            if key in state.alerts_raised:
                continue
            left = ob.due_at - now
            title = f"{_label(ob)} Due soon: {_NAMES.get(ob.id, ob.id)}"
            message = (
                f"Incident {state.incident_id} of {state.processor_id}: the {_NAMES.get(ob.id, ob.id)} is due at "
                f"{ob.due_at.isoformat()}, in {_human(left)}. Trigger: {ob.trigger_reason}. {_basis(ob)}"
            )
            severity = Severity.HIGH if critical else Severity.MEDIUM
            out.append(_alert(state, ob, pack, key, "obligation_due_soon", severity, title, message, now))
    return out


def next_alert_at(
    state: IncidentState, obligations: list[Obligation], pack: IncidentRulePack | None = None
) -> datetime | None:
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
    pack: IncidentRulePack | None,
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
        rule_pack=ob.pack_id,
        legal_basis=ob.legal_basis,
        title=title,
        message=message,
        raised_at=now,
    )


def _human(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
