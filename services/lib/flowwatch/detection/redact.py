"""Redaction of free text: every PI entity the default scanner finds is replaced by its masked form.

Used where text written by a platform (an incident's cause, measures taken, notes) is shown to someone who
must see masked data only — the regulator role of the query service (issue 6).
"""

from __future__ import annotations

from functools import cache

from flowwatch.detection.masking import mask
from flowwatch.detection.scanner import Scanner, default_scanner


@cache
def _scanner() -> Scanner:
    return default_scanner()


def redact(text: str | None) -> str | None:
    """``text`` with each detected PI value (all 20 entity types) replaced by ``mask(type, value)``; None
    stays None. Example: ``"联系人手机13812345678"`` → ``"联系人手机138****5678"``."""
    if not text:
        return text
    matches = _scanner().scan_text(text)
    if not matches:
        return text
    out: list[str] = []
    at = 0
    for m in matches:  # sorted by start, non-overlapping
        out.append(text[at : m.start])
        out.append(mask(m.type, m.value))
        at = m.end
    out.append(text[at:])
    return "".join(out)
