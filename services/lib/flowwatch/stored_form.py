"""How findings and incident records are stored in Elasticsearch, and read back.

Parts of a document that are never searched, filtered or aggregated on are stored as JSON strings (mapping
``STORED_TEXT``: kept in ``_source`` only) rather than as objects:

- a finding's per-entity detail, ``entities`` and ``entity_counts`` (filters and dashboards use
  ``entity_types``, ``categories`` and ``sensitive``);
- an incident record but the fields the incident filters and sorts use and its headline figures (the
  report, notice and timeline among the rest), and each obligation but its ``id``, ``status`` and ``due_at``
  (what the obligation filters use, in a nested query).

Why strings rather than objects with ``enabled: false``: the embedded engine (noida-db 0.2.3) holds every
document as a tree in memory and walks it on every search. Measured on 11,111 real findings (one daily
index at 1,000,000 findings over 90 days; 2026-11-21, docs/engines.md): 17.1 KB resident per document and
121 ms per search with the detail as objects, 10.0 KB and 77 ms with it as strings. On a real
Elasticsearch the two forms cost the same (neither is indexed). Readers go through ``unpack`` (or the
``*_from_source`` functions), which also accept the object form of older documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from flowwatch.es_indices import INCIDENT_MAPPINGS, OBLIGATION_MAPPINGS
from flowwatch.incidents.models import IncidentRecord
from flowwatch.models import Finding


@dataclass(frozen=True)
class PackSpec:
    """Which fields of a document are stored as JSON strings: ``fields`` maps a field to the stored field
    that holds it; with ``rest``, every field not in ``keep`` (nor in ``fields``) goes, as one JSON object,
    into the stored field ``rest``; ``items`` maps a list-of-objects field to the spec applied to each of
    its items."""

    fields: dict[str, str]
    items: dict[str, PackSpec] = field(default_factory=dict)
    keep: frozenset[str] = frozenset()
    rest: str | None = None


def _mapped(mapping: dict[str, Any], rest: str) -> frozenset[str]:
    """The fields a strict ``mapping`` maps, but ``rest``: what a record keeps as fields (one source of truth)."""
    return frozenset(mapping["properties"]) - {rest}


FINDING = PackSpec({"entities": "entities_json", "entity_counts": "entity_counts_json"})
OBLIGATION = PackSpec({}, keep=_mapped(OBLIGATION_MAPPINGS, "detail_json"), rest="detail_json")
"""An obligation keeps what the incident filters use (nested: id, status, due_at); the rest is one string."""
INCIDENT = PackSpec({}, items={"obligations": OBLIGATION}, rest="detail_json",
                    keep=_mapped(INCIDENT_MAPPINGS, "detail_json"))
"""An incident record keeps what the incident filters and sorts use and the headline figures; the rest
(report, notice, timeline, counts by basis, rule pack, …) is one string."""


def pack(doc: dict[str, Any], spec: PackSpec) -> dict[str, Any]:
    """The stored form of a document given as its JSON-mode dict (``model_dump(mode="json")``). Returns a
    new dict; a field absent from ``doc`` stays absent."""
    out = dict(doc)
    for name, stored in spec.fields.items():
        if name in out:
            out[stored] = orjson.dumps(out.pop(name)).decode()
    for name, item_spec in spec.items.items():
        if isinstance(out.get(name), list):
            out[name] = [pack(i, item_spec) if isinstance(i, dict) else i for i in out[name]]
    if spec.rest is not None:
        moved = {k: v for k, v in out.items() if k not in spec.keep and k not in spec.fields.values()}
        out = {k: v for k, v in out.items() if k not in moved}
        out[spec.rest] = orjson.dumps(moved).decode()
    return out


def unpack(src: dict[str, Any], spec: PackSpec) -> dict[str, Any]:
    """The JSON-mode dict of a stored ``_source`` (either form). Returns a new dict. Raises
    ``orjson.JSONDecodeError`` when a stored string is not JSON."""
    out = dict(src)
    if spec.rest is not None and isinstance(out.get(spec.rest), str):
        out.update(orjson.loads(out.pop(spec.rest)))
    for name, stored in spec.fields.items():
        if stored in out:
            value = out.pop(stored)
            out[name] = orjson.loads(value) if isinstance(value, str) else value
    for name, item_spec in spec.items.items():
        if isinstance(out.get(name), list):
            out[name] = [unpack(i, item_spec) if isinstance(i, dict) else i for i in out[name]]
    return out


def finding_source(finding: Finding) -> dict[str, Any]:
    """The ``_source`` to index for ``finding``."""
    return pack(finding.model_dump(mode="json"), FINDING)


def finding_from_source(src: dict[str, Any]) -> Finding:
    """The ``Finding`` stored as ``src``. Raises ``pydantic.ValidationError`` when it is not a valid one."""
    return Finding.model_validate(unpack(src, FINDING))


def incident_source(record: IncidentRecord) -> dict[str, Any]:
    """The ``_source`` to index for an incident ``record``."""
    return pack(record.model_dump(mode="json"), INCIDENT)


def incident_from_source(src: dict[str, Any]) -> IncidentRecord:
    """The ``IncidentRecord`` stored as ``src``. Raises ``pydantic.ValidationError`` when it is not one."""
    return IncidentRecord.model_validate(unpack(src, INCIDENT))
