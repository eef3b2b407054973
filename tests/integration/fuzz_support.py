"""Seed data and leak detection for the API fuzz tests (tests/integration/test_api_fuzz.py).

Two tenants, built from the real models and stored the way the indexer stores them (document id = the
record's id): ``TENANT_A`` and ``TENANT_B``. Every identifier of tenant B contains ``SECRET_MARK`` or is a
hash listed in ``Seeded.secrets``, so a response can be searched for anything of B's.

Both tenants deliberately share an event id (``SHARED_EVENT``) and an incident id (``SHARED_INCIDENT``):
asking for those by id is where a tenant filter is easiest to forget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from elasticsearch import Elasticsearch, helpers

from flowwatch.alerts import Alert, Severity, TriageEntry
from flowwatch.audit import Actor, AuditRecord, write_audit
from flowwatch.es_indices import (
    alerts_index,
    findings_index,
    incidents_index,
    ledger_index,
    registry_index,
)
from flowwatch.exports.models import LedgerRecord, ThresholdProgress
from flowwatch.exports.rules import FiledMechanism, Mechanism, ProcessorProfile
from flowwatch.ids import finding_id
from flowwatch.incidents.aggregate import IncidentState, SetPersonStore
from flowwatch.incidents.models import IncidentRecord, IncidentUpdate
from flowwatch.incidents.report import build_record
from flowwatch.models import EntitySummary, EventKind, Finding, SubjectCountBasis
from flowwatch.registry.models import RESTRICTIONS_KEY, RegistryEntry, RestrictedRecipient, RestrictionList
from flowwatch.rules.export_pack import export_pack_for, load_export_packs, window_id, window_start
from flowwatch.rules.incident_pack import Citation, load_packs
from flowwatch.stored_form import finding_source, incident_source

SECRET_MARK = "tenant-b-secret"
"""Contained in every string identifier of tenant B (processor id, name, event/alert/incident/audit ids…)."""
TENANT_A = "tenant-a-proc"
TENANT_B = f"{SECRET_MARK}-proc"
SHARED_EVENT = "evt-shared"
SHARED_INCIDENT = "inc-shared"
NOW = datetime.now(UTC).replace(microsecond=0)
OLD = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
CITATION = Citation(document="网络数据安全管理条例", article="Art. 11")


def person_key(tenant: str, i: int) -> str:
    return hashlib.sha256(f"{tenant}-person-{i}".encode()).hexdigest()


def make_finding(tenant: str, event_id: str, occurred_at: datetime, sensitive: bool) -> Finding:
    """A finding with masked samples only."""
    types = ["CN_RESIDENT_ID", "EMAIL_ADDRESS"] if sensitive else ["EMAIL_ADDRESS"]
    category = {"CN_RESIDENT_ID": "specific_identity", "EMAIL_ADDRESS": "general"}
    entities = [
        EntitySummary(type=t, category=category[t], sensitive=category[t] != "general", count=1, fields=["body"],
                      masked_samples=["k***@example.com" if t == "EMAIL_ADDRESS" else "1**************2"])
        for t in types
    ]
    return Finding(
        finding_id=finding_id(tenant, event_id), event_id=event_id, processor_id=tenant,
        processor_name=f"{tenant}-name", kind=EventKind.TRANSFER, occurred_at=occurred_at,
        detected_at=occurred_at + timedelta(seconds=2), source_region="CN", destination_region="HK",
        entity_types=types, categories=sorted({e.category for e in entities}), sensitive=sensitive,
        entity_counts=dict.fromkeys(types, 1), entities=entities, distinct_subjects=1,
        subject_count_basis=SubjectCountBasis.IDENTIFIERS, record_count=1, text_chars=0, detector_version="fuzz",
    )


def make_incident(tenant: str, incident_id: str, occurred_at: datetime) -> IncidentRecord:
    """The record the incident agent builds from one event-sourced update."""
    upd = IncidentUpdate.model_validate({
        "processor_id": tenant, "incident_id": incident_id, "update_id": f"{tenant}-{incident_id}-u1",
        "source": "event", "received_at": occurred_at + timedelta(minutes=10), "occurred_at": occurred_at,
        "detected_at": occurred_at + timedelta(minutes=5), "type": "leak", "status": "occurred",
        "harm_to_individuals": True, "person_keys": [person_key(tenant, i) for i in range(3)],
        "entity_types": ["EMAIL_ADDRESS"], "categories": ["general"], "processor_name": f"{tenant}-name",
        "cause": f"{tenant} bucket made public",
    })
    state = IncidentState.new(upd)
    state.apply(upd, SetPersonStore())
    return build_record(state, load_packs(), occurred_at + timedelta(minutes=10))


def make_alert(tenant: str, n: int, incident_id: str, raised_at: datetime, triaged: bool) -> Alert:
    history = [TriageEntry(at=raised_at + timedelta(minutes=1), actor=f"{tenant}-ops", role="platform",
                           action="acknowledge", reason=f"{tenant} looked at it")] if triaged else []
    return Alert(
        alert_id=f"{tenant}-alert-{n}", dedup_key=f"{tenant}|{incident_id}|regulator_report|overdue",
        type="obligation_overdue", severity=Severity.CRITICAL if n == 1 else Severity.HIGH, processor_id=tenant,
        incident_id=incident_id, obligation="regulator_report", due_at=raised_at - timedelta(hours=1),
        rule_pack="cn_incident_draft_2021", legal_basis=CITATION, title=f"Overdue report of {tenant}",
        message=f"{tenant}: report overdue", raised_at=raised_at,
        status="acknowledged" if triaged else "open", assignee=f"{tenant}-ops" if triaged else None,
        status_reason=f"{tenant} looked at it" if triaged else None,
        updated_at=raised_at + timedelta(minutes=1) if triaged else None, history=history,
    )


def make_ledger(tenant: str, at: datetime, persons: int) -> LedgerRecord:
    pack = export_pack_for(at, load_export_packs())
    window = window_id(pack, at)
    return LedgerRecord(
        id=f"{tenant}|{window}", processor_id=tenant, processor_name=f"{tenant}-name", pack_id=pack.id,
        window_id=window, window_start=window_start(pack, at), persons=persons, sensitive_persons=persons // 10,
        flows=persons // 2, required_mechanism="standard_contract", required_reasons=[f"{persons} persons"],
        mechanisms_on_file=[f"{tenant}-mech"],
        thresholds=[ThresholdProgress(name=t.id, counter=t.metric, threshold=t.at_least, value=persons,
                                      reached=persons >= t.at_least, article=t.legal_basis.article)
                    for t in pack.volume_thresholds],
        updated_at=at,
    )


def make_registry(tenant: str) -> RegistryEntry:
    return RegistryEntry(
        processor_id=tenant,
        profile=ProcessorProfile(processor_id=tenant, gba_city="Shenzhen",
                                 important_data_catalogue_refs=[f"{tenant}-catalogue"]),
        mechanisms=[FiledMechanism(id=f"{tenant}-mech", type=Mechanism.STANDARD_CONTRACT, scope_regions=["HK"],
                                   scope_recipients=[f"{tenant} HK Ltd"], issued_on=date(2025, 1, 6))],
        updated_at=NOW - timedelta(hours=1), updated_by=f"{tenant}-ops",
    )


def make_audit(tenant: str, key_id: str, alert: Alert) -> AuditRecord:
    return AuditRecord(
        audit_id=f"{tenant}-audit-1", at=NOW - timedelta(minutes=30),
        actor=Actor(key_id=key_id, name=f"{tenant}-ops", role="platform"), action="alert.acknowledge",
        target_type="alert", target_id=alert.alert_id, processor_id=tenant, reason=f"{tenant} looked at it",
        details={"status": "acknowledged"},
    )


@dataclass
class Tenant:
    """What was stored for one tenant."""

    processor_id: str
    findings: list[Finding] = field(default_factory=list)
    incidents: list[IncidentRecord] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    ledger: list[LedgerRecord] = field(default_factory=list)
    registry: RegistryEntry | None = None
    audit: list[AuditRecord] = field(default_factory=list)

    def ids(self) -> list[str]:
        """Every id or name a client could pass back: processor (id, name, its operator's key name), events,
        findings, incidents, alerts, ledger records, audit records, mechanisms."""
        out = [self.processor_id, f"{self.processor_id}-name", f"{self.processor_id}-ops"]
        out += [v for f in self.findings for v in (f.finding_id, f.event_id)]
        out += [v for r in self.incidents for v in (r.id, r.incident_id)]
        out += [v for a in self.alerts for v in (a.alert_id, a.dedup_key)]
        out += [r.id for r in self.ledger] + [r.window_id for r in self.ledger]
        out += [r.audit_id for r in self.audit]
        if self.registry:
            out += [m.id for m in self.registry.mechanisms]
        return list(dict.fromkeys(out))


def seed_tenant(es: Elasticsearch, prefix: str, tenant: str, key_id: str) -> Tenant:
    """Store findings, incidents, alerts, a ledger record, a registry entry and an audit record of ``tenant``."""
    t = Tenant(tenant)
    t.findings = [
        make_finding(tenant, f"{tenant}-evt-1", NOW - timedelta(hours=5), sensitive=True),
        make_finding(tenant, f"{tenant}-evt-2", NOW - timedelta(days=3), sensitive=False),
        make_finding(tenant, SHARED_EVENT, NOW - timedelta(days=1), sensitive=True),
        make_finding(tenant, f"{tenant}-evt-old", OLD, sensitive=False),
    ]
    t.incidents = [
        make_incident(tenant, f"{tenant}-inc-1", NOW - timedelta(hours=2)),
        make_incident(tenant, SHARED_INCIDENT, NOW - timedelta(days=2)),
    ]
    t.alerts = [
        make_alert(tenant, 1, f"{tenant}-inc-1", NOW - timedelta(minutes=50), triaged=False),
        make_alert(tenant, 2, SHARED_INCIDENT, OLD, triaged=True),
    ]
    t.ledger = [make_ledger(tenant, NOW, 1200)]
    t.registry = make_registry(tenant)
    t.audit = [make_audit(tenant, key_id, t.alerts[1])]
    actions: list[dict[str, Any]] = [
        {"_index": findings_index(prefix, f.occurred_at), "_id": f.finding_id, "_source": finding_source(f)}
        for f in t.findings
    ]
    actions += [{"_index": incidents_index(prefix), "_id": r.id, "_source": incident_source(r)}
                for r in t.incidents]
    actions += [{"_index": alerts_index(prefix, a.raised_at), "_id": a.alert_id, "_source": a.model_dump(mode="json")}
                for a in t.alerts]
    actions += [{"_index": ledger_index(prefix), "_id": r.id, "_source": r.model_dump(mode="json")} for r in t.ledger]
    actions.append({"_index": registry_index(prefix), "_id": tenant, "_source": t.registry.model_dump(mode="json")})
    ok, errors = helpers.bulk(es, actions, refresh="wait_for")
    assert ok == len(actions) and not errors, errors
    for record in t.audit:
        write_audit(es, prefix, record)
    return t


def seed_restrictions(es: Elasticsearch, prefix: str) -> RestrictionList:
    """A restriction list (no tenant data in it)."""
    restrictions = RestrictionList(recipients=[RestrictedRecipient(name="Blocked Corp", reason="listed")],
                                   updated_at=NOW - timedelta(hours=3), updated_by="admin")
    es.index(index=registry_index(prefix), id=RESTRICTIONS_KEY, document=restrictions.model_dump(mode="json"),
             refresh="wait_for")
    return restrictions


# ---------------------------------------------------------------------------------------------------
# Leak detection
# ---------------------------------------------------------------------------------------------------


def leaked(secrets: list[str], status: int, body: str, url: str, request_body: str) -> list[str]:
    """Tenant-B strings of ``secrets`` found in a response that the request does not explain.

    A 2xx answer may hold a secret only as an echo of the request body (e.g. a note the caller wrote), at
    most as often as the body holds it: an id or filter in the URL never licenses one. An error answer
    (4xx) may repeat what the request said (validation errors echo the input) but nothing else.
    """
    url = unquote(url)
    found: list[str] = []
    for secret in secrets:
        n = body.count(secret)
        if not n:
            continue
        if 200 <= status < 300:
            allowed = request_body.count(secret)
        else:
            allowed = n if (secret in url or secret in request_body) else 0
        if n > allowed:
            found.append(secret)
    return found
