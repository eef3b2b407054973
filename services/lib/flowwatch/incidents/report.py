"""The incident record served to SOC teams and regulators: obligations, the regulator-report contents
(Draft Network Data Security Regs Art. 11 para 2) and the notice to individuals (PIPL Art. 57 para 1).

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
from flowwatch.incidents.aggregate import IncidentState
from flowwatch.incidents.models import IncidentRecord, IndividualNotice, RegulatorReport
from flowwatch.rules.incident_pack import Citation, IncidentRulePack, pack_for
from flowwatch.rules.obligations import Obligation, compute_obligations

PIPL_ART_57 = Citation(
    document="中华人民共和国个人信息保护法",
    article="Art. 57 para 1",
    quote="发生或者可能发生个人信息泄露、篡改、丢失的，个人信息处理者应当立即采取补救措施，并通知履行个人信息保护职责的部门和个人",
)


@cache
def _notice_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files(__package__).joinpath("notice.yaml").read_text("utf-8"))
    return data


def build_record(state: IncidentState, packs: list[IncidentRulePack], now: datetime) -> IncidentRecord:
    """The incident record of ``state`` as of ``now`` (aware): obligations from the pack selected by
    ``occurred_at`` (none while it is unknown), the report and the notice."""
    obligations: list[Obligation] = []
    pack: IncidentRulePack | None = None
    facts = state.facts()
    if facts is not None:
        pack = pack_for(facts.occurred_at, packs)
        obligations = compute_obligations(pack, facts, now)
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
        pack_id=pack.id if pack else None,
        obligations=obligations,
        report=regulator_report(state, obligations) if facts else None,
        notice=individual_notice(state) if facts else None,
        timeline=state.timeline,
        alerts_raised=state.alerts_raised,
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
    basis = [ob.legal_basis for ob in obligations if ob.id in ("regulator_report", "followup_report") and ob.triggered]
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
