"""The one gate every raw flow event passes: bytes → ``FlowEvent`` or a dead-letter reason.

Used by the detector (``flowwatch_detector.processing``) and the ingest API (``POST /v1/events``), so both
give the same verdict on the same bytes. On top of the v1 contract (``FlowEvent``), a document is refused
when it is not strict JSON (RFC 8259): ``NaN``/``Infinity`` literals and numbers that overflow a double
(``1e400``) are not JSON, and an object with the same key twice is ambiguous (parsers keep the first or the
last; ``processor.id`` could differ between the detector and whoever reads the original).

Reasons (``Rejected.reason``, the ``fw-reason`` header of a dead letter):

- ``too_large``: more than ``MAX_EVENT_BYTES`` bytes;
- ``invalid_json``: not JSON (broken UTF-8, truncated, nesting deeper than the parser's limit, NaN/Infinity,
  a number out of range);
- ``duplicate_key``: an object holds a key twice;
- ``unknown_schema_version``: an object whose ``schema_version`` is not one this release reads (``1.0``);
- ``schema_violation``: breaks the v1 contract otherwise (wrong types, missing fields, unknown fields,
  a timestamp outside ``TIMESTAMP_MIN``..``TIMESTAMP_MAX``, see ``flowwatch.models``).
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import ValidationError

from flowwatch.models import MAX_EVENT_BYTES, FlowEvent

REASONS = ("too_large", "invalid_json", "duplicate_key", "unknown_schema_version", "schema_violation",
           "key_mismatch", "processing_error")
"""Every dead-letter reason the detector writes (``key_mismatch`` and ``processing_error``: see
``flowwatch_detector.processing``)."""


class Rejected(ValueError):
    """A raw event that cannot become a ``FlowEvent``: ``reason`` (machine-readable) and ``error`` (detail)."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


class _NotStrict(ValueError):
    """Raised inside the strict-JSON pass (duplicate key, non-finite number)."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _NotStrict("duplicate_key", f"key {dup[:100]!r} appears more than once in one object")
    return doc


def _constant(name: str) -> float:
    raise _NotStrict("invalid_json", f"{name} is not a JSON number (RFC 8259)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotStrict("invalid_json", f"number {text[:40]} is out of range of a double")
    return value


def check_strict_json(raw: bytes) -> None:
    """Raise ``Rejected`` (``invalid_json`` or ``duplicate_key``) unless ``raw`` is strict JSON: no NaN or
    Infinity, no number that overflows a double, no key twice in one object. ``raw`` must already be
    well-formed UTF-8 JSON of bounded depth (``parse_event`` lets pydantic check that first)."""
    try:
        json.loads(raw, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
    except _NotStrict as exc:
        raise Rejected(exc.reason, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # pydantic accepted it; keep the verdict total anyway
        raise Rejected("invalid_json", str(exc)[:500]) from None


def summarise(exc: ValidationError, limit: int = 5) -> str:
    """``loc: message`` of the first ``limit`` errors of ``exc`` (never the offending values)."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(document)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def parse_event(raw: bytes) -> FlowEvent:
    """The ``FlowEvent`` of ``raw`` (a Kafka message value or one event of an ingest request).

    Raises ``Rejected`` with the reason (module doc) when it is not a valid v1 flow event.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise Rejected("too_large", f"{len(raw)} bytes > {MAX_EVENT_BYTES}")
    try:
        event = FlowEvent.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors()
        if any(e["type"] == "json_invalid" for e in errors):
            raise Rejected("invalid_json", summarise(exc)) from None
        check_strict_json(raw)  # a NaN or a key twice is the more precise reason (pydantic sees only values)
        if any(e["loc"] == ("schema_version",) and e["type"] == "literal_error" for e in errors):
            raise Rejected("unknown_schema_version", summarise(exc)) from None
        raise Rejected("schema_violation", summarise(exc)) from None
    check_strict_json(raw)
    return event
