"""Processor-level duties of the Network Data Security Management Regulations (Decree 790, in force
2025-01-01) that no single incident triggers: the yearly risk assessment of important-data processors
(Art. 33) with its due date and alerts, and the 3-year retention of records of provision and entrustment
(Art. 12). Rules are data (``processor_duties.yaml``); see docs/law.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field

from flowwatch.alerts import Alert, Severity
from flowwatch.exports.rules import ProcessorProfile
from flowwatch.ids import alert_id
from flowwatch.rules.incident_pack import Citation
from flowwatch.workdays import DEFAULT_TZ, end_of_day


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RiskAssessmentRule(_Strict):
    """Art. 33 as data: from when, due at the end of the year, the due-soon lead, recipients, contents."""

    effective_from: date
    due: Literal["end_of_year"]
    lead_days: int = Field(ge=1)
    recipients: list[str]
    legal_basis: Citation
    report_contents: list[str]
    open_questions: list[str] = Field(default_factory=list)


class RetentionRule(_Strict):
    """Art. 12 as data: minimum days records of provision and entrustment are kept."""

    records_of_provision_days: int = Field(ge=1)
    legal_basis: Citation
    applies_to: list[str]
    open_questions: list[str] = Field(default_factory=list)


class ProcessorDuties(_Strict):
    """The packaged processor duties."""

    risk_assessment: RiskAssessmentRule
    retention: RetentionRule


@cache
def processor_duties() -> ProcessorDuties:
    """The packaged ``processor_duties.yaml`` (validated; raises ``pydantic.ValidationError`` if broken)."""
    raw: dict[str, Any] = yaml.safe_load(files(__package__).joinpath("processor_duties.yaml").read_text("utf-8"))
    return ProcessorDuties.model_validate(raw)


class RiskAssessmentDuty(_Strict):
    """The yearly risk-assessment obligation of one processor for one year (Decree 790 Art. 33).

    ``applies``: the processor holds data notified or published as important data (its profile lists
    catalogue entries; Art. 29 / 2024 Provisions Art. 2) and the year is on or after 2025. ``due_at``: 24:00
    local of 31 December of ``year`` (exclusive). ``status``: ``done`` (``submitted_on`` set), ``overdue``,
    ``pending`` or ``not_applicable``. Always binding law (``binding``), with the article and why it applies.
    """

    processor_id: str
    year: int
    applies: bool
    reason: str
    binding: bool = True
    legal_basis: Citation
    recipients: list[str]
    report_contents: list[str]
    due_at: datetime | None
    status: Literal["pending", "done", "overdue", "not_applicable"]
    submitted_on: date | None = None
    open_questions: list[str]


def risk_assessment_duty(
    profile: ProcessorProfile, year: int, as_of: datetime, submitted_on: date | None = None, tz: str = DEFAULT_TZ
) -> RiskAssessmentDuty:
    """Evaluate Art. 33 for ``profile`` in ``year`` as of the aware instant ``as_of``.

    Example: a processor with catalogue refs, year 2026, as of 2026-12-31 23:59 local → ``pending``, due
    2027-01-01T00:00+08:00; as of that instant → ``overdue``. Raises ``ValueError`` for a naive ``as_of``.
    """
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    rule = processor_duties().risk_assessment
    base: dict[str, Any] = {"processor_id": profile.processor_id, "year": year, "legal_basis": rule.legal_basis,
                            "recipients": rule.recipients, "report_contents": rule.report_contents,
                            "open_questions": rule.open_questions, "submitted_on": submitted_on}
    if year < rule.effective_from.year:
        return RiskAssessmentDuty(**base, applies=False, due_at=None, status="not_applicable",
                                  reason=f"{year} is before {rule.legal_basis.document} ({rule.effective_from})")
    if not profile.important_data_catalogue_refs:
        return RiskAssessmentDuty(**base, applies=False, due_at=None, status="not_applicable",
                                  reason="the processor's profile names no important-data catalogue entry")
    due_at = end_of_day(date(year, 12, 31), tz)
    status: Literal["pending", "done", "overdue"] = (
        "done" if submitted_on is not None else "overdue" if as_of >= due_at else "pending"
    )
    refs = ", ".join(profile.important_data_catalogue_refs)
    return RiskAssessmentDuty(**base, applies=True, due_at=due_at, status=status,
                              reason=f"important-data processor (catalogue {refs}); yearly assessment for {year}")


def risk_assessment_alerts(duty: RiskAssessmentDuty, now: datetime, raised: set[str]) -> list[Alert]:
    """Alerts of ``duty`` due at ``now`` whose dedup key is not in ``raised``: ``risk_assessment_due_soon``
    (from ``lead_days`` before ``due_at``, medium) and ``risk_assessment_overdue`` (at ``due_at``, high).
    Dedup key ``processor|risk_assessment|year|kind``; nothing once done or when it does not apply."""
    if not duty.applies or duty.due_at is None or duty.status == "done":
        return []
    rule = processor_duties().risk_assessment
    out: list[Alert] = []
    soon = duty.due_at - timedelta(days=rule.lead_days)
    if now < soon:
        return []
    kind = "overdue" if now >= duty.due_at else "due_soon"
    key = f"{duty.processor_id}|risk_assessment|{duty.year}|{kind}"
    if key in raised:
        return []
    what = "Overdue" if kind == "overdue" else "Due soon"
    out.append(Alert(
        alert_id=alert_id(key), dedup_key=key, type=f"risk_assessment_{kind}",
        severity=Severity.HIGH if kind == "overdue" else Severity.MEDIUM, processor_id=duty.processor_id,
        due_at=duty.due_at, rule_pack="processor_duties", legal_basis=duty.legal_basis,
        title=f"[law] {what}: yearly risk assessment {duty.year}",
        message=(f"{duty.processor_id}: the {duty.year} risk assessment report to {', '.join(duty.recipients)} is due "
                 f"before {duty.due_at.isoformat()} ({duty.reason}). Basis (binding law): "
                 f"{duty.legal_basis.document} {duty.legal_basis.article}. The regulation sets no date; Flowwatch "
                 "uses the end of the year."),
        raised_at=now,
    ))  # fmt: skip
    return out


def registry_duty_alerts(
    profiles: Iterable[ProcessorProfile], now: datetime, raised: set[str], tz: str = DEFAULT_TZ
) -> list[Alert]:
    """Decree 790 Art. 33 alerts due at ``now`` for each registered profile: the yearly risk assessment of the
    current local year (due soon in its last ``lead_days``) and of the year before (overdue once it ended).
    Adds the dedup keys to ``raised``. No input records a submitted report yet, so an overdue alert stays until
    the SOC resolves it (docs/law.md). Raises ``ValueError`` for a naive ``now``."""
    year = now.astimezone(ZoneInfo(tz)).year
    out: list[Alert] = []
    for profile in profiles:
        for y in (year - 1, year):
            for alert in risk_assessment_alerts(risk_assessment_duty(profile, y, now, tz=tz), now, raised):
                raised.add(alert.dedup_key)
                out.append(alert)
    return out


def retention_note() -> str:
    """One line saying how long records of provision and entrustment are kept and why (Decree 790 Art. 12),
    e.g. ``kept >= 1,096 days (3 years): 网络数据安全管理条例（国务院令第790号） Art. 12``."""
    rule = processor_duties().retention
    return (f"kept >= {rule.records_of_provision_days:,} days (3 years): {rule.legal_basis.document} "
            f"{rule.legal_basis.article}")
