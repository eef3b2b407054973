"""The incident record served to SOC teams and regulators: the obligations of every pack that applies (the
law in force and, unless disabled, Flowwatch's policy pack), the grade, the regulator-report contents and
the notice to individuals (PIPL Art. 57 para 1).

Only counts, types and the platform's own free-text fields (cause, measures) appear: no PI.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any

import yaml

from flowwatch.detection.categories import default_table
from flowwatch.ids import incident_doc_id
from flowwatch.incidents.aggregate import IncidentState, ProcessorFlags
from flowwatch.incidents.models import AppliedPack, IncidentRecord, IndividualNotice, RegulatorReport
from flowwatch.rules.incident_pack import Citation, IncidentRulePack, packs_for
from flowwatch.rules.obligations import Obligation, compute_obligations

PIPL_ART_57 = Citation(
    document="中华人民共和国个人信息保护法",
    article="Art. 57 para 1",
    quote="发生或者可能发生个人信息泄露、篡改、丢失的，个人信息处理者应当立即采取补救措施，并通知履行个人信息保护职责的部门和个人",
)


INCIDENT_RETENTION = ("kept as long as the longest related record (>= 1,827 days, 5 years); incident records "
                      "include records of provision and entrustment kept >= 3 years (网络数据安全管理条例 Art. 12)")
"""Retention statement of an incident record (the ILM policy is the deployment's: helm ``retention``)."""


@cache
def _notice_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files(__package__).joinpath("notice.yaml").read_text("utf-8"))
    return data


def build_record(
    state: IncidentState, packs: list[IncidentRulePack], now: datetime, profile: ProcessorFlags | None = None
) -> IncidentRecord:
    """The incident record of ``state`` as of ``now`` (aware): the obligations of every pack that applies
    (:func:`flowwatch.rules.incident_pack.packs_for`; law first, then policy; none while ``occurred_at`` is
    unknown or when no pack applies), the grade (from the first pack with a grading guide), the report and
    the notice. ``profile``: the processor's registry flags (``ProcessorProfile``), ``None`` when unknown."""
    obligations: list[Obligation] = []
    applied: list[tuple[IncidentRulePack, str]] = []
    grade: str | None = None
    grade_reason: str | None = None
    facts = state.facts(profile)
    if facts is not None:
        try:
            applied = packs_for(facts.occurred_at, packs, facts.detected_at)
        except LookupError:
            applied = []
        for pack, reason in applied:
            obligations += compute_obligations(pack, facts, now, reason)
            if grade is None and pack.grades:
                grade, why = pack.grade_of(facts.persons)
                grade_reason = f"{why}; {facts.persons_basis} persons"
    first: IncidentRulePack | None = applied[0][0] if applied else None
    return IncidentRecord(
        id=incident_doc_id(state.processor_id, state.incident_id),
        incident_id=state.incident_id,
        processor_id=state.processor_id,
        processor_name=state.processor_name,
        type=state.type,
        status=state.status,
        occurred_at=state.occurred_at,
        detected_at=state.detected_at,
        first_seen_at=state.first_seen_at,
        updated_at=state.updated_at,
        persons=state.persons,
        persons_basis=state.persons_basis,
        persons_counted=state.persons_counted,
        persons_declared=state.persons_declared,
        sensitive_persons=state.sensitive_persons,
        important_data=state.important_data,
        harm_to_individuals=state.harm_to_individuals,
        entity_types=state.entity_types,
        categories=state.categories,
        updates=len(state.update_ids),
        pack_id=first.id if first else None,
        pack_ids=[p.id for p, _ in applied],
        packs=[AppliedPack(id=p.id, kind=p.kind, title=p.title, source_document=p.source_document,
                           window=p.window(), reason=r) for p, r in applied],
        grade=grade,
        grade_reason=grade_reason,
        obligations=obligations,
        report=regulator_report(state, obligations) if facts else None,
        notice=individual_notice(state) if facts else None,
        timeline=state.timeline,
        alerts_raised=state.alerts_raised,
        retention=INCIDENT_RETENTION,
    )


def _types(state: IncidentState) -> list[str]:
    table = default_table()
    sensitive = [c for c in state.categories if table.is_sensitive(c)]
    return state.entity_types + [f"sensitive:{c}" for c in sensitive]


def _impact(state: IncidentState) -> str:
    data = _notice_data()["impact"]
    text = f"涉及{state.persons:,}名自然人的个人信息"
    if state.sensitive_persons:
        text += f"，其中{state.sensitive_persons:,}人的敏感个人信息；{data['sensitive']}"
    else:
        text += f"；{data['general']}"
    if state.important_data:
        text += "；涉及重要数据，可能危害国家安全、经济运行、社会稳定或公共利益"
    return text


def regulator_report(state: IncidentState, obligations: list[Obligation]) -> RegulatorReport:
    """Art. 11 para 2 report contents; ``missing`` lists what the processor still has to supply."""
    missing = [name for name, value in (("measures_taken", state.measures_taken), ("cause", state.cause))
               if not value]
    missing += ["accountability", "improvements"]
    basis = [ob.legal_basis for ob in obligations
             if ob.id in ("regulator_report", "followup_report", "supplementary_report", "summary_report")
             and ob.triggered and ob.binding]
    basis += [ob.legal_basis for ob in obligations
              if ob.id in ("regulator_report", "followup_report") and ob.triggered and not ob.binding]
    return RegulatorReport(
        incident_id=state.incident_id,
        processor_id=state.processor_id,
        processor_name=state.processor_name,
        legal_basis=basis,
        quantity_persons=state.persons,
        quantity_basis=state.persons_basis,
        quantity_records=state.records_declared or None,
        sensitive_persons=state.sensitive_persons,
        data_types=_types(state),
        important_data=state.important_data,
        important_data_refs=state.important_data_refs,
        possible_impact=_impact(state),
        measures=state.measures_taken,
        cause=state.cause,
        consequences=_impact(state) if state.handling_completed_at else None,
        accountability=None,
        improvements=None,
        missing=missing,
    )


def individual_notice(state: IncidentState) -> IndividualNotice:
    """PIPL Art. 57 para 1 notice contents: types, cause, possible harm, remedies, what individuals can do,
    the processor's contact (``missing`` when unknown)."""
    data = _notice_data()
    advice = [data["advice"][k] for k in [*state.entity_types, *state.categories] if k in data["advice"]]
    missing = [name for name, value in (("cause", state.cause), ("measures_taken", state.measures_taken)) if not value]
    missing.append("processor_contact")
    return IndividualNotice(
        incident_id=state.incident_id,
        legal_basis=[PIPL_ART_57],
        information_types=_types(state),
        cause=state.cause,
        possible_harm=_impact(state),
        remedial_measures=state.measures_taken,
        what_individuals_can_do=list(dict.fromkeys(advice)) or [data["default"]],
        processor_contact=None,
        missing=missing,
    )
