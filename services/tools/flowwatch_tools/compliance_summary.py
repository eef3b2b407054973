"""What the demo prints after the findings: incidents and their obligations, alerts by type, and the export
ledger per processor — read back from Elasticsearch once the agents' outputs have settled."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from elasticsearch import Elasticsearch

from flowwatch.es_indices import alerts_pattern, incidents_index, ledger_index
from flowwatch.stored_form import INCIDENT, unpack


def _docs(es: Elasticsearch, index: str, size: int = 1000) -> list[dict[str, Any]]:
    try:
        es.indices.refresh(index=index, ignore_unavailable=True)
        resp = es.search(index=index, size=size, ignore_unavailable=True, allow_no_indices=True)
    except Exception:  # index not created yet
        return []
    return [h["_source"] for h in resp["hits"]["hits"]]


def collect(es: Elasticsearch, prefix: str, settle: float = 3.0, timeout: float = 60.0) -> dict[str, Any]:
    """Incidents, alerts and ledger records once their counts stop changing for ``settle`` seconds (or after
    ``timeout`` seconds). Returns ``{"incidents": [...], "alerts": [...], "ledger": [...]}`` (documents;
    incident records unpacked from their stored form, ``stored_form.INCIDENT``)."""
    deadline, last, stable_since = time.monotonic() + timeout, None, time.monotonic()
    while True:
        found = {"incidents": [unpack(d, INCIDENT) for d in _docs(es, incidents_index(prefix))],
                 "alerts": _docs(es, alerts_pattern(prefix), 5000), "ledger": _docs(es, ledger_index(prefix))}
        counts = tuple(len(v) for v in found.values())
        if counts != last:
            last, stable_since = counts, time.monotonic()
        if time.monotonic() - stable_since >= settle or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def obligation_counts(incidents: list[dict[str, Any]]) -> Counter[str]:
    """``obligation id/status`` → number of incidents (triggered obligations only)."""
    return Counter(f"{o['id']}/{o['status']}" for i in incidents for o in i["obligations"] if o["triggered"])


def alert_counts(alerts: list[dict[str, Any]]) -> Counter[str]:
    """``type (severity)`` → number of alerts."""
    return Counter(f"{a['type']} ({a['severity']})" for a in alerts)
