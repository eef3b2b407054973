"""Offline PI scan of a text or JSON file, in bounded memory (``flowwatch scan``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import IO, Any

import orjson

from flowwatch.detection.categories import default_table
from flowwatch.detection.masking import mask
from flowwatch.detection.minors import category_at
from flowwatch.detection.scanner import Scanner
from flowwatch.detection.types import Match

CHUNK_CHARS = 1 << 20
OVERLAP_CHARS = 512  # longer than any entity
CONTEXT_CARRY_CHARS = 128  # longer than the context window


def scan_text_stream(scanner: Scanner, stream: IO[str], chunk: int = CHUNK_CHARS) -> Iterator[Match]:
    """Scan a text stream chunk by chunk with an overlap; offsets are characters from the stream start.

    Memory is bounded by ``chunk + OVERLAP_CHARS`` characters whatever the input size.
    """
    base = 0  # character offset of buf[0]
    skip = 0  # matches starting before buf[skip] were reported with the previous chunk
    buf = ""
    while True:
        data = stream.read(chunk)
        buf += data
        final = not data
        limit = len(buf) if final else max(skip, len(buf) - OVERLAP_CHARS)
        for m in scanner.scan_text(buf):
            if skip <= m.start < limit:
                yield Match(m.type, m.start + base, m.end + base, m.score, m.value)
        if final:
            return
        # carry the unreported tail plus enough already-reported text to serve as context
        keep_from = max(0, limit - CONTEXT_CARRY_CHARS)
        base += keep_from
        skip = limit - keep_from
        buf = buf[keep_from:]


def scan_json_document(scanner: Scanner, doc: Any) -> Iterator[tuple[str | None, int | None, Match]]:
    """Scan a JSON document: a flow event (records + text), a list of records or one record."""
    if isinstance(doc, dict) and ("records" in doc or "text" in doc):
        records = doc.get("records") or []
        text = doc.get("text") or ""
    elif isinstance(doc, list):
        records, text = doc, ""
    elif isinstance(doc, dict):
        records, text = [doc], ""
    else:
        records, text = [], str(doc)
    for fm in scanner.scan_records(r for r in records if isinstance(r, dict)):
        yield fm.field, fm.record, fm.match
    for m in scanner.scan_text(text):
        yield None, None, m


def entity_json(
    match: Match, reveal: bool, field: str | None = None, record: int | None = None, on: dt.date | None = None
) -> bytes:
    """One output line: type, start, end, score, category, masked (and value only with ``reveal``).

    ``on``: the date ages are computed at (default today): birth dates and resident IDs of persons under
    14 on that date have the category ``minor_under_14`` (PIPL Art. 28, 31).
    """
    category = category_at(match, on or dt.date.today(), default_table())
    out: dict[str, Any] = {
        "type": match.type, "start": match.start, "end": match.end, "score": match.score,
        "category": category, "masked": mask(match.type, match.value),
    }
    if field is not None:
        out["field"] = field
        out["record"] = record
    if reveal:
        out["value"] = match.value
    return orjson.dumps(out)
