"""Constants of the wire contract that more than one service reads or writes: defined here once.

- Dead-letter headers: the detector writes them on every record of the dead-letter topic, the indexer turns
  ``fw-dead-letter`` into the indexed record, the API and the CLI read them back for a redrive.
- ``HISTORY_KEPT``: triage entries kept in an alert document, by the indexer's fold script and by the API's
  triage writes alike (the audit index keeps them all).
- ``MAX_PAGE_SIZE``: the largest ``size`` a list of the query API takes; clients page with cursors beyond it.
- ``LEGAL_TZ``/``CHINA``: the local time of PRC deadlines and counting windows (China Standard Time,
  UTC+08:00, no daylight saving time). A deadline "within 3 working days" ends at 24:00 of its last day in
  this zone (docs/law.md), and a counting window of the 2024 Provisions starts at 1 January 00:00 in it.
"""

from __future__ import annotations

from typing import Final
from zoneinfo import ZoneInfo

HEADER_REASON: Final = "fw-reason"
"""Why the original became a dead letter: a ``flowwatch.validation`` reason (``invalid_json``, ...)."""
HEADER_ERROR: Final = "fw-error"
"""The error message, at most ``MAX_ERROR_BYTES`` bytes of UTF-8."""
HEADER_DEAD_LETTER: Final = "fw-dead-letter"
"""The dead-letter record (JSON: id, reason, processor, original topic/partition/offset) the indexer stores."""
HEADER_TRUNCATED: Final = "fw-truncated"
"""Present when the original was cut to fit the producer's request size: its full size in bytes."""
HEADER_REDRIVE_OF: Final = "fw-redrive-of"
"""On a redriven event: the id of the dead letter it came from (``flowwatch.redrives``)."""
MAX_ERROR_BYTES: Final = 4_000

HISTORY_KEPT: Final = 50
"""Triage entries (acknowledge, assign, resolve, ...) kept in an alert document, newest last."""
MAX_PAGE_SIZE: Final = 500
"""Largest ``size`` (documents) of one page of a list of the query API."""

LEGAL_TZ: Final = "Asia/Shanghai"
"""IANA name of the local time of PRC deadlines (UTC+08:00)."""
CHINA: Final = ZoneInfo(LEGAL_TZ)
