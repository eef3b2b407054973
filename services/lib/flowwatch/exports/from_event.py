"""The export update a flow event contributes to the egress agent, if it leaves (or may leave) the country."""

from __future__ import annotations

from flowwatch.detection.categories import default_table
from flowwatch.exports.models import ExportUpdate
from flowwatch.findings import PersonKeys
from flowwatch.models import Finding, FlowEvent
from flowwatch.regions import export_kind


def update_from_event(event: FlowEvent, finding: Finding, keys: PersonKeys) -> ExportUpdate | None:
    """An ``ExportUpdate`` when ``event`` is an export (destination outside mainland China, HK/MO/TW
    included, or remote access from outside), or carries PI to a destination that could not be resolved;
    None for domestic flows, deletions and events that name no destination at all.

    PI is present when the scan found PI (any category but ``not_pi``), the platform sent subject keys, or
    the dataset declares PI types. ``persons_in_flow``: distinct person keys, else the declared record count.
    A dataset that declares a sensitive category (PIPL Art. 28: ``biometric``, ``medical_health``, …) makes
    every person of the flow count as sensitive (``sensitive_declared`` says why), even where the sample
    records show no sensitive PI: the declaration describes the whole dataset, the records only a sample.
    """
    kind = export_kind(event)
    pi_types = [e for e in finding.entities if e.category != "not_pi"]
    dataset = event.dataset
    has_pi = bool(pi_types or keys.all or (dataset and dataset.declared_pi_types))
    if kind.is_export is False or (kind.is_export is None and (event.destination is None or not has_pi)):
        return None
    dest = event.destination
    table = default_table()
    declared = sorted({c for c in (dataset.declared_pi_types or []) if table.is_sensitive(c)}) if dataset else []
    sensitive = sorted(keys.all | keys.sensitive) if declared else sorted(keys.sensitive)
    return ExportUpdate(
        processor_id=event.processor.id,
        processor_name=event.processor.name,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        activity=event.activity,
        recipient=dest.recipient if dest else None,
        recipient_type=dest.recipient_type if dest else None,
        purpose=event.purpose,
        destination_region=kind.resolution.region,
        destination_city=dest.city if dest else None,
        resolution_basis=kind.resolution.basis,
        is_export=kind.is_export,
        export_reason=kind.reason,
        onward_regions=list(dest.onward_regions or []) if dest else [],
        exemption_claim=event.exemption_claim,
        important_data=bool(dataset and dataset.important_data),
        important_data_refs=[dataset.important_data.catalogue_ref] if dataset and dataset.important_data else [],
        has_pi=has_pi,
        persons_in_flow=len(keys.all) or (dataset.record_count if dataset else 0),
        person_keys=sorted(keys.all),
        sensitive_person_keys=sensitive,
        sensitive_declared=declared,
        entity_types=finding.entity_types,
        categories=finding.categories,
    )
