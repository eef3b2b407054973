"""How a ``Finding`` is stored in its findings index, and read back.

The per-entity detail of a finding (``entities``: type, category, counts, fields, masked samples, and
``entity_counts``) is never searched or aggregated on: filters and dashboards use ``entity_types``,
``categories`` and ``sensitive``. It is stored as two JSON strings, ``entities_json`` and
``entity_counts_json``, kept in ``_source`` only (mapping ``STORED_TEXT``).

Why strings rather than objects with ``enabled: false``: the embedded engine (noida-db 0.2.3) holds every
document as a tree in memory and walks it on every search. Measured on 11,111 real findings (one daily
index at 1,000,000 findings over 90 days; 2026-11-21, docs/engines.md): 17.1 KB resident per document and
121 ms per search with nested objects, 10.0 KB and 77 ms with the detail as strings. On a real
Elasticsearch the two forms cost the same (neither is indexed). Readers go through ``from_source``, which
also accepts the older object form.
"""

from __future__ import annotations

from typing import Any

import orjson

from flowwatch.models import Finding

PACKED = {"entities": "entities_json", "entity_counts": "entity_counts_json"}
"""Finding field → the field of the stored document that holds it as a JSON string."""


def pack(doc: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a finding given as its JSON-mode dict (``Finding.model_dump(mode="json")``): the
    ``PACKED`` fields become JSON strings. Returns a new dict; a field already absent is left absent."""
    out = dict(doc)
    for field, stored in PACKED.items():
        if field in out:
            out[stored] = orjson.dumps(out.pop(field)).decode()
    return out


def to_source(finding: Finding) -> dict[str, Any]:
    """The ``_source`` to index for ``finding`` (see ``pack``)."""
    return pack(finding.model_dump(mode="json"))


def unpack(src: dict[str, Any]) -> dict[str, Any]:
    """The finding's JSON-mode dict from a stored ``_source`` (either form). Returns a new dict."""
    out = dict(src)
    for field, stored in PACKED.items():
        if stored in out:
            value = out.pop(stored)
            out[field] = orjson.loads(value) if isinstance(value, str) else value
    return out


def from_source(src: dict[str, Any]) -> Finding:
    """The ``Finding`` stored as ``src``. Raises ``pydantic.ValidationError`` when it is not a valid one."""
    return Finding.model_validate(unpack(src))
