"""The egress agent on the real pipeline: the registry written through the API reaches every worker's global
table; export flows (destination declared, known only by IP, or by host) are counted exactly per processor
and window; alerts follow the mechanisms on file; the ledger is indexed and served."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch

from flowwatch.apikeys import Role, create_key
from flowwatch_tools.replay import produce
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def export_event(event_id: str, processor: str, persons: range, destination: dict[str, Any],
                 card: bool = False) -> bytes:  # fmt: skip
    records = [{"name_hash": hashlib.sha256(f"p{i}".encode()).hexdigest()[:16], "mobile": f"138{i:08d}",
                **({"bank_card": "6222021234567890128"} if card and i == persons.start else {})} for i in persons]
    doc = {
        "schema_version": "1.0", "event_id": event_id, "kind": "transfer",
        "occurred_at": datetime.now(UTC).isoformat(), "processor": {"id": processor},
        "source": {"region": "CN"}, "destination": destination, "activity": "export",
        "dataset": {"record_count": len(records)}, "records": records,
    }  # fmt: skip
    return json.dumps(doc).encode()


def test_exports_are_counted_and_judged_against_the_registry(make_stack) -> None:  # type: ignore[no-untyped-def]
    stack = make_stack(broker="noida", workers=1, api=True)
    es = Elasticsearch(stack.state.es_url, request_timeout=30)
    prefix = stack.state.index_prefix
    admin = {"Authorization": f"Bearer {create_key(es, prefix, Role.ADMIN, name='soc-lead')[0]}"}
    api = httpx.Client(base_url=stack.state.api_url, timeout=30)

    entry = {"profile": {"processor_id": "p-covered"},
             "mechanisms": [{"id": "sc-2026", "type": "standard_contract", "issued_on": "2026-01-05"}]}
    assert api.put("/v1/processors/p-covered", json=entry, headers=admin).status_code == 202
    wait_for(lambda: api.get("/v1/processors/p-covered", headers=admin).status_code == 200,
             what="registry indexed", timeout=90)
    time.sleep(3)  # the detector's global table follows the same topic

    bootstrap, topic = stack.state.kafka_bootstrap, stack.topics().flow_events
    produce(bootstrap, topic, [
        export_event("c-1", "p-covered", range(0, 5), {"ip": "8.8.8.8", "recipient": "Acme"}, card=True),  # by IP
        export_event("c-2", "p-covered", range(3, 8), {"host": "crm.example.com.hk", "recipient": "Acme"}),  # by host
        export_event("c-3", "p-covered", range(100, 103), {"region": "CN-GD", "recipient": "Local"}),  # domestic
        export_event("u-1", "p-uncovered", range(0, 4), {"region": "SG", "recipient": "Beta"}, card=True),
    ])  # fmt: skip

    def ledger(processor: str) -> dict[str, Any] | None:
        r = api.get(f"/v1/exports/ledger/{processor}", headers=admin)
        items = r.json().get("items") if r.status_code == 200 else None
        return items[0] if items else None

    covered = wait_for(lambda: (lg := ledger("p-covered")) and lg["flows"] == 2 and lg, what="covered ledger",
                       timeout=90)
    assert (covered["persons"], covered["sensitive_persons"]) == (8, 1)  # persons 3–4 once; c-3 is domestic
    assert covered["required_mechanism"] == "standard_contract" and covered["mechanisms_on_file"] == ["sc-2026"]
    uncovered = wait_for(lambda: ledger("p-uncovered"), what="uncovered ledger", timeout=90)
    assert (uncovered["persons"], uncovered["sensitive_persons"]) == (4, 1)

    def alerts(processor: str) -> list[str]:
        r = api.get("/v1/alerts", params={"processor_id": processor}, headers=admin)
        return sorted(a["type"] for a in r.json()["items"]) if r.status_code == 200 else []

    wait_for(lambda: "export_mechanism_missing" in alerts("p-uncovered"), what="missing-mechanism alert", timeout=90)
    assert "export_threshold_crossed" in alerts("p-uncovered")
    wait_for(lambda: "export_threshold_crossed" in alerts("p-covered"), what="covered crossing alert", timeout=90)
    assert "export_mechanism_missing" not in alerts("p-covered")  # the standard contract on file covers it
    # an important-data processor: its yearly risk assessment (Decree 790 Art. 33) for last year is overdue
    important = {"profile": {"processor_id": "p-important", "important_data_catalogue_refs": ["GD-IDC-2025-7"]}}
    assert api.put("/v1/processors/p-important", json=important, headers=admin).status_code == 202
    wait_for(lambda: "risk_assessment_overdue" in alerts("p-important"), what="Art. 33 alert", timeout=90)
