"""The incident update an incident flow event contributes (its ``incident`` object: ``schemas/flow-event.v1.json``)."""

from __future__ import annotations

from flowwatch.findings import PersonKeys
from flowwatch.incidents.models import IncidentUpdate
from flowwatch.models import Finding, FlowEvent


def update_from_event(event: FlowEvent, finding: Finding, keys: PersonKeys) -> IncidentUpdate | None:
    """The ``IncidentUpdate`` of an event of kind ``incident`` (None for other events).

    ``received_at`` is the event's ``emitted_at`` (else the incident's ``detected_at``), not the clock, so a
    replayed event yields the same update. Persons are the keyed hashes of ``keys``; the entity types and
    PIPL categories come from the event's finding. Important data: ``dataset.important_data`` present.
    """
    incident = event.incident
    if incident is None:
        return None
    dataset = event.dataset
    important = dataset is not None and dataset.important_data is not None
    return IncidentUpdate(
        processor_id=event.processor.id,
        processor_name=event.processor.name,
        incident_id=incident.incident_id,
        update_id=event.event_id,
        source="event",
        received_at=event.emitted_at or incident.detected_at,
        occurred_at=event.occurred_at,
        detected_at=incident.detected_at,
        type=incident.type,
        status=incident.status,
        harm_to_individuals=incident.harm_to_individuals,
        affected_subject_count=incident.affected_subject_count,
        record_count=dataset.record_count if dataset else None,
        handling_completed_at=incident.handling_completed_at,
        cause=incident.cause,
        measures_taken=incident.measures_taken,
        reported_at=incident.reported_at,
        followup_reported_at=incident.followup_reported_at,
        notified_at=incident.notified_at,
        waivers={ob: reason for ob, reason in (incident.waivers or {}).items()},
        regulator_required_notice=incident.regulator_required_notice,
        security_defect=incident.security_defect,
        important_data=important,
        important_data_refs=[dataset.important_data.catalogue_ref] if dataset and dataset.important_data else [],
        person_keys=sorted(keys.all),
        sensitive_person_keys=sorted(keys.sensitive),
        entity_types=finding.entity_types,
        categories=finding.categories,
    )
